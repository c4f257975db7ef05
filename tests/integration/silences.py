#!/usr/bin/python3
"""Integration tests of maintenance windows and silences against the real
coordinator over loopback: the /api/v1/silences API (create, list, end,
bad input, restart), the `maintenance:` config key on SIGHUP, and the
effects: an incident whose onset lies in a window is reported with
"maintenance": true, vantage_check_incident_open stays 0 for it while
vantage_check_maintenance is 1.

Agents are played by hand with agent_link.py's encoder, so the incidents
come from the real detector without probes.

usage: silences.py BIN_DIR TEST_NAME
"""
import calendar
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_link as al  # noqa: E402  (the shared coordinator harness and encoder)
from harness import run_coordinator_test, sample_values  # noqa: E402

CHECKS = ["shop-web", "shop-api"]


class Coordinator(al.Coordinator):
    """agent_link's coordinator with two checks and a blog service, plus
    the maintenance: block given."""

    def __init__(self, bindir, maintenance=""):
        self.maintenance = maintenance
        super().__init__(bindir)

    def write_config(self, checks, extra=""):
        checks = CHECKS
        maint = self.maintenance
        super().write_config(checks, extra)
        with open(self.cfg, "a") as f:
            f.write("  - name: blog\n    endpoints:\n"
                    '      - {check: blog-web, kind: web, url: "http://127.0.0.1:9/b", '
                    "interval: 1s, timeout: 500ms}\n")
            f.write(maint)

    def request(self, method, path, body=None, raw=None):
        """(status, parsed JSON or text, headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path), data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                status, text, headers = r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            status, text, headers = e.code, e.read().decode(), e.headers
        try:
            return status, json.loads(text), headers
        except ValueError:
            return status, text, headers


def metric(text, name, **labels):
    """The value of the one series of name whose labels include these."""
    found = sample_values(text, name, **labels)
    assert len(found) == 1, "%s%r: %d series" % (name, labels, len(found))
    return found[0]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def expect_400(c, body, needle, raw=None):
    status, ans, _ = c.request("POST", "/api/v1/silences", body, raw=raw)
    assert status == 400, "POST %r: %d %r (expected 400)" % (body or raw, status, ans)
    assert isinstance(ans, dict) and needle in ans.get("error", ""), \
        "POST %r: error %r lacks %r" % (body or raw, ans, needle)


# ---- tests ----

def t_api_round_trip(c):
    status, s, headers = c.request("POST", "/api/v1/silences",
                                   {"check": "shop-api", "duration_s": 7200, "reason": "db migration"})
    assert status == 201, (status, s)
    assert re.match(r"^sil-\d+$", s["id"]), s
    assert headers.get("Location") == "/api/v1/silences/" + s["id"], headers.get("Location")
    assert s["check"] == "shop-api" and "service" not in s, s
    assert s["reason"] == "db migration" and s["source"] == "api" and s["active"] is True, s
    start, end = parse_time(s["start"]), parse_time(s["end"])
    assert abs(end - start - 7200) < 0.01 and abs(start - time.time()) < 5, s
    status, svc, _ = c.request("POST", "/api/v1/silences", {"service": "blog", "duration_s": 60})
    assert status == 201 and svc["service"] == "blog" and svc["reason"] == "", svc
    assert int(svc["id"][4:]) == int(s["id"][4:]) + 1, (s["id"], svc["id"])

    status, lst, _ = c.request("GET", "/api/v1/silences")
    # ordered by start: the weekly window's next occurrence is days away
    assert status == 200 and [x["id"] for x in lst] == [s["id"], svc["id"], "cfg-1"], lst
    assert lst[2]["source"] == "config" and lst[2]["weekly"] == "sun 02:00", lst[2]
    assert lst[2]["duration_s"] == 3600 and lst[2]["active"] is False, lst[2]
    assert lst[0] == s, (lst[0], s)
    status, one, _ = c.request("GET", "/api/v1/silences/" + s["id"])
    assert status == 200 and one == s, one

    m = c.metrics()
    assert metric(m, "vantage_check_maintenance", check="shop-api") == 1
    assert metric(m, "vantage_check_maintenance", check="shop-web") == 0
    assert metric(m, "vantage_check_maintenance", check="blog-web") == 1  # by its service
    assert "# TYPE vantage_check_maintenance gauge" in m

    status, ended, _ = c.request("DELETE", "/api/v1/silences/" + s["id"])
    assert status == 200 and ended["id"] == s["id"] and ended["active"] is False, ended
    assert parse_time(ended["end"]) <= time.time() + 0.01, ended
    status, lst, _ = c.request("GET", "/api/v1/silences")
    assert [x["id"] for x in lst] == [svc["id"], "cfg-1"], lst
    assert metric(c.metrics(), "vantage_check_maintenance", check="shop-api") == 0

    status, err, _ = c.request("DELETE", "/api/v1/silences/" + s["id"])
    assert status == 404 and "no active silence" in err["error"], (status, err)
    status, err, _ = c.request("DELETE", "/api/v1/silences/sil-999")
    assert status == 404 and isinstance(err, dict) and "error" in err, (status, err)
    status, err, _ = c.request("GET", "/api/v1/silences/nope")
    assert status == 404 and isinstance(err, dict), (status, err)
    status, err, _ = c.request("DELETE", "/api/v1/silences/cfg-1")
    assert status == 409 and "config file" in err["error"], (status, err)
    status, err, headers = c.request("PUT", "/api/v1/silences", {"check": "shop-api"})
    assert status == 405 and "POST" in headers.get("Allow", ""), (status, err)
    status, err, headers = c.request("POST", "/api/v1/silences/" + svc["id"], {})
    assert status == 405 and "DELETE" in headers.get("Allow", ""), (status, err)


def parse_time(s):
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", s)
    assert m, s
    t = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return t + (float(m.group(7)) if m.group(7) else 0.0)


def t_bad_inputs(c):
    expect_400(c, None, "not valid JSON", raw=b"{\"check\": ")
    expect_400(c, None, "JSON object", raw=b"[]")
    expect_400(c, {"check": "nope", "duration_s": 60}, "check: unknown check 'nope'")
    expect_400(c, {"service": "nope", "duration_s": 60}, "service: unknown service 'nope'")
    expect_400(c, {"duration_s": 60}, "missing field 'check'")
    expect_400(c, {"check": "shop-api", "service": "shop", "duration_s": 60}, "not both")
    expect_400(c, {"check": "shop-api"}, "missing field 'duration_s'")
    expect_400(c, {"check": "shop-api", "duration_s": -60}, "duration_s")
    expect_400(c, {"check": "shop-api", "duration_s": "2h"}, "duration_s must be a number")
    expect_400(c, {"check": "shop-api", "duration_s": 31 * 86400}, "duration_s must be at most")
    expect_400(c, {"check": "shop-api", "duration_s": 60, "reason": 5}, "'reason' must be a string")
    expect_400(c, {"check": "shop-api", "duration_s": 60, "until": "x"}, "unknown field 'until'")
    # nothing was created by any of them
    status, lst, _ = c.request("GET", "/api/v1/silences")
    assert status == 200 and [x["id"] for x in lst] == ["cfg-1"], lst
    # a body over the server's cap is refused before the route
    status, _, _ = c.request("POST", "/api/v1/silences", raw=b" " * (1 << 17))
    assert status == 413, status


def t_survives_restart(c):
    status, s, _ = c.request("POST", "/api/v1/silences",
                             {"check": "shop-web", "duration_s": 3600, "reason": "kept"})
    assert status == 201, (status, s)
    status, gone, _ = c.request("POST", "/api/v1/silences", {"check": "shop-api", "duration_s": 60})
    status, _, _ = c.request("DELETE", "/api/v1/silences/" + gone["id"])
    assert status == 200
    alive, rc = c.stop()
    assert alive and rc == 0, (alive, rc)
    c.start()
    status, lst, _ = c.request("GET", "/api/v1/silences")
    assert [x["id"] for x in lst] == [s["id"], "cfg-1"], lst
    assert lst[0] == s, (lst[0], s)  # same id, times and reason
    assert metric(c.metrics(), "vantage_check_maintenance", check="shop-web") == 1
    # ids go on after the restart, the ended one is not listed
    status, s2, _ = c.request("POST", "/api/v1/silences", {"check": "shop-api", "duration_s": 60})
    assert status == 201 and int(s2["id"][4:]) > int(gone["id"][4:]), (s2, gone)
    # SIGHUP: config windows follow the file, silences stay
    c.maintenance = ("maintenance:\n  - {check: shop-api, start: %s, duration: 1h, reason: hup}\n"
                     % rfc3339(time.time() - 60))
    c.write_config(CHECKS)
    c.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        lst = c.request("GET", "/api/v1/silences")[1]
        if any(x.get("reason") == "hup" for x in lst):
            break
        time.sleep(0.1)
    assert [x["id"] for x in lst] == ["cfg-1", s["id"], s2["id"]], lst
    assert lst[0]["reason"] == "hup" and "weekly" not in lst[0], lst[0]
    # a reload with a window for an unknown check is refused and logged
    c.maintenance = "maintenance:\n  - {check: nope, start: 2026-01-01T00:00:00Z, duration: 1h}\n"
    c.write_config(CHECKS)
    c.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and "unknown check 'nope'" not in c.log_text():
        time.sleep(0.1)
    assert re.search(r"coordinator\.yaml:\d+:\d+: unknown check 'nope'", c.log_text()), \
        c.log_text()[-2000:]
    assert c.request("GET", "/api/v1/silences")[1][0]["reason"] == "hup"


def play_incident(c, socks, start_us, seconds):
    """Both agents report shop-web down from start_us for `seconds` (1 s
    probes), then keep the watermark moving until an incident is listed."""
    now = int(time.time() * 1e6)
    n = int(seconds)
    for s, cid, seq in socks:
        results = b"".join(al.field_bytes(3, al.result(cid, start_us + i * 1000000, True, 7))
                           for i in range(n))
        batch = al.field_varint(1, 12345) + al.field_varint(2, seq[0]) + results + \
            al.field_varint(4, now)
        seq[0] += n
        s.sendall(al.frame(al.field_bytes(2, batch)))
    deadline, incs = time.time() + 20, []
    while time.time() < deadline and not incs:
        for s, _, seq in socks:
            empty = al.field_varint(1, 12345) + al.field_varint(2, seq[0]) + \
                al.field_varint(4, int(time.time() * 1e6))
            s.sendall(al.frame(al.field_bytes(2, empty)))
        time.sleep(0.3)
        incs = c.get("/api/v1/outages")
    return incs


def connect_agents(c):
    socks = []
    for agent, region in (("us-east-1", "us-east"), ("eu-west-1", "eu-west")):
        s = c.connect()
        s.sendall(al.frame(al.hello(agent, region=region)))
        frames, _ = al.read_frames(s, time.time() + 1)
        checks = [f for k, f in frames if k == "check_set"][0].get(2, [])
        ids = {al.decode(ch)[2][0].decode(): al.decode(ch)[1][0] for ch in checks}
        socks.append((s, ids["shop-web"], [1]))
    return socks


def t_incident_in_window(c):
    """A config window covers shop-web: an incident whose onset is in it is
    "maintenance": true, does not count as open in /metrics, and the
    check's maintenance gauge is 1."""
    socks = connect_agents(c)
    incs = play_incident(c, socks, int((time.time() - 15) * 1e6), 12)
    assert len(incs) == 1, "expected one incident, got %r" % incs
    inc = incs[0]
    assert inc["check"] == "shop-web" and inc["resolved"] is None, inc
    assert inc["maintenance"] is True, inc
    m = c.metrics()
    assert metric(m, "vantage_check_maintenance", check="shop-web") == 1
    assert metric(m, "vantage_check_incident_open", check="shop-web") == 0
    assert "vantage_check_incident_onset_timestamp_seconds{check=\"shop-web\"" not in m
    assert metric(m, "vantage_check_maintenance", check="shop-api") == 0
    status, one, _ = c.request("GET", "/api/v1/incidents/" + inc["id"])
    assert status == 200 and one["maintenance"] is True, one
    for s, _, _ in socks:
        s.close()


def t_incident_outside_window(c):
    """Without a window the same incident is "maintenance": false and open
    in /metrics; a silence made now acknowledges it in /metrics (the check
    is covered) while its record stays false (its onset was before)."""
    socks = connect_agents(c)
    incs = play_incident(c, socks, int((time.time() - 15) * 1e6), 12)
    assert len(incs) == 1 and incs[0]["maintenance"] is False, incs
    m = c.metrics()
    assert metric(m, "vantage_check_incident_open", check="shop-web") == 1
    assert metric(m, "vantage_check_maintenance", check="shop-web") == 0
    status, s, _ = c.request("POST", "/api/v1/silences", {"check": "shop-web", "duration_s": 600})
    assert status == 201, (status, s)
    m = c.metrics()
    assert metric(m, "vantage_check_maintenance", check="shop-web") == 1
    assert metric(m, "vantage_check_incident_open", check="shop-web") == 0
    assert c.get("/api/v1/outages")[0]["maintenance"] is False
    status, _, _ = c.request("DELETE", "/api/v1/silences/" + s["id"])
    assert metric(c.metrics(), "vantage_check_incident_open", check="shop-web") == 1
    for s, _, _ in socks:
        s.close()


WEEKLY = 'maintenance:\n  - {check: shop-api, weekly: "sun 02:00", duration: 1h}\n'

TESTS = {
    "api_round_trip": (t_api_round_trip, WEEKLY),
    "bad_inputs": (t_bad_inputs, WEEKLY),
    "survives_restart": (t_survives_restart, WEEKLY),
    "incident_in_window": (t_incident_in_window, None),  # window made at start (now - 1 h)
    "incident_outside_window": (t_incident_outside_window, ""),
}


def main():
    bindir, name = sys.argv[1], sys.argv[2]
    fn, maint = TESTS[name]
    if maint is None:
        maint = ("maintenance:\n  - {check: shop-web, start: %s, duration: 2h, reason: test}\n"
                 % rfc3339(time.time() - 3600))
    run_coordinator_test(Coordinator(bindir, maint), fn, name)


if __name__ == "__main__":
    main()
