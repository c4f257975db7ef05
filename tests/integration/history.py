#!/usr/bin/python3
"""GET /api/v1/history and the per-minute rollups behind it (issue 4).

live:    runs tests/e2e/run-scenario on prom-scenario.yaml (shop-api down in
         us-east from 8 s to the end) and, while it runs, asks
         /api/v1/history?check=shop-api until us-east has a minute with
         down > 0 and state "down" (us-west never shows down); checks the
         400 / 404 answers for bad queries.
restart: runs history-restart.yaml (the same outage, the coordinator stopped
         from 12 s to 20 s; 40 s after it for the agents' reconnect backoff)
         and asks history again after the restart.
Both then open the coordinator's SQLite store (the run's work folder, kept
with VTG_KEEP=1) and check that the rollup_minute rows count exactly the
results the agents produced: nothing lost, nothing counted twice (the
shutdown writes every minute; after the restart the result log replay
skips the minutes the store had). Exit 0 pass, 1 fail.

usage: history.py BIN_DIR live|restart
"""
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import HERE, get_status_json as get, start_scenario, stop  # noqa: E402

SCENARIOS = {"live": os.path.join(HERE, "prom-scenario.yaml"),
             "restart": os.path.join(HERE, "history-restart.yaml")}


def check_errors(base):
    """Bad queries: 400 with a JSON error; an unknown check: 404 JSON."""
    cases = [("", 400), ("?minutes=10", 400), ("?check=shop-api&minutes=0", 400),
             ("?check=shop-api&minutes=1441", 400), ("?check=shop-api&minutes=abc", 400),
             ("?check=shop-api&minutes=10x", 400), ("?check=shop-api&minutes=+5", 400), ("?check=shop-api&step=60", 400),
             ("?check=%zz", 400), ("?check=nope", 404)]
    for q, want in cases:
        status, doc = get(base + "/api/v1/history" + q)
        if status != want or not isinstance(doc, dict) or "error" not in doc:
            raise RuntimeError("history%s: %s %s, want %d with a JSON error" % (q, status, doc, want))
    status, doc = get(base + "/api/v1/history?check=shop-web&minutes=1440")
    if status != 200 or not doc["regions"] or any(len(r["cells"]) != 1440 for r in doc["regions"]):
        raise RuntimeError("history minutes=1440: %s" % status)


def find_down(doc):
    """The us-east cells with down > 0 and state down; fails on any us-west down."""
    regions = {r["region"]: r["cells"] for r in doc["regions"]}
    for c in regions.get("us-west", []):
        if c["down"] != 0 or c["state"] == "down":
            raise RuntimeError("us-west shows down: %s" % c)
    for name, cells in regions.items():
        for i, c in enumerate(cells):
            if set(c) != {"t", "state", "up", "degraded", "down", "latency_avg_s", "coverage"}:
                raise RuntimeError("%s: cell fields %s" % (name, sorted(c)))
            if (c["up"] + c["degraded"] == 0) != (c["latency_avg_s"] is None):
                raise RuntimeError("%s: latency %s with %d answers" % (name, c["latency_avg_s"],
                                                                       c["up"] + c["degraded"]))
            # unknown is not up: a completed minute with probes is covered
            # (the minute of now only up to the watermark), and no minute
            # is more than whole
            if not 0 <= c["coverage"] <= 1 or (i < len(cells) - 1 and c["coverage"] == 0 and
                                                c["up"] + c["degraded"] + c["down"] > 0):
                raise RuntimeError("%s: coverage %s with %d probes" % (
                    name, c["coverage"], c["up"] + c["degraded"] + c["down"]))
    return [c for c in regions.get("us-east", []) if c["down"] > 0 and c["state"] == "down"]


def db_count(folder):
    """Sum of the stored rollup counts and the rows per (check, region, state)."""
    dbs = [p for p in glob.glob(os.path.join(folder, "**", "*.db"), recursive=True)]
    if len(dbs) != 1:
        raise RuntimeError("expected one store in %s, found %s" % (folder, dbs))
    con = sqlite3.connect(dbs[0])
    try:
        total = con.execute("SELECT COALESCE(SUM(up + degraded + down), 0) FROM rollup_minute"
                            ).fetchone()[0]
        rows = con.execute("SELECT c.name, r.region, r.down, r.state FROM rollup_minute r"
                           " JOIN checks c ON c.id = r.check_id").fetchall()
    finally:
        con.close()
    return total, rows


def produced(folder):
    """Results the agents say they produced (their logs, last line each)."""
    pat = re.compile(r"results produced by this run: (\d+)")
    n, agents = 0, 0
    for p in glob.glob(os.path.join(folder, "**", "*.log"), recursive=True):
        with open(p, "rb") as f:
            m = pat.findall(f.read().decode("utf-8", "replace"))
        if m:
            n += int(m[-1])
            agents += 1
    return n, agents


def main(argv):
    if len(argv) != 3 or argv[2] not in SCENARIOS:
        print(__doc__, file=sys.stderr)
        return 2
    bindir, mode = argv[1], argv[2]
    tmp = tempfile.mkdtemp(prefix="vtg-history-")
    scen, folder, ok = None, None, False
    try:
        scen, scen_log, m = start_scenario(
            bindir, [SCENARIOS[mode]], os.path.join(tmp, "run-scenario.out"),
            env=dict(os.environ, VTG_KEEP="1"),
            pattern=r"coordinator (http://[0-9.]+:\d+), .* folder (\S+)")
        http, folder = m.group(1), m.group(2)

        errors_checked, seen, last = False, None, None
        while scen.poll() is None:
            time.sleep(1)
            scen_log.seek(0)
            restarted = "coordinator started again" in scen_log.read()
            if mode == "restart" and not restarted:
                continue
            try:
                status, doc = get(http + "/api/v1/history?check=shop-api&minutes=5")
            except OSError:
                continue
            if status != 200:
                continue
            last = doc
            if not errors_checked:
                check_errors(http)
                errors_checked = True
            seen = find_down(doc)
            if seen:
                break
        if not seen:
            raise RuntimeError("history never showed us-east down; last: %s" % json.dumps(last))
        print("history: us-east down minutes %s" % [(c["t"], c["down"], c["up"]) for c in seen])

        rc = scen.wait(timeout=180)
        scen_log.seek(0)
        out = scen_log.read()
        if rc != 0:
            raise RuntimeError("run-scenario exited %d:\n%s" % (rc, out))
        total, rows = db_count(folder)
        n, agents = produced(folder)
        print("store: %d results in %d rollup rows; %d agents produced %d" % (total, len(rows),
                                                                              agents, n))
        if agents == 0 or total != n:
            raise RuntimeError("rollup rows count %d results, the agents produced %d" % (total, n))
        if not any(r[0] == "shop-api" and r[1] == "us-east" and r[2] > 0 and r[3] == 3
                   for r in rows):
            raise RuntimeError("no stored shop-api us-east minute with down > 0 and state down")
        if any(r[0] == "shop-web" and (r[2] > 0 or r[3] == 3) for r in rows):
            raise RuntimeError("a stored shop-web minute shows down: %s" % rows)
        ok = True
    except (RuntimeError, OSError, ValueError, KeyError, sqlite3.Error,
            subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        p = os.path.join(tmp, "run-scenario.out")
        if os.path.exists(p):
            with open(p) as f:
                print("--- run-scenario (tail)\n%s" % "".join(f.readlines()[-30:]))
    finally:
        stop(scen)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
            if folder and os.path.isdir(folder) and os.path.basename(folder).startswith("vtg-e2e-"):
                shutil.rmtree(folder, ignore_errors=True)
        else:
            print("kept %s and %s" % (tmp, folder))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
