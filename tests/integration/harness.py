"""Helpers shared by the integration tests (and tests/deploy/check.py):
processes, ports, HTTP, run-scenario and promtool. The coordinator under
test and the protobuf encoder stay in agent_link.py.

Not a test itself: import it (the tests put their own folder on sys.path).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_SCENARIO = os.path.join(HERE, "..", "e2e", "run-scenario")


def free_port():
    """A loopback TCP port nobody listens on right now (for programs that
    cannot bind port 0 and report it, such as prometheus)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(p):
    """SIGTERM a subprocess (None or already gone: nothing), SIGKILL after 15 s."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def finish(ok, tmp, *procs):
    """The end of a test that keeps its files in tmp: stops procs (in the
    order given), removes tmp when the test passed, else says where it is.
    Returns the exit status (0 or 1)."""
    for p in procs:
        stop(p)
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("kept %s" % tmp)
    return 0 if ok else 1


def get_json(url, timeout=3):
    """The parsed JSON body of a GET; HTTP errors raise."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def get_status_json(url, timeout=3):
    """(status, parsed JSON body or None), also for HTTP error answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, None


def start_scenario(bindir, args, log_path, env=None, timeout=30,
                   pattern=r"coordinator (http://[0-9.]+:\d+)"):
    """Starts tests/e2e/run-scenario --bin BINDIR ARGS... with its output in
    log_path and waits (at most timeout s) until it reports its coordinator:
    run-scenario says "... coordinator http://IP:PORT, ... folder DIR" once
    it started. Returns (process, log file open w+, match of pattern); raises
    RuntimeError (the process still running: stop() it) when it does not."""
    log = open(log_path, "w+")
    proc = subprocess.Popen([RUN_SCENARIO, "--bin", bindir] + list(args), stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    m = None
    deadline = time.monotonic() + timeout
    while m is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        log.seek(0)
        m = re.search(pattern, log.read())
    if m is None:
        stop(proc)
        log.seek(0)
        raise RuntimeError("run-scenario did not start the coordinator; its output (tail):\n%s"
                           % "".join(log.readlines()[-20:]))
    return proc, log, m


# ---- the Prometheus text format ----


def promtool_check_metrics(promtool, text):
    """Runs `promtool check metrics` on an exposition (bytes or str). Returns
    None when it is clean (exit 0, nothing said), else what promtool said."""
    if isinstance(text, str):
        text = text.encode()
    pt = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                        timeout=30)
    if pt.returncode != 0 or pt.stdout.strip() or pt.stderr.strip():
        return "promtool check metrics (exit %d): %s%s" % (pt.returncode, pt.stdout.decode(),
                                                            pt.stderr.decode())
    return None


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_scrape(text):
    """[(name, {label: value}, float)] of the sample lines; families from # TYPE."""
    samples, types = [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise RuntimeError("unparsable sample line: %r" % line)
        samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples, types


def sample_values(text, name, **labels):
    """The values of the samples of name (in an exposition) whose labels
    include these, in the order they stand."""
    samples, _ = parse_scrape(text)
    return [v for n, lab, v in samples
            if n == name and all(lab.get(k) == want for k, want in labels.items())]


# ---- the tests' main ----


def run_coordinator_test(c, fn, name):
    """The main of the tests that each run against one started coordinator c
    (agent_link.Coordinator or a subclass): runs fn(c), then stops c. The
    test fails when fn raises (the traceback goes to stderr), or when the
    coordinator died during it or did not exit 0 on SIGTERM; then the tail
    of its log goes to stderr. Prints "ok NAME" or "FAIL NAME" and exits
    0 or 1."""
    ok = False
    try:
        fn(c)
        ok = True
    except Exception:  # noqa: BLE001  (any failure of the test is reported the same way)
        traceback.print_exc()
    finally:
        alive, rc = c.stop()
        if not alive:
            print("coordinator died during the test", file=sys.stderr)
            ok = False
        elif rc != 0:
            print("coordinator exited %d on SIGTERM" % rc, file=sys.stderr)
            ok = False
        if not ok:
            print(c.log_text()[-4000:], file=sys.stderr)
    print("ok" if ok else "FAIL", name)
    sys.exit(0 if ok else 1)
