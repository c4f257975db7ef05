#!/usr/bin/python3
"""Real Prometheus against a real coordinator (issue 4, item 2).

Runs tests/e2e/run-scenario on prom-scenario.yaml (shop-api down in us-east
from 8 s to the end) in the background, starts Debian's `prometheus` on
loopback scraping the coordinator's /metrics every second, and asks the
Prometheus HTTP API until vantage_region_up reads 0 for (shop-api, us-east)
and 1 for (shop-api, us-west). Then lets the scenario finish (it must pass),
and runs `promtool check metrics` on the scrape run-scenario wrote with
--metrics (no warnings allowed), and checks the per (check, region) result
families in it against each other (check_result_families). Exit 0 pass,
1 fail, 77 skip (prometheus or promtool missing).

usage: prometheus.py BIN_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from harness import (HERE, finish, free_port, parse_scrape, promtool_check_metrics,  # noqa: E402
                     start_scenario, stop)

SCENARIO = os.path.join(HERE, "prom-scenario.yaml")


def query(base, expr):
    """Instant query: {frozenset(labels.items()): value} of the result vector."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=3) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError("query %s: %s" % (expr, doc))
    return {(m["metric"].get("check"), m["metric"].get("region")): float(m["value"][1])
            for m in doc["data"]["result"]}


def check_result_families(text):
    """The issue 4 families after prom-scenario: types as agreed, down results
    counted for the failing region, histograms cumulative and consistent, the
    total phase observed once per result. Returns a short summary."""
    samples, types = parse_scrape(text)
    want = {"vantage_region_degraded": "gauge", "vantage_check_results_total": "counter",
            "vantage_check_phase_duration_seconds": "histogram",
            "vantage_check_tls_cert_expiry_timestamp_seconds": "gauge",
            "vantage_resultlog_commit_duration_seconds": "histogram",
            "vantage_store_write_duration_seconds": "histogram"}
    for name, typ in want.items():
        if types.get(name) != typ:
            raise RuntimeError("%s: type %s, want %s" % (name, types.get(name), typ))
    results, degraded = {}, {}
    hist = {}  # (name, labels without le) -> {"buckets": [(le, v)], "count": v, "sum": v}
    for name, labels, v in samples:
        if name == "vantage_check_results_total":
            key = (labels["check"], labels["region"], labels["outcome"], labels["error_class"])
            results[key] = v
        elif name == "vantage_region_degraded":
            degraded[(labels["check"], labels["region"])] = v
        elif name.endswith(("_bucket", "_sum", "_count")):
            base, part = name.rsplit("_", 1)
            if types.get(base) != "histogram":
                continue
            le = labels.pop("le", None)
            h = hist.setdefault((base, tuple(sorted(labels.items()))), {"buckets": []})
            if part == "bucket":
                h["buckets"].append((float(le), v))
            else:
                h[part] = v
    for (base, labels), h in hist.items():
        b = h["buckets"]
        if not b or b[-1][0] != float("inf") or "count" not in h or "sum" not in h:
            raise RuntimeError("%s%s: incomplete histogram %s" % (base, labels, h))
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise RuntimeError("%s%s: buckets not cumulative: %s" % (base, labels, b))
        if b[-1][1] != h["count"] or h["sum"] < 0:
            raise RuntimeError("%s%s: +Inf %s, count %s, sum %s" % (base, labels, b[-1][1],
                                                                    h["count"], h["sum"]))
    down = results.get(("shop-api", "us-east", "down", "http_5xx"), 0)
    if down < 10:
        raise RuntimeError("shop-api us-east down/http_5xx results: %s (want >= 10)" % down)
    for key, v in results.items():
        if key[2] == "up" and key[3] != "none" or key[2] == "degraded" and key[3] != "none":
            raise RuntimeError("results_total %s: error class must be none" % (key,))
        if key[:2] == ("shop-api", "us-west") and key[2] == "down" and v > 0:
            raise RuntimeError("results_total %s = %s: us-west never failed" % (key, v))
    for check in ("shop-web", "shop-api"):
        for region in ("us-east", "us-west"):
            n = sum(v for k, v in results.items() if k[:2] == (check, region))
            if n < 20:
                raise RuntimeError("%s %s: only %s results counted" % (check, region, n))
            total = hist.get(("vantage_check_phase_duration_seconds",
                              (("check", check), ("phase", "total"), ("region", region))))
            if total is None or total["count"] != n:
                raise RuntimeError("%s %s: phase total count %s, results %s" % (
                    check, region, total and total["count"], n))
            if degraded.get((check, region)) != 0:
                raise RuntimeError("vantage_region_degraded %s %s: %s" % (
                    check, region, degraded.get((check, region))))
    commits = hist.get(("vantage_resultlog_commit_duration_seconds", ()), {}).get("count", 0)
    writes = hist.get(("vantage_store_write_duration_seconds", ()), {}).get("count", 0)
    if commits < 1 or writes < 1:
        raise RuntimeError("commit histogram count %s, store write count %s" % (commits, writes))
    return "%d down results in us-east, %d histograms, %d commits, %d store writes" % (
        down, len(hist), commits, writes)


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
        scen, scen_log, m = start_scenario(bindir, ["--metrics", scrape, SCENARIO],
                                           os.path.join(tmp, "run-scenario.out"))
        http = m.group(1)
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
        downs = query(base, 'sum by (check, region) '
                            '(vantage_check_results_total{check="shop-api",outcome="down"})')
        if not downs.get(("shop-api", "us-east"), 0) > 0:
            raise RuntimeError("prometheus: no down results counted for us-east: %s" % downs)
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
        complaint = promtool_check_metrics(promtool, text)
        if complaint:
            raise RuntimeError(complaint)
        print("promtool check metrics: clean (%d bytes)" % len(text))
        print("result families: %s" % check_result_families(text.decode()))
        ok = True
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        for name in ("prometheus.log",):
            p = os.path.join(tmp, name)
            if os.path.exists(p):
                with open(p) as f:
                    print("--- %s (tail)\n%s" % (name, "".join(f.readlines()[-20:])))
    finally:
        rc = finish(ok, tmp, promp, scen)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
