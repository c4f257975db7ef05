#!/usr/bin/python3
"""Unknown is not up (issue 5 item 6), against the real coordinator.

Two one-agent regions (us-east, eu-west) report shop-web up every second
(hand-played agents, agent_link.py's encoder). eu-west's agent is then
killed (its connection closed, nothing spooled) until a whole minute has
gone by without it, and comes back. Checked:
- while it is gone: /api/v1/status says eu-west is unknown (us-east up),
  /metrics has no vantage_region_up for it and its state set says unknown;
- after: /api/v1/history shows the minute it was gone as unknown with
  coverage 0 (us-east: up, coverage 1), the minute it went away partly
  covered; /api/v1/uptime gives eu-west uptime 1 (the unknown minute is
  neither up nor down) with at least a minute less known time and a lower
  coverage than us-east; /metrics has vantage_region_uptime_ratio and
  vantage_region_coverage_ratio saying the same (promtool clean when
  installed); `status` prints "100% (cov N%)"; the status page states
  uptime and coverage next to the strip.
Takes 1-2 minutes (it waits for minute boundaries).

usage: coverage.py BIN_DIR
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from agent_link import Coordinator, decode, field_bytes, field_varint, frame, hello, read_frames
from harness import promtool_check_metrics, run_coordinator_test, sample_values

EPOCH = 12345  # agent_link.hello's spool epoch


def result(check_id, start_us):
    """An up result (agent_link.result's fields), 20 ms."""
    return (field_varint(1, check_id) + field_varint(2, start_us) + field_varint(7, 20000) +
            field_varint(10, 1) + field_varint(11, 0))


class Agent:
    """A hand-played agent probing one check every second: results are sent
    for each whole second up to now, seq contiguous across reconnects."""

    def __init__(self, c, agent_id, region):
        self.c, self.id, self.region = c, agent_id, region
        self.seq, self.sock, self.next_us = 1, None, None

    def connect(self):
        s = self.c.connect()
        s.sendall(frame(hello(self.id, region=self.region)))
        frames, _ = read_frames(s, time.time() + 1)
        sets = [f for k, f in frames if k == "check_set"]
        assert sets, "%s: no CheckSet, got %r" % (self.id, [k for k, _ in frames])
        self.check_id = decode(sets[0].get(2, [])[0])[1][0]
        s.setblocking(False)
        self.sock = s
        self.next_us = int(time.time()) * 1000000 + 1000000  # the next whole second

    def kill(self):
        self.sock.close()
        self.sock = None

    def pump(self):
        """Sends the results due by now; reads and drops what the coordinator
        sent (acks, heartbeats: an agent need not answer those)."""
        if self.sock is None:
            return
        try:
            while self.sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        now = int(time.time() * 1e6)
        starts = []
        while self.next_us <= now:
            starts.append(self.next_us)
            self.next_us += 1000000
        body = b"".join(field_bytes(3, result(self.check_id, t)) for t in starts)
        batch = field_varint(1, EPOCH) + field_varint(2, self.seq) + body + field_varint(4, now)
        self.seq += len(starts)
        self.sock.setblocking(True)
        self.sock.sendall(frame(field_bytes(2, batch)))
        self.sock.setblocking(False)


def run_for(agents, seconds):
    end = time.time() + seconds
    while time.time() < end:
        for a in agents:
            a.pump()
        time.sleep(0.2)


def by_region(entries):
    return {e["region"]: e for e in entries}


def cells_at(hist, region, t):
    """The history cell of region at minute t (unix s)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    for r in hist["regions"]:
        if r["region"] == region:
            for cell in r["cells"]:
                if cell["t"].startswith(stamp):
                    return cell
    raise AssertionError("no %s cell at %s in %r" % (region, stamp, hist))


def t_region_gone(c):
    east, west = Agent(c, "us-east-1", "us-east"), Agent(c, "eu-west-1", "eu-west")
    east.connect()
    west.connect()
    agents = [east, west]
    run_for(agents, 4)
    st = by_region(c.get("/api/v1/status"))
    assert st["us-east"]["state"] == "up" and st["eu-west"]["state"] == "up", st

    # Kill eu-west's agent, early enough in a minute that its last result
    # and the detector's staleness allowance (3 intervals + timeout) end in
    # that minute. The minute after must pass wholly without it.
    while not 2 <= time.time() % 60 < 45:
        run_for(agents, 1)
    killed = time.time()
    west.kill()
    gone_minute = int(killed // 60 + 1) * 60
    back_at = gone_minute + 60 + 2
    # The detector calls a silent agent stale after 3 intervals + timeout.
    run_for([east], 6)
    st = by_region(c.get("/api/v1/status"))
    assert st["eu-west"]["state"] == "unknown" and st["us-east"]["state"] == "up", st
    text = c.metrics()
    assert sample_values(text, "vantage_region_up", check="shop-web", region="eu-west") == [], \
        "vantage_region_up present for an unknown region"
    assert sample_values(text, "vantage_region_up", check="shop-web", region="us-east") == [1.0]
    assert sample_values(text, "vantage_region_state", check="shop-web", region="eu-west",
                         state="unknown") == [1.0]
    print("eu-west unknown while its agent is gone; waiting until %s for the whole minute %s"
          % (time.strftime("%H:%M:%S", time.gmtime(back_at)),
             time.strftime("%H:%M", time.gmtime(gone_minute))))
    run_for([east], back_at - time.time())
    west.connect()
    run_for(agents, 5)
    st = by_region(c.get("/api/v1/status"))
    assert st["eu-west"]["state"] == "up", st

    # History: the minute it was gone is unknown, not up.
    hist = c.get("/api/v1/history?check=shop-web&minutes=5")
    w, e = cells_at(hist, "eu-west", gone_minute), cells_at(hist, "us-east", gone_minute)
    assert w["state"] == "unknown" and w["coverage"] == 0 and w["up"] == 0, w
    assert e["state"] == "up" and e["coverage"] == 1 and e["up"] >= 59, e
    part = cells_at(hist, "eu-west", gone_minute - 60)
    assert part["coverage"] < 1 and part["state"] != "down", part
    print("history at %s: eu-west %s, us-east %s; the minute it died in: coverage %.3f"
          % (w["t"], w, e, part["coverage"]))

    # Uptime with coverage: the gone minute is not counted as up (nor down).
    up = c.get("/api/v1/uptime?check=shop-web")
    assert up["check"] == "shop-web" and up["window"] == "24h", up
    reg = by_region(up["regions"])
    uw, ue = reg["eu-west"], reg["us-east"]
    assert uw["uptime"] == 1 and ue["uptime"] == 1, up
    assert uw["wall_s"] == 86400 and uw["known_s"] <= ue["known_s"] - 59, up
    assert 0 < uw["coverage"] < ue["coverage"] < 1, up
    assert up["known_s"] == uw["known_s"] + ue["known_s"] and up["wall_s"] == 2 * 86400, up
    everything = c.get("/api/v1/uptime?window=7d")
    assert [x["check"] for x in everything] == ["shop-web"] and everything[0]["window"] == "7d"
    assert by_region(everything[0]["regions"])["eu-west"]["known_s"] == uw["known_s"], everything
    print("uptime 24h: eu-west %s, us-east %s" % (uw, ue))

    # The same in the metrics.
    text = c.metrics()
    cw = sample_values(text, "vantage_region_coverage_ratio", check="shop-web", region="eu-west",
                       window="24h")
    ce = sample_values(text, "vantage_region_coverage_ratio", check="shop-web", region="us-east",
                       window="24h")
    assert len(cw) == 1 and len(ce) == 1 and 0 < cw[0] < ce[0] < 1, (cw, ce)
    assert sample_values(text, "vantage_region_uptime_ratio", check="shop-web",
                         region="eu-west", window="24h") == [1.0]
    promtool = shutil.which("promtool")
    if promtool:
        why = promtool_check_metrics(promtool, text)
        assert why is None, why

    # The CLI's status table and the status page state the coverage.
    r = subprocess.run([os.path.join(c.bindir, "vantage-coordinator"), "status",
                        "--coordinator", "http://127.0.0.1:%d" % c.http_port],
                       capture_output=True, timeout=20)
    out = r.stdout.decode()
    assert r.returncode == 0 and "UPTIME 24H" in out, out
    row = [line for line in out.splitlines() if "eu-west" in line]
    assert row and "100% (cov " in row[0], out
    print(out)
    with urllib.request.urlopen("http://127.0.0.1:%d/" % c.http_port, timeout=5) as resp:
        page = resp.read().decode()
    assert "uptime 100% over 24 h, " in page and "% covered</p>" in page, \
        "status page without uptime and coverage"


def main():
    bindir = sys.argv[1]
    c = Coordinator(bindir)
    run_coordinator_test(c, t_region_gone, "coverage/region_gone")


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    main()
