#!/usr/bin/python3
"""Real Prometheus against a real coordinator (issue 4, item 2).

Runs tests/e2e/run-scenario on prom-scenario.yaml (shop-api down in us-east
from 8 s to the end) in the background, starts Debian's `prometheus` on
loopback scraping the coordinator's /metrics every second, and asks the
Prometheus HTTP API until vantage_region_up reads 0 for (shop-api, us-east)
and 1 for (shop-api, us-west). Then lets the scenario finish (it must pass),
and runs `promtool check metrics` on the scrape run-scenario wrote with
--metrics. Exit 0 pass, 1 fail, 77 skip (prometheus or promtool missing).

usage: prometheus.py BIN_DIR
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_SCENARIO = os.path.join(HERE, "..", "e2e", "run-scenario")
SCENARIO = os.path.join(HERE, "prom-scenario.yaml")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def query(base, expr):
    """Instant query: {frozenset(labels.items()): value} of the result vector."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=3) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError("query %s: %s" % (expr, doc))
    return {(m["metric"].get("check"), m["metric"].get("region")): float(m["value"][1])
            for m in doc["data"]["result"]}


def stop(p):
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bindir = argv[1]
    prom, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prom is None or promtool is None:
        print("SKIP: prometheus/promtool not installed (Debian package `prometheus`; "
              "deploy/install-deps.sh installs it)")
        return 77
    tmp = tempfile.mkdtemp(prefix="vtg-prom-")
    scen = promp = None
    ok = False
    try:
        scrape = os.path.join(tmp, "scrape.txt")
        scen_log = open(os.path.join(tmp, "run-scenario.out"), "w+")
        scen = subprocess.Popen([RUN_SCENARIO, "--bin", bindir, "--metrics", scrape, SCENARIO],
                                stdout=scen_log, stderr=subprocess.STDOUT)
        # run-scenario says "... coordinator http://IP:PORT, ..." once started.
        http = None
        deadline = time.monotonic() + 30
        while http is None and time.monotonic() < deadline and scen.poll() is None:
            time.sleep(0.2)
            scen_log.seek(0)
            m = re.search(r"coordinator (http://[0-9.]+:\d+)", scen_log.read())
            http = m.group(1) if m else None
        if http is None:
            raise RuntimeError("run-scenario did not start the coordinator")
        target = http[len("http://"):]

        port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: vantage\n"
                    "    static_configs:\n      - targets: ['%s']\n" % target)
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
        promp = subprocess.Popen([prom, "--config.file=" + cfg,
                                  "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                                  "--web.listen-address=127.0.0.1:%d" % port],
                                 stdout=prom_log, stderr=subprocess.STDOUT)
        base = "http://127.0.0.1:%d" % port

        # While the scenario runs (the outage lasts to its end), Prometheus
        # must come to see the failing region at 0 and the healthy one at 1.
        seen = None
        while scen.poll() is None:
            time.sleep(1)
            if promp.poll() is not None:
                raise RuntimeError("prometheus exited with %s" % promp.returncode)
            try:
                up = query(base, 'vantage_region_up{job="vantage"}')
                seen = up
            except (OSError, ValueError, RuntimeError):
                continue
            if up.get(("shop-api", "us-east")) == 0 and up.get(("shop-api", "us-west")) == 1:
                print("prometheus: vantage_region_up %s" % sorted(up.items()))
                break
        else:
            raise RuntimeError("prometheus never saw shop-api down in us-east and up in "
                               "us-west; last vantage_region_up: %s" % seen)
        state = query(base, 'vantage_region_state{check="shop-api",state="down"}')
        if state.get(("shop-api", "us-east")) != 1 or state.get(("shop-api", "us-west")) != 0:
            raise RuntimeError("vantage_region_state down: %s" % state)
        stop(promp)
        promp = None

        rc = scen.wait(timeout=120)
        scen_log.seek(0)
        out = scen_log.read()
        if rc != 0:
            raise RuntimeError("run-scenario exited %d:\n%s" % (rc, out))
        with open(scrape, "rb") as f:
            text = f.read()
        if b'vantage_region_up{check="shop-api",region="us-east"} 0\n' not in text:
            raise RuntimeError("the --metrics scrape lacks the down region:\n%s" % text.decode())
        if b'vantage_check_incident_open{check="shop-api",service="shop",kind="api"} 1\n' not in text:
            raise RuntimeError("the --metrics scrape lacks the open incident")
        with open(scrape, "rb") as f:
            pt = subprocess.run([promtool, "check", "metrics"], stdin=f, capture_output=True,
                                timeout=30)
        if pt.returncode != 0:
            raise RuntimeError("promtool check metrics: %s%s" % (pt.stdout.decode(),
                                                                 pt.stderr.decode()))
        print("promtool check metrics: clean (%d bytes)" % len(text))
        ok = True
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        for name in ("prometheus.log",):
            p = os.path.join(tmp, name)
            if os.path.exists(p):
                with open(p) as f:
                    print("--- %s (tail)\n%s" % (name, "".join(f.readlines()[-20:])))
    finally:
        stop(promp)
        stop(scen)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
