#!/usr/bin/python3
"""The coordinator's per (check, region) result families across SIGHUP
reloads, against the real daemon with hand-played agents (agent_link.py's
peer): results counted by outcome and error class, phase histograms, the
certificate expiry gauge; a removed check's series disappear, a check added
back starts from zero, a region first seen after start gets its own series.
The last scrape goes through `promtool check metrics` when it is installed.

usage: metrics_reload.py BIN_DIR
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_link import (Coordinator, decode, field_bytes, field_varint,  # noqa: E402
                        frame, hello, read_frames)
from harness import sample_values  # noqa: E402

EPOCH = 12345
CERT = 1900000000


class Agent:
    """One hand-played agent: Hello, the CheckSet's ids by name, batches."""

    def __init__(self, c, agent_id, region):
        self.sock = c.connect()
        self.sock.sendall(frame(hello(agent_id, region=region)))
        self.seq = 1
        self.ids = {}
        self.pump(1.0)

    def pump(self, seconds):
        """Reads (answering heartbeats) for a while; keeps the latest check ids."""
        frames, _ = read_frames(self.sock, time.time() + seconds, True)
        sets = [f for k, f in frames if k == "check_set"]
        if sets:
            self.ids = {decode(ch)[2][0].decode(): decode(ch)[1][0] for ch in sets[-1].get(2, [])}
        return frames

    def send(self, check, n, down=False, cls=0, cert=0):
        now = int(time.time() * 1e6)
        results = b""
        for i in range(n):
            r = (field_varint(1, self.ids[check]) + field_varint(2, now - (n - i) * 100000) +
                 field_varint(3, 1500) + field_varint(4, 2500) + field_varint(7, 30000) +
                 field_varint(10, 3 if down else 1) + field_varint(11, cls if down else 0))
            if cert:
                r += field_varint(13, cert)
            results += field_bytes(3, r)
        batch = field_varint(1, EPOCH) + field_varint(2, self.seq) + results + field_varint(4, now)
        self.seq += n
        self.sock.sendall(frame(field_bytes(2, batch)))


def value(text, name, **labels):
    """The sample of name whose labels include these, or None."""
    found = sample_values(text, name, **labels)
    return found[0] if found else None


def wait_for(c, agents, what, cond):
    deadline, text = time.time() + 10, ""
    while time.time() < deadline:
        text = c.metrics()
        if cond(text):
            return text
        for a in agents:
            a.pump(0.2)
    raise AssertionError("timed out waiting for %s; last scrape:\n%s" % (what, text))


def reload(c, agents, checks):
    c.write_config(checks)
    c.proc.send_signal(signal.SIGHUP)
    for a in agents:
        deadline = time.time() + 5
        while sorted(a.ids) != sorted(checks) and time.time() < deadline:
            a.pump(0.3)
        assert sorted(a.ids) == sorted(checks), "agent has %r after reload" % sorted(a.ids)


def run(c):
    east = Agent(c, "us-east-1", "us-east")
    c.write_config(["shop-web", "shop-api"])
    reload(c, [east], ["shop-web", "shop-api"])

    east.send("shop-web", 3, cert=CERT)
    east.send("shop-api", 2, down=True, cls=2)
    RT = "vantage_check_results_total"
    PH = "vantage_check_phase_duration_seconds_count"
    text = wait_for(c, [east], "the first results", lambda t: value(
        t, RT, check="shop-api", region="us-east", outcome="down",
        error_class="connect_refused") == 2)
    assert value(text, RT, check="shop-web", region="us-east", outcome="up",
                 error_class="none") == 3, text
    assert value(text, RT, check="shop-api", region="us-east", outcome="up",
                 error_class="none") == 0, text
    assert value(text, PH, check="shop-web", region="us-east", phase="connect") == 3, text
    assert value(text, PH, check="shop-api", region="us-east", phase="total") == 2, text
    assert value(text, PH, check="shop-web", region="us-east", phase="tls") is None, text
    assert value(text, "vantage_check_tls_cert_expiry_timestamp_seconds",
                 check="shop-web") == CERT, text
    assert value(text, "vantage_check_tls_cert_expiry_timestamp_seconds",
                 check="shop-api") is None, text

    # shop-api goes, shop-new comes: the removed check's series disappear.
    reload(c, [east], ["shop-web", "shop-new"])
    text = c.metrics()
    assert 'check="shop-api"' not in text, "shop-api still exported after removal:\n" + text
    assert value(text, RT, check="shop-web", region="us-east", outcome="up",
                 error_class="none") == 3, text

    # A region first seen now.
    west = Agent(c, "eu-west-1", "eu-west")
    west.send("shop-new", 1)
    text = wait_for(c, [east, west], "eu-west's result", lambda t: value(
        t, RT, check="shop-new", region="eu-west", outcome="up", error_class="none") == 1)
    assert value(text, PH, check="shop-new", region="eu-west", phase="total") == 1, text

    # shop-api back: it starts from zero.
    reload(c, [east, west], ["shop-web", "shop-new", "shop-api"])
    east.send("shop-api", 1)
    text = wait_for(c, [east, west], "shop-api's new result", lambda t: value(
        t, RT, check="shop-api", region="us-east", outcome="up", error_class="none") == 1)
    assert value(text, RT, check="shop-api", region="us-east", outcome="down",
                 error_class="connect_refused") is None, text
    assert value(text, PH, check="shop-api", region="us-east", phase="total") == 1, text

    promtool = shutil.which("promtool")
    if promtool:
        pt = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=30)
        assert pt.returncode == 0 and not pt.stdout.strip() and not pt.stderr.strip(), \
            "promtool check metrics (exit %d): %s%s" % (pt.returncode, pt.stdout.decode(),
                                                        pt.stderr.decode())
    for a in (east, west):
        a.sock.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    c = Coordinator(sys.argv[1])
    ok = False
    try:
        run(c)
        ok = True
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr)
    finally:
        alive, rc = c.stop()
        if not alive or rc != 0:
            print("coordinator %s (exit %r)" % ("died" if not alive else "stopped badly", rc),
                  file=sys.stderr)
            ok = False
        if not ok:
            print(c.log_text()[-4000:], file=sys.stderr)
        else:
            shutil.rmtree(c.dir, ignore_errors=True)
    print("ok" if ok else "FAIL", "metrics_reload")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
