#!/usr/bin/python3
"""Fleet-wide interleaving and confirmation bursts (issue 5 items 1 and 3),
against the real coordinator with hand-played agents (agent_link.py's peer).

  spread   8 agents in 4 regions: their CheckSets carry phases interval/8
           apart (interval/2 within a region); a newly connected agent's
           first CheckSet already counts it; a disconnect re-spreads the
           other seven to interval/7, and only agents whose phase changed get
           a new CheckSet.
  burst    an agent's first down result after up ones makes the coordinator
           send ProbeNow to its region peer and to one agent of each other
           region; a second turn within interval/2 sends nothing; counted in
           /metrics; a first up while down after interval/2 bursts again.
  cadence  a check down in two regions goes to its incident_interval in the
           agents' CheckSets, and back to its interval once it is up again.

usage: interleave.py BIN_DIR TEST_NAME
"""
import os
import select
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_link import (ENVELOPE, Coordinator, decode, field_bytes,  # noqa: E402
                        field_varint, frame, hello)
from harness import run_coordinator_test, sample_values  # noqa: E402

EPOCH = 12345


class Agent:
    """One hand-played agent: Hello, every frame it got, batches."""

    def __init__(self, c, agent_id, region):
        self.id, self.region = agent_id, region
        self.sock = c.connect()
        self.sock.sendall(frame(hello(agent_id, region=region)))
        self.seq = 1
        self.buf = b""
        self.frames = []
        self.checksets = []  # [{name: {"id", "interval_ms", "phase_ms"}}] in arrival order
        self.probe_now = []  # [[check ids]]

    def feed(self):
        """Takes what the socket has (it is readable): frames into
        self.frames, heartbeats answered like an agent does."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("%s: the coordinator closed the connection" % self.id)
        self.buf += chunk
        while len(self.buf) >= 4:
            n = struct.unpack(">I", self.buf[:4])[0]
            if len(self.buf) < 4 + n:
                break
            env = decode(self.buf[4:4 + n])
            self.buf = self.buf[4 + n:]
            for num, vals in env.items():
                kind, f = ENVELOPE.get(num, str(num)), decode(vals[0])
                self.frames.append((kind, f))
                if kind == "heartbeat" and not f.get(2, [0])[0]:
                    hb = field_varint(1, int(time.time() * 1e6)) + field_varint(2, f[1][0])
                    self.sock.sendall(frame(field_bytes(4, hb)))
                elif kind == "check_set":
                    cs = {}
                    for ch in f.get(2, []):
                        d = decode(ch)
                        cs[d[2][0].decode()] = {"id": d[1][0], "interval_ms": d.get(7, [0])[0],
                                                "phase_ms": d.get(9, [0])[0]}
                    self.checksets.append(cs)
                elif kind == "probe_now":
                    ids = []
                    for v in f.get(1, []):
                        ids += [v] if isinstance(v, int) else unpack_packed(v)
                    self.probe_now.append(ids)

    def latest(self, check="shop-web"):
        return self.checksets[-1][check]

    def send(self, check_id, outcomes, spacing_us=100000):
        """Results ending now, oldest first; outcomes: 1 up, 3 down."""
        now = int(time.time() * 1e6)
        n = len(outcomes)
        results = b"".join(
            field_bytes(3, field_varint(1, check_id) + field_varint(2, now - (n - i) * spacing_us) +
                        field_varint(7, 20000) + field_varint(10, o) +
                        field_varint(11, 7 if o == 3 else 0))
            for i, o in enumerate(outcomes))
        batch = field_varint(1, EPOCH) + field_varint(2, self.seq) + results + field_varint(4, now)
        self.seq += n
        self.sock.sendall(frame(field_bytes(2, batch)))

    def keepalive(self):
        """An empty batch moving its watermark, like a live agent."""
        batch = field_varint(1, EPOCH) + field_varint(2, self.seq) + \
            field_varint(4, int(time.time() * 1e6))
        self.sock.sendall(frame(field_bytes(2, batch)))


def unpack_packed(b):
    out, i = [], 0
    while i < len(b):
        shift = n = 0
        while True:
            x = b[i]
            i += 1
            n |= (x & 0x7F) << shift
            shift += 7
            if not x & 0x80:
                break
        out.append(n)
    return out


def pump_all(agents, seconds):
    """Reads from every agent for seconds (select; no fixed sleeps)."""
    end = time.time() + seconds
    while True:
        left = end - time.time()
        if left <= 0:
            return
        ready, _, _ = select.select([a.sock for a in agents], [], [], left)
        for a in agents:
            if a.sock in ready:
                a.feed()


def gaps(phases, iv):
    s = sorted(phases)
    return [(s[(i + 1) % len(s)] - s[i]) % iv or iv for i in range(len(s))]


class Coord(Coordinator):
    def __init__(self, bindir, interval="8s", timeout="1s", extra_ep=""):
        self.ep = (interval, timeout, extra_ep)
        Coordinator.__init__(self, bindir)

    def write_config(self, checks, extra=""):
        interval, timeout, extra_ep = getattr(self, "ep", ("8s", "1s", ""))
        eps = "".join('      - {check: %s, kind: web, url: "http://127.0.0.1:9/%s", '
                      'interval: %s, timeout: %s%s}\n' % (n, n, interval, timeout, extra_ep)
                      for n in checks)
        with open(self.cfg, "w") as f:
            f.write("""listen: {agents: "127.0.0.1:0", http: "127.0.0.1:0"}
store: %s/vantage.db
heartbeat: 1s
idle_timeout: 5s
max_frame: 65536
detection: {fail_threshold: 2, recover_threshold: 2, min_regions: 2, merge_gap: 10s, lateness: 2s}
%s%sservices:
  - name: shop
    endpoints:
%s""" % (self.dir, self.transport, extra, eps))


FLEET = [("ap-1", "ap"), ("ap-2", "ap"), ("eu-1", "eu"), ("eu-2", "eu"),
         ("use-1", "us-east"), ("use-2", "us-east"), ("usw-1", "us-west"), ("usw-2", "us-west")]


def t_spread(c):
    iv = 8000
    agents = []
    for aid, reg in FLEET:
        agents.append(Agent(c, aid, reg))
        pump_all(agents, 0.1)
    last = agents[-1]
    assert last.checksets, "the last agent got no CheckSet"
    first_phase = last.checksets[0]["shop-web"]["phase_ms"]
    pump_all(agents, 1.0)  # past the 200 ms debounce
    ph = {a.id: a.latest()["phase_ms"] for a in agents}
    for a in agents:
        assert a.latest()["interval_ms"] == iv, a.latest()
    g = gaps(ph.values(), iv)
    print("8 agents, 4 regions: phases %s, gaps %s" % (sorted(ph.values()), g))
    assert all(x == iv // 8 for x in g), "not evenly spread: gaps %r" % g
    for r in ("ap", "eu", "us-east", "us-west"):
        pr = [ph[a] for a, reg in FLEET if reg == r]
        assert gaps(pr, iv) == [iv // 2, iv // 2], "region %s: %r" % (r, pr)
    assert first_phase == ph[last.id], \
        "the new agent's first CheckSet did not count it: %d, then %d" % (first_phase, ph[last.id])
    # A disconnect: the other seven re-spread to interval/7.
    counts = {a.id: len(a.checksets) for a in agents}
    gone = agents.pop(5)  # use-2
    gone.sock.close()
    pump_all(agents, 1.5)
    ph2 = {a.id: a.latest()["phase_ms"] for a in agents}
    g2 = gaps(ph2.values(), iv)
    print("after use-2 left: phases %s, gaps %s" % (sorted(ph2.values()), g2))
    assert all(abs(x - iv / 7) <= 1 for x in g2), "not re-spread: gaps %r" % g2
    for a in agents:
        got = len(a.checksets) - counts[a.id]
        changed = ph2[a.id] != ph[a.id]
        assert got == (1 if changed else 0), \
            "%s: %d new CheckSets, phase %d -> %d" % (a.id, got, ph[a.id], ph2[a.id])
    for a in agents:
        a.sock.close()


def metric(c, name, **labels):
    v = sample_values(c.metrics(), name, **labels)
    return v[0] if v else None


def t_burst(c):
    # interval 4 s: one burst per check per 2 s, one ProbeNow per agent per 1 s
    fleet = [("use-1", "us-east"), ("use-2", "us-east"), ("use-3", "us-east"),
             ("eu-1", "eu"), ("eu-2", "eu"), ("ap-1", "ap")]
    agents = [Agent(c, aid, reg) for aid, reg in fleet]
    pump_all(agents, 0.6)
    origin = agents[0]
    cid = origin.latest()["id"]
    origin.send(cid, [1, 1, 1])
    pump_all(agents, 0.3)
    assert not any(a.probe_now for a in agents), "ProbeNow without a turn"
    t0 = time.time()
    origin.send(cid, [3])  # the first down after up ones
    pump_all(agents, 0.5)
    got = {a.id: a.probe_now for a in agents if a.probe_now}
    print("first down of use-1: ProbeNow to %s within 0.5 s" % sorted(got))
    assert not origin.probe_now, "the failing agent was asked itself"
    assert got.get("use-2") == [[cid]] and got.get("use-3") == [[cid]], got
    assert len([a for a in ("eu-1", "eu-2") if a in got]) == 1, "not one agent of eu: %r" % got
    assert got.get("ap-1") == [[cid]], got
    assert metric(c, "vantage_check_bursts_total", check="shop-web") == 1
    assert metric(c, "vantage_probe_now_sent_total") == 4
    # Another turn (up, then down) within interval/2: no burst.
    for a in agents:
        a.probe_now = []
    origin.send(cid, [1])
    pump_all(agents, 0.2)
    origin.send(cid, [3])
    pump_all(agents, 0.3)
    assert not any(a.probe_now for a in agents), "burst within interval/2"
    assert metric(c, "vantage_check_bursts_total", check="shop-web") == 1
    # After interval/2: its first up while down bursts again.
    while time.time() < t0 + 2.1:
        pump_all(agents, 0.1)
    origin.send(cid, [1])
    pump_all(agents, 0.5)
    got = {a.id: a.probe_now for a in agents if a.probe_now}
    assert "use-2" in got and "use-3" in got, "no burst on the first up while down: %r" % got
    assert metric(c, "vantage_check_bursts_total", check="shop-web") == 2
    assert metric(c, "vantage_probe_now_sent_total") == 8
    # A replayed (old) turn is not confirmed.
    for a in agents:
        a.probe_now = []
    while time.time() < t0 + 4.3:
        pump_all(agents, 0.1)
    now = int(time.time() * 1e6)
    r = field_bytes(3, field_varint(1, cid) + field_varint(2, now - 30 * 1000000) +
                    field_varint(7, 20000) + field_varint(10, 3) + field_varint(11, 7))
    origin.sock.sendall(frame(field_bytes(2, field_varint(1, EPOCH) + field_varint(2, origin.seq) +
                                          r + field_varint(4, now))))
    origin.seq += 1
    pump_all(agents, 0.5)
    assert not any(a.probe_now for a in agents), "an old result made a burst"
    for a in agents:
        a.sock.close()


def t_cadence(c):
    # interval 2 s, timeout 500 ms, incident_interval 1 s
    fleet = [("use-1", "us-east"), ("use-2", "us-east"), ("eu-1", "eu"), ("eu-2", "eu")]
    agents = [Agent(c, aid, reg) for aid, reg in fleet]
    pump_all(agents, 0.6)
    cid = agents[0].latest()["id"]
    assert all(a.latest()["interval_ms"] == 2000 for a in agents)
    deadline = time.time() + 20
    while time.time() < deadline and not all(a.latest()["interval_ms"] == 1000 for a in agents):
        for a in agents:
            a.send(cid, [3, 3], 200000)
        pump_all(agents, 0.4)
    assert all(a.latest()["interval_ms"] == 1000 for a in agents), \
        "no incident cadence: %r" % [a.latest() for a in agents]
    ph = sorted(a.latest()["phase_ms"] for a in agents)
    print("down: interval 1000 ms, phases %s" % ph)
    assert gaps(ph, 1000) == [250] * 4, ph
    deadline = time.time() + 25
    while time.time() < deadline and not all(a.latest()["interval_ms"] == 2000 for a in agents):
        for a in agents:
            a.send(cid, [1, 1], 200000)
        pump_all(agents, 0.4)
    assert all(a.latest()["interval_ms"] == 2000 for a in agents), \
        "not back to the interval: %r" % [a.latest() for a in agents]
    for a in agents:
        a.sock.close()


TESTS = {
    "spread": (t_spread, {}),
    "burst": (t_burst, {"interval": "4s", "timeout": "1s"}),
    "cadence": (t_cadence, {"interval": "2s", "timeout": "500ms",
                            "extra_ep": ", incident_interval: 1s"}),
}


def main():
    bindir, name = sys.argv[1], sys.argv[2]
    fn, kw = TESTS[name]
    run_coordinator_test(Coord(bindir, **kw), fn, name)


if __name__ == "__main__":
    main()
