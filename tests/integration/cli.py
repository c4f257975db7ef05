#!/usr/bin/python3
"""The CLI subcommands of the real vantage-coordinator binary, as an
operator runs them.

Without a coordinator: --help of every subcommand (stdout, exit 0), usage
errors (usage on stderr, exit 2), an unreachable coordinator (one line,
exit 1), and against a fake API that records what it was sent: `silence`
(the request bodies), the maintenance column of `outages`, HTTP errors.
With a real coordinator (agent_link.py's harness: port 0, fresh store) fed
by three hand-played one-agent regions whose results make a two-wave
incident: the tables, `outages --json` and `timeline ID --json` equal to
the API's answers, the timeline chart showing the gap between the waves,
no escape codes unless stdout is a terminal and NO_COLOR is unset, and
`silence` against the real API.

usage: cli.py BIN_DIR TEST_NAME
"""
import http.server
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_link as al  # noqa: E402  (the coordinator harness and the protobuf encoder)
from harness import free_port, run_coordinator_test  # noqa: E402

SUBCOMMANDS = ["status", "outages", "timeline", "agents", "checks", "silence"]
ESC = b"\x1b"
BIN = None


def env(**extra):
    e = {k: v for k, v in os.environ.items()
         if k not in ("NO_COLOR", "VANTAGE_COORDINATOR", "COLUMNS", "TERM")}
    e["TZ"] = "UTC"
    e.update(extra)
    return e


def cli(*argv, **extra):
    return subprocess.run([os.path.join(BIN, "vantage-coordinator")] + list(argv),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          env=env(**extra))


def cli_tty(*argv, **extra):
    """Runs the CLI with stdout on a pseudo-terminal; returns (rc, out, err)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([os.path.join(BIN, "vantage-coordinator")] + list(argv),
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                         env=env(**dict({"TERM": "xterm"}, **extra)))
    os.close(slave)
    out = b""
    deadline = time.time() + 30
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            if p.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = p.stderr.read()
    p.stderr.close()
    rc = p.wait(10)
    return rc, out.replace(b"\r\n", b"\n"), err


def check(cond, what, r=None):
    if not cond:
        if r is not None:
            what += "\n--- exit %s\n--- stdout:\n%s\n--- stderr:\n%s" % (
                r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))
        raise AssertionError(what)


# ---- without a coordinator ----

def t_help():
    for sub in SUBCOMMANDS:
        for flag in ("--help", "-h"):
            r = cli(sub, flag)
            check(r.returncode == 0, "%s %s: exit %d" % (sub, flag, r.returncode), r)
            check(r.stdout.startswith(b"usage: vantage-coordinator " + sub.encode()),
                  "%s %s: no usage on stdout" % (sub, flag), r)
            check(b"--coordinator URL" in r.stdout and b"--json" in r.stdout,
                  "%s %s: common options missing" % (sub, flag), r)
            check(r.stderr == b"", "%s %s: stderr not empty" % (sub, flag), r)
    r = cli("--help")
    check(r.returncode == 0 and b"silence" in r.stdout and b"timeline" in r.stdout,
          "top-level --help does not list the CLI commands", r)


def t_usage_errors():
    cases = [("status", "--bogus"), ("outages", "--since"), ("outages", "--since", "soon"),
             ("checks", "extra"), ("timeline", "a", "b"), ("silence",),
             ("silence", "shop-web"), ("silence", "--for", "2h"), ("agents", "--json=1"),
             ("status", "--coordinator", "ftp://x")]
    for argv in cases:
        r = cli(*argv, VANTAGE_COORDINATOR="http://127.0.0.1:1")
        check(r.returncode == 2, "%s: exit %d, want 2" % (" ".join(argv), r.returncode), r)
        check(b"usage: vantage-coordinator " + argv[0].encode() in r.stderr,
              "%s: no usage on stderr" % " ".join(argv), r)
        check(r.stdout == b"", "%s: stdout not empty" % " ".join(argv), r)
    r = cli("frobnicate")
    check(r.returncode == 2 and b"usage:" in r.stderr and r.stdout == b"",
          "unknown subcommand", r)


def t_unreachable():
    port = free_port()  # nobody listens there now: connection refused
    url = "http://127.0.0.1:%d" % port
    for argv, extra in (((SUBCOMMANDS[0], "--coordinator", url), {}),
                        (("outages", "--json"), {"VANTAGE_COORDINATOR": url + "/"}),
                        (("timeline", "inc-1"), {"VANTAGE_COORDINATOR": url}),
                        (("silence", "shop-web", "--for", "1h"), {"VANTAGE_COORDINATOR": url})):
        r = cli(*argv, **extra)
        check(r.returncode == 1, "%s: exit %d, want 1" % (" ".join(argv), r.returncode), r)
        want = "vantage-coordinator: cannot reach coordinator at %s: connection refused\n" % url
        check(r.stderr.decode() == want, "%s: stderr is not the one line %r" % (argv, want), r)
        check(r.stdout == b"", "%s: stdout not empty" % " ".join(argv), r)


class FakeApi(http.server.BaseHTTPRequestHandler):
    """Answers /api/v1/silences like the coordinator and records requests."""
    seen = []

    def log_message(self, *args):
        pass

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        FakeApi.seen.append((self.command, self.path, self.headers.get("Content-Type"), body))
        return body

    def do_POST(self):
        req = json.loads(self.record())
        now = time.time()
        doc = {"id": "sil-7", "start": iso(now), "end": iso(now + req["duration_s"]),
               "reason": req.get("reason", ""), "source": "api", "active": True}
        doc["check" if "check" in req else "service"] = req.get("check", req.get("service"))
        self.answer(201, doc)

    def do_GET(self):
        self.record()
        now = time.time()
        if self.path.startswith("/api/v1/outages"):
            inc = {"id": "inc-9", "service": "shop", "check": "shop-web", "kind": "web",
                   "scope": "regional", "onset": iso(now - 600), "resolved": iso(now - 300),
                   "duration_s": 300, "cause": "timeout",
                   "regions": [{"region": "us-east", "onset": iso(now - 600),
                                "resolved": iso(now - 300)}],
                   "waves": [{"onset": iso(now - 600), "resolved": iso(now - 300),
                              "cause": "timeout", "regions": ["us-east"]}],
                   "peak_regions": 1, "total_regions": 3, "maintenance": True}
            other = dict(inc, id="inc-8", maintenance=False)
            self.answer(200, [inc, other] if "maint" in self.path else [other])
            return
        if self.path == "/api/v1/status":  # a proxy's error page, not the API's JSON
            body = b"<html>bad gateway</html>"
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.answer(200, [{"id": "sil-7", "check": "shop-web", "start": iso(now - 60),
                           "end": iso(now + 7140), "reason": "deploy 42", "source": "api",
                           "active": True},
                          {"id": "cfg-1", "service": "shop", "start": iso(now + 86400),
                           "end": iso(now + 90000), "reason": "weekly db", "source": "config",
                           "active": False, "weekly": "sun 02:00", "duration_s": 3600}])

    def do_DELETE(self):
        self.record()
        if self.path == "/api/v1/silences/sil-7":
            self.answer(200, {"id": "sil-7", "check": "shop-web"})
        else:
            self.answer(404, {"error": "no active silence '%s'" % self.path.rsplit("/", 1)[1]})


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


def t_fake_api():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        r = cli("silence", "shop-web", "--for", "2h", "--reason", "deploy 42",
                VANTAGE_COORDINATOR=url)
        check(r.returncode == 0, "silence: exit %d" % r.returncode, r)
        method, path, ctype, body = FakeApi.seen[-1]
        check((method, path, ctype) == ("POST", "/api/v1/silences", "application/json"),
              "silence sent %s %s (%s)" % (method, path, ctype))
        check(json.loads(body) == {"check": "shop-web", "duration_s": 7200, "reason": "deploy 42"},
              "silence body %r" % body)
        check(re.fullmatch(rb"silenced shop-web until \d\d:\d\d \(2 h\), id sil-7\n", r.stdout),
              "silence output", r)

        r = cli("silence", "shop", "--service", "--for", "1d", "--coordinator", url)
        check(r.returncode == 0 and json.loads(FakeApi.seen[-1][3]) ==
              {"service": "shop", "duration_s": 86400}, "silence --service", r)
        check(re.fullmatch(rb"silenced service shop until \d{4}-\d\d-\d\d \d\d:\d\d \(1 d\), "
                           rb"id sil-7\n", r.stdout), "silence --service output", r)

        r = cli("silence", "shop-web", "--for", "30m", "--json", "--coordinator", url)
        check(r.returncode == 0 and json.loads(r.stdout)["id"] == "sil-7" and
              r.stdout.endswith(b"}\n"), "silence --json", r)

        r = cli("silence", "--list", "--coordinator", url)
        lines = r.stdout.decode().splitlines()
        check(r.returncode == 0 and FakeApi.seen[-1][:2] == ("GET", "/api/v1/silences"),
              "silence --list", r)
        check(lines[0].split() == ["ID", "SILENCED", "STATE", "FROM", "UNTIL", "SOURCE", "REASON"]
              and lines[1].startswith("sil-7") and "shop-web" in lines[1] and
              "active" in lines[1] and "deploy 42" in lines[1] and
              "service shop" in lines[2] and "config, weekly sun 02:00" in lines[2],
              "silence --list table", r)
        check(ESC not in r.stdout, "escape codes in piped output", r)

        r = cli("silence", "--list", "--json", "--coordinator", url)
        check(r.returncode == 0 and len(json.loads(r.stdout)) == 2, "silence --list --json", r)

        r = cli("silence", "--end", "sil-7", "--coordinator", url)
        check(r.returncode == 0 and r.stdout == b"ended silence sil-7\n" and
              FakeApi.seen[-1][:2] == ("DELETE", "/api/v1/silences/sil-7"), "silence --end", r)

        # outages: a NOTE column marks incidents under maintenance, only
        # when there is one
        r = cli("outages", "--check", "maint", "--coordinator", url)
        lines = r.stdout.decode().splitlines()
        check(r.returncode == 0 and lines[0].split()[-1] == "NOTE" and
              lines[1].startswith("inc-9") and lines[1].endswith("  maintenance") and
              lines[2].startswith("inc-8") and not lines[2].endswith("maintenance"),
              "outages: maintenance column", r)
        r = cli("outages", "--coordinator", url)
        check(r.returncode == 0 and "NOTE" not in r.stdout.decode(),
              "outages: a NOTE column without maintenance", r)
        check(re.search(r"^inc-8 .* 5 min  +us-east \(1/3\)  +timeout  +1$",
                        r.stdout.decode(), re.M), "outages row", r)

        r = cli("status", "--coordinator", url)
        check(r.returncode == 1 and r.stdout == b"" and r.stderr.decode() ==
              "vantage-coordinator: HTTP 502 from GET %s/api/v1/status\n" % url,
              "an HTTP error without a JSON message", r)

        r = cli("silence", "--end", "nope", "--coordinator", url)
        check(r.returncode == 1 and r.stdout == b"", "silence --end of an unknown id", r)
        err = r.stderr.decode()
        check(err.count("\n") == 1 and "no active silence 'nope'" in err and "HTTP 404" in err,
              "the API's error message, one line", r)
    finally:
        srv.shutdown()
        srv.server_close()


# ---- with a real coordinator ----

REGIONS = (("us-east-1", "us-east"), ("us-west-1", "us-west"), ("eu-west-1", "eu-west"))


def two_wave_incident(c):
    """Three one-agent regions report 40 probes a second apart: us-east
    down in [5, 15) and [22, 32), us-west in [5, 15), eu-west in [22, 32).
    Two regions at a time make the incident, the 7 s between the waves is
    under merge_gap (10 s): one incident, two waves. Waits until it is
    resolved; returns the connected sockets (still agents) and it."""
    down = {"us-east": lambda i: 5 <= i < 15 or 22 <= i < 32,
            "us-west": lambda i: 5 <= i < 15,
            "eu-west": lambda i: 22 <= i < 32}
    socks = []
    for agent, region in REGIONS:
        s = c.connect()
        s.sendall(al.frame(al.hello(agent, region=region)))
        socks.append((s, first_check_id(s, time.time() + 5), region))
    now = int(time.time() * 1e6)
    for s, cid, region in socks:
        results = b"".join(al.field_bytes(3, al.result(cid, now - (40 - i) * 1000000,
                                                       down[region](i), 7))
                           for i in range(40))
        batch = al.field_varint(1, 12345) + al.field_varint(2, 1) + results + \
            al.field_varint(4, now)
        s.sendall(al.frame(al.field_bytes(2, batch)))
    deadline, inc = time.time() + 30, None
    while time.time() < deadline:
        for s, _, _ in socks:  # keep the watermark moving like live agents
            empty = al.field_varint(1, 12345) + al.field_varint(2, 41) + \
                al.field_varint(4, int(time.time() * 1e6))
            s.sendall(al.frame(al.field_bytes(2, empty)))
        incs = c.get("/api/v1/outages")
        if len(incs) == 1 and incs[0]["resolved"] is not None and len(incs[0]["waves"]) == 2:
            inc = incs[0]
            break
        time.sleep(0.3)
    check(inc is not None, "no resolved two-wave incident: %r" % c.get("/api/v1/outages"))
    return socks, inc


def first_check_id(sock, deadline):
    """Reads frames until the CheckSet; returns its first check's id."""
    data = b""
    sock.settimeout(0.2)
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        check(chunk, "the coordinator closed the agent connection before its CheckSet")
        data += chunk
        while len(data) >= 4:
            n = struct.unpack(">I", data[:4])[0]
            if len(data) < 4 + n:
                break
            env, data = al.decode(data[4:4 + n]), data[4 + n:]
            if 6 in env:  # Envelope.check_set
                return al.decode(al.decode(env[6][0])[2][0])[1][0]
    raise AssertionError("no CheckSet within the deadline")


def raw_get(c, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (c.http_port, path), timeout=5) as r:
        return r.read()


def t_tables(c):
    url = "http://127.0.0.1:%d" % c.http_port
    socks, inc = two_wave_incident(c)
    try:
        for sub, header in (("status", "SERVICE  CHECK"), ("agents", "ID"), ("checks", "ID"),
                            ("outages", "ID"), ("timeline", "TIME")):
            r = cli(sub, "--coordinator", url)
            check(r.returncode == 0 and r.stderr == b"", "%s: exit %d" % (sub, r.returncode), r)
            text = r.stdout.decode()
            check(text.startswith(header), "%s: no table header" % sub, r)
            check(ESC not in r.stdout, "%s: escape codes without a terminal" % sub, r)
            # aligned: every column header starts where its cells start
            lines = text.splitlines()
            cols = [m.start() for m in re.finditer(r"(?<=  )\S", lines[0])]
            for line in lines[1:]:
                for col in cols:
                    if col >= len(line):  # empty trailing cells are not padded
                        continue
                    check(line[col - 1] == " " and line[col] != " ",
                          "%s: misaligned row %r (column at %d)" % (sub, line, col), r)
        r = cli("status", "--coordinator", url)
        check(len(r.stdout.decode().splitlines()) == 4 and "up" in r.stdout.decode(),
              "status: one row per region", r)
        r = cli("agents", VANTAGE_COORDINATOR=url)
        check(all(a in r.stdout.decode() for a, _ in REGIONS), "agents: all three", r)
        r = cli("outages", "--coordinator", url)
        check(inc["id"] in r.stdout.decode() and "multi_region" in r.stdout.decode(),
              "outages: the incident", r)
        # --json: the API's answer unchanged
        r = cli("outages", "--json", "--coordinator", url)
        check(r.returncode == 0 and json.loads(r.stdout) == json.loads(raw_get(c, "/api/v1/outages")),
              "outages --json differs from /api/v1/outages", r)
        for sub in ("status", "checks"):
            r = cli(sub, "--json", "--coordinator", url)
            check(r.returncode == 0 and r.stdout.rstrip(b"\n") ==
                  raw_get(c, "/api/v1/" + sub).rstrip(b"\n"), "%s --json differs" % sub, r)
        # a terminal gets color, unless NO_COLOR says no
        rc, out, err = cli_tty("status", "--coordinator", url)
        check(rc == 0 and b"\x1b[32mup\x1b[0m" in out, "status on a terminal: no color: %r" % out)
        for nc in ("1", "yes"):
            rc, out, err = cli_tty("status", "--coordinator", url, NO_COLOR=nc)
            check(rc == 0 and ESC not in out and b"up" in out,
                  "NO_COLOR=%s: escape codes on a terminal: %r" % (nc, out))
        rc, out, err = cli_tty("outages", "--coordinator", url, NO_COLOR="")
        check(rc == 0 and ESC in out, "an empty NO_COLOR does not turn color off")
        rc, out, err = cli_tty("agents", "--coordinator", url, TERM="dumb")
        check(rc == 0 and ESC not in out, "TERM=dumb gets escape codes")
    finally:
        for s, _, _ in socks:
            s.close()


def t_timeline(c):
    url = "http://127.0.0.1:%d" % c.http_port
    socks, inc = two_wave_incident(c)
    try:
        r = cli("timeline", inc["id"], "--coordinator", url, COLUMNS="100")
        check(r.returncode == 0 and r.stderr == b"", "timeline: exit %d" % r.returncode, r)
        text = r.stdout.decode()
        sys.stdout.write(text)
        rows = {m.group(1): m.group(2) for m in re.finditer(r"^(us-east|us-west|eu-west) +([#.]+)$",
                                                             text, re.M)}
        check(sorted(rows) == ["eu-west", "us-east", "us-west"], "timeline: region rows", r)
        check(all(len(line) < 100 for line in text.splitlines()), "timeline: wider than COLUMNS", r)
        # us-east: down, up (the gap between the waves), down again
        check(re.fullmatch(r"\.+#+\.+#+\.+", rows["us-east"]), "us-east row: %s" % rows["us-east"])
        check(re.fullmatch(r"\.+#+\.+", rows["us-west"]), "us-west row: %s" % rows["us-west"])
        check(re.fullmatch(r"\.+#+\.+", rows["eu-west"]), "eu-west row: %s" % rows["eu-west"])
        check(rows["us-west"].index("#") < rows["eu-west"].index("#"), "wave order", r)
        check(re.search(r"^waves +1+ +2+$", text, re.M), "timeline: waves row", r)
        check(re.search(r"^ +\|[-+]+\|$", text, re.M), "timeline: axis", r)
        check(re.search(r"wave 1 down +(us-east,us-west|us-west,us-east) +http_5xx", text),
              "timeline: wave list", r)
        check(text.count("wave 2 recovered") == 1, "timeline: wave list", r)
        # --json: GET /api/v1/incidents/ID as received
        r = cli("timeline", inc["id"], "--json", "--coordinator", url)
        check(r.returncode == 0 and json.loads(r.stdout) ==
              json.loads(raw_get(c, "/api/v1/incidents/" + inc["id"])), "timeline --json", r)
        # on a terminal the down cells are red
        rc, out, err = cli_tty("timeline", inc["id"], "--coordinator", url, COLUMNS="100")
        check(rc == 0 and b"\x1b[31m#" in out, "timeline on a terminal: no red")
        # an unknown incident: the API's 404 message, one line, exit 1
        r = cli("timeline", "no-such-incident", "--coordinator", url)
        check(r.returncode == 1 and r.stdout == b"" and r.stderr.count(b"\n") == 1 and
              b"no such incident" in r.stderr and b"HTTP 404" in r.stderr,
              "timeline of an unknown incident", r)
        # without an ID: the waves of all incidents as events
        r = cli("timeline", "--coordinator", url)
        check(r.returncode == 0 and r.stdout.decode().count(inc["id"]) == 4, "timeline (all)", r)
    finally:
        for s, _, _ in socks:
            s.close()


def t_silence(c):
    url = "http://127.0.0.1:%d" % c.http_port
    r = cli("silence", "shop-web", "--for", "2h", "--reason", "cli test", "--coordinator", url)
    check(r.returncode == 0, "silence: exit %d" % r.returncode, r)
    m = re.fullmatch(rb"silenced shop-web until \d\d:\d\d \(2 h\), id (\S+)\n", r.stdout)
    check(m, "silence output", r)
    sid = m.group(1).decode()
    r = cli("silence", "--list", "--coordinator", url)
    check(r.returncode == 0 and sid in r.stdout.decode() and "cli test" in r.stdout.decode(),
          "silence --list", r)
    r = cli("silence", "--list", "--json", "--coordinator", url)
    check(r.returncode == 0 and json.loads(r.stdout) == json.loads(raw_get(c, "/api/v1/silences")),
          "silence --list --json", r)
    r = cli("silence", "no-such-check", "--for", "1h", "--coordinator", url)
    check(r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"HTTP 400" in r.stderr,
          "silence of an unknown check", r)
    r = cli("silence", "--end", sid, "--coordinator", url)
    check(r.returncode == 0 and r.stdout.decode() == "ended silence %s\n" % sid, "silence --end", r)
    r = cli("silence", "--end", sid, "--coordinator", url)
    check(r.returncode == 1 and b"HTTP 404" in r.stderr, "silence --end twice", r)


TESTS = {
    "help": (t_help, False),
    "usage_errors": (t_usage_errors, False),
    "unreachable": (t_unreachable, False),
    "fake_api": (t_fake_api, False),
    "tables": (t_tables, True),
    "timeline": (t_timeline, True),
    "silence": (t_silence, True),
}


def main():
    global BIN
    BIN, name = sys.argv[1], sys.argv[2]
    fn, needs_coordinator = TESTS[name]
    if not needs_coordinator:
        try:
            fn()
        except AssertionError as e:
            print("FAIL %s: %s" % (name, e), file=sys.stderr)
            sys.exit(1)
        print("ok", name)
        return
    run_coordinator_test(al.Coordinator(BIN), fn, name)


if __name__ == "__main__":
    main()
