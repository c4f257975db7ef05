#!/usr/bin/python3
"""Integration tests of the coordinator's agent listener with hostile and
broken peers, over real loopback sockets against the real daemon.

Each test starts its own coordinator (port 0, fresh store), plays a peer by
hand (frames and protobuf encoded here, independently of the C code) and
checks what the coordinator answers, that it closes the bad connection, and
that it keeps serving a well-behaved agent afterwards.

usage: agent_link.py BIN_DIR TEST_NAME
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from harness import run_coordinator_test

# ---- a minimal protobuf encoder/decoder for the messages used here ----


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def field_double(num, v):
    return varint((num << 3) | 1) + struct.pack("<d", v)


def hello(agent_id, version=1, region="us-east"):
    body = (field_varint(1, version) + field_bytes(2, agent_id) + field_bytes(3, region) +
            field_bytes(4, "US") + field_double(5, 40.7) + field_double(6, -74.0) +
            field_bytes(7, "test") + field_varint(8, 12345))
    return field_bytes(1, body)  # Envelope.hello = 1


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def decode(buf):
    """Decodes one message into {field: [values]} (bytes for length-delimited)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


ENVELOPE = {1: "hello", 2: "result_batch", 3: "dropped", 4: "heartbeat", 5: "welcome",
            6: "check_set", 7: "ack", 8: "probe_now", 9: "error"}


def read_frames(sock, deadline, keepalive=False):
    """Reads frames until the peer closes or the deadline; returns
    [(kind, fields)] and whether the peer closed. With keepalive, answers
    the coordinator's heartbeats as an agent does."""
    data, frames = b"", []
    sock.settimeout(0.2)
    closed = False
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
        while len(data) >= 4:
            n = struct.unpack(">I", data[:4])[0]
            if len(data) < 4 + n:
                break
            env = decode(data[4:4 + n])
            data = data[4 + n:]
            for num, vals in env.items():
                fields = decode(vals[0])
                frames.append((ENVELOPE.get(num, str(num)), fields))
                if keepalive and num == 4 and not fields.get(2, [0])[0]:
                    hb = field_varint(1, int(time.time() * 1e6)) + field_varint(2, fields[1][0])
                    sock.sendall(frame(field_bytes(4, hb)))
    return frames, closed


# ---- the coordinator under test ----


class Coordinator:
    # The agent link's transport; tls_link.py overrides it with a tls: section.
    transport = "plaintext: true\n"

    def __init__(self, bindir, registry=None):
        self.bindir = bindir
        self.registry = registry
        self.dir = tempfile.mkdtemp(prefix="vtg-link-")
        self.cfg = os.path.join(self.dir, "coordinator.yaml")
        self.write_config(["shop-web"])
        self.log = open(os.path.join(self.dir, "coordinator.log"), "w+")
        self.start()

    def write_config(self, checks, extra=""):
        reg = ""
        if self.registry:
            reg = "agents:\n" + "".join(
                "  - {id: %s, region: us-east, country: US, lat: 40.7, lon: -74.0}\n" % a
                for a in self.registry)
        eps = "".join('      - {check: %s, kind: web, url: "http://127.0.0.1:9/%s", interval: 1s, '
                      'timeout: 500ms}\n' % (n, n) for n in checks)
        with open(self.cfg, "w") as f:
            f.write("""listen: {agents: "127.0.0.1:0", http: "127.0.0.1:0"}
store: %s/vantage.db
heartbeat: 1s
idle_timeout: 3s
max_frame: 65536
detection: {fail_threshold: 2, recover_threshold: 2, min_regions: 2, merge_gap: 10s}
%s%s%sservices:
  - name: shop
    endpoints:
%s""" % (self.dir, self.transport, extra, reg, eps))

    def start(self):
        self.log.seek(0)
        self.log.truncate()
        self.proc = subprocess.Popen([os.path.join(self.bindir, "vantage-coordinator"), "serve",
                                      "--config", self.cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.agent_port = self.http_port = None
        deadline = time.time() + 20
        while time.time() < deadline and (self.agent_port is None or self.http_port is None):
            text = open(self.log.name).read()
            m = re.search(r"agents listening on [\d.]+:(\d+)", text)
            if m:
                self.agent_port = int(m.group(1))
            m = re.search(r"http listening on [\d.]+:(\d+)", text)
            if m:
                self.http_port = int(m.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.agent_port is None or self.http_port is None:
            raise SystemExit("coordinator did not start:\n" + open(self.log.name).read())

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.agent_port), timeout=5)

    def get(self, path):
        import json
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path),
                                    timeout=5) as r:
            return json.loads(r.read())

    def metrics(self):
        """The text of GET /metrics."""
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                    timeout=5) as r:
            return r.read().decode()

    def log_text(self):
        return open(self.log.name).read()

    def stop(self):
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = -9
        else:
            rc = self.proc.returncode
        return alive, rc


def expect_error_and_close(c, payload_bytes, pattern):
    s = c.connect()
    s.sendall(payload_bytes)
    frames, closed = read_frames(s, time.time() + 5)
    s.close()
    errors = [f for k, f in frames if k == "error"]
    assert errors, "no Error frame, got %r" % [k for k, _ in frames]
    reason = errors[0].get(2, [b""])[0].decode()
    assert re.search(pattern, reason, re.I), "reason %r does not match %r" % (reason, pattern)
    assert closed, "connection not closed after the Error"
    return reason


def expect_welcome(c, agent_id):
    s = c.connect()
    s.sendall(frame(hello(agent_id)))
    frames, _ = read_frames(s, time.time() + 2)
    kinds = [k for k, _ in frames]
    assert "welcome" in kinds and "check_set" in kinds, "good agent got %r" % kinds
    checks = [f for k, f in frames if k == "check_set"][0].get(2, [])
    assert len(checks) == 1, "expected one check, got %d" % len(checks)
    name = decode(checks[0])[2][0].decode()
    assert name == "shop-web", name
    return s


def t_unknown_agent(c):
    reason = expect_error_and_close(c, frame(hello("intruder-9")), r"unknown agent 'intruder-9'")
    assert "intruder-9" in c.log_text() and "127.0.0.1" in c.log_text(), "refusal not logged with peer"
    expect_welcome(c, "us-east-1").close()
    return reason


def t_frame_too_large(c):
    expect_error_and_close(c, struct.pack(">I", 10 * 1024 * 1024) + b"x" * 100,
                           r"10485760.*65536|exceeds")
    expect_welcome(c, "us-east-1").close()


def t_version_mismatch(c):
    expect_error_and_close(c, frame(hello("us-east-1", version=99)), r"99")
    expect_welcome(c, "us-east-1").close()


def t_garbage(c):
    expect_error_and_close(c, frame(b"\xff\xff\xff\xff\xff\x01\x02"), r".")
    expect_welcome(c, "us-east-1").close()


def t_result_before_hello(c):
    batch = field_bytes(2, field_varint(2, 1))  # Envelope.result_batch{first_seq: 1}
    expect_error_and_close(c, frame(batch), r"hello")
    expect_welcome(c, "us-east-1").close()


def t_replaces_old_connection(c):
    s1 = expect_welcome(c, "us-east-1")
    s2 = expect_welcome(c, "us-east-1")
    frames, closed = read_frames(s1, time.time() + 3)
    assert closed, "the older connection of a reconnecting agent was not closed"
    s2.close()


def t_idle_timeout(c):
    s = c.connect()
    s.sendall(frame(hello("us-east-1")))
    # never answer heartbeats: the coordinator must close within idle_timeout (3 s) + slack
    t0 = time.time()
    frames, closed = read_frames(s, time.time() + 8)
    assert closed, "idle connection was not closed"
    assert time.time() - t0 >= 2.5, "closed too early"
    assert any(k == "heartbeat" for k, _ in frames), "no heartbeat from the coordinator"


BAD_CONFIGS = [
    # (config text, expected message pattern)
    ("listen: {agents: 127.0.0.1:0}\nbogus: 1\nservices: []\n", r":2:1: .*unknown key 'bogus'"),
    ("services:\n  - name: x\n    endpoints:\n      - {check: a, kind: web, url: 'ftp://x/', interval: 1s, timeout: 500ms}\n",
     r":4:\d+: .*url"),
    ("services:\n  - name: x\n    endpoints:\n      - {check: a, kind: web, url: 'http://x/', interval: soon, timeout: 500ms}\n",
     r":4:\d+: .*duration"),
    ("detection: {min_regions: 1}\nservices: []\n", r":1:\d+: .*min_regions"),
    ("services:\n  - name: x\n    endpoints:\n      - {check: a, kind: web, url: 'http://x/', interval: 1s, timeout: 500ms}\n"
     "      - {check: a, kind: web, url: 'http://y/', interval: 1s, timeout: 500ms}\n", r":5:\d+: .*duplicate"),
    ("services: [\n", r":\d+:\d+: "),
    # the agent link: mutual TLS or an explicit plaintext, exactly one
    ("services: []\n", r": neither 'tls: .*nor 'plaintext: true'"),
    ("plaintext: true\ntls: {cert: a.pem, key: a.key, ca: ca.pem}\nservices: []\n",
     r":1:\d+: .*exclude each other"),
    ("plaintext: false\nservices: []\n", r":1:\d+: .*'plaintext' may only be true"),
    ("tls: {cert: /nonexistent/a.pem, key: a.key, ca: ca.pem}\nservices: []\n",
     r":1:\d+: .*cannot read tls cert '/nonexistent/a.pem'"),
    ("tls: {cert: /dev/null, key: /dev/null}\nservices: []\n", r":1:\d+: .*ca"),
]


def t_config_errors(bindir):
    d = tempfile.mkdtemp(prefix="vtg-cfg-")
    for i, (text, pattern) in enumerate(BAD_CONFIGS):
        path = os.path.join(d, "bad%d.yaml" % i)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([os.path.join(bindir, "vantage-coordinator"), "serve", "--config", path],
                           capture_output=True, text=True, timeout=10)
        out = p.stdout + p.stderr
        assert p.returncode == 2, "config %d: exit %d, want 2:\n%s" % (i, p.returncode, out)
        assert re.search(re.escape(path) + pattern, out, re.I), \
            "config %d: message does not match %r:\n%s" % (i, pattern, out)


def check_names(frames):
    sets = [f for k, f in frames if k == "check_set"]
    assert sets, "no CheckSet, got %r" % [k for k, _ in frames]
    return sorted(decode(ch)[2][0].decode() for ch in sets[-1].get(2, []))


def t_sighup_reload(c):
    s = c.connect()
    s.sendall(frame(hello("us-east-1")))
    frames, _ = read_frames(s, time.time() + 1.5, True)
    assert check_names(frames) == ["shop-web"], check_names(frames)
    # a broken config is refused and the old one kept: no new CheckSet
    good = open(c.cfg).read()
    with open(c.cfg, "w") as f:
        f.write(good + "bogus: 1\n")
    c.proc.send_signal(signal.SIGHUP)
    frames, _ = read_frames(s, time.time() + 1.5, True)
    assert not [k for k, _ in frames if k == "check_set"], "a bad config was applied"
    assert re.search(re.escape(c.cfg) + r":\d+:1: .*unknown key 'bogus'", c.log_text()), \
        "the refused reload was not logged with file:line:col"
    # a good one is applied and pushed
    c.write_config(["shop-web", "shop-api"])
    c.proc.send_signal(signal.SIGHUP)
    frames, _ = read_frames(s, time.time() + 2, True)
    assert check_names(frames) == ["shop-api", "shop-web"], check_names(frames)
    names = sorted(ch["name"] for ch in c.get("/api/v1/checks"))
    assert names == ["shop-api", "shop-web"], names
    s.close()


def result(check_id, start_us, down, cls):
    return (field_varint(1, check_id) + field_varint(2, start_us) + field_varint(7, 20000) +
            field_varint(10, 3 if down else 1) + field_varint(11, cls if down else 0))


def t_incident_survives_restart(c):
    """Two one-agent regions report a check down for 15 s: an incident; a
    restarted coordinator on the same store still lists it, same id."""
    socks = []
    for agent, region in (("us-east-1", "us-east"), ("eu-west-1", "eu-west")):
        s = c.connect()
        s.sendall(frame(hello(agent, region=region)))
        frames, _ = read_frames(s, time.time() + 1)
        ids = [decode(ch)[1][0] for ch in
               [f for k, f in frames if k == "check_set"][0].get(2, [])]
        socks.append((s, ids[0]))
    now = int(time.time() * 1e6)
    for s, cid in socks:
        results = b"".join(field_bytes(3, result(cid, now - (20 - i) * 1000000, i >= 5, 7))
                           for i in range(20))
        batch = field_varint(1, 12345) + field_varint(2, 1) + results + field_varint(4, now)
        s.sendall(frame(field_bytes(2, batch)))
    deadline, incs = time.time() + 15, []
    while time.time() < deadline and not incs:
        # keep the watermark moving like a live agent would
        for s, _ in socks:
            empty = field_varint(1, 12345) + field_varint(2, 21) + \
                field_varint(4, int(time.time() * 1e6))
            s.sendall(frame(field_bytes(2, empty)))
        time.sleep(0.3)
        incs = c.get("/api/v1/outages")
    assert len(incs) == 1, "expected one incident, got %r" % incs
    inc = incs[0]
    assert inc["check"] == "shop-web" and inc["scope"] in ("global", "multi_region"), inc
    assert sorted(r["region"] for r in inc["regions"]) == ["eu-west", "us-east"], inc
    onset_err = abs(time.mktime(time.strptime(inc["onset"][:19], "%Y-%m-%dT%H:%M:%S"))
                    - time.timezone - (now / 1e6 - 15))
    assert onset_err < 1.5, "onset %s is %.1f s off" % (inc["onset"], onset_err)
    for s, _ in socks:
        s.close()
    alive, rc = c.stop()
    assert alive and rc == 0, "coordinator stop: alive=%r rc=%r" % (alive, rc)
    c.start()
    after = c.get("/api/v1/outages")
    assert [i["id"] for i in after] == [inc["id"]], "after restart: %r" % after
    assert after[0]["onset"] == inc["onset"], (after[0]["onset"], inc["onset"])


TESTS = {
    "unknown_agent": (t_unknown_agent, ["us-east-1"]),
    "frame_too_large": (t_frame_too_large, None),
    "version_mismatch": (t_version_mismatch, None),
    "garbage": (t_garbage, None),
    "result_before_hello": (t_result_before_hello, None),
    "replaces_old_connection": (t_replaces_old_connection, None),
    "idle_timeout": (t_idle_timeout, None),
    "sighup_reload": (t_sighup_reload, None),
    "incident_survives_restart": (t_incident_survives_restart, None),
}


def main():
    bindir, name = sys.argv[1], sys.argv[2]
    if name == "config_errors":
        t_config_errors(bindir)
        print("ok", name)
        return
    fn, registry = TESTS[name]
    run_coordinator_test(Coordinator(bindir, registry), fn, name)


if __name__ == "__main__":
    main()
