#!/usr/bin/python3
"""Measures how close the coordinator's onsets and recoveries are to the
truth: runs end-to-end scenarios (default: tests/e2e/scenarios/precision-*.yaml)
N times each through tests/e2e/run-scenario --report, pairs each expected
incident with a reported one (the harness's rule: in onset order, the
unpaired reported incident of the same check with the nearest onset), and
prints the distribution of |measured - true| for onset and resolved, and of
the reported onset_window_s / resolved_window_s where the coordinator gives
them: n, median, p90, max, per scenario and overall.

usage: precision.py [--bin DIR] [--runs N] [--jobs J] [--out FILE]
                    [--reports DIR] [--from-reports DIR] [SCENARIO.yaml ...]

At most 3 runs go side by side (each is a simulator, a coordinator and the
scenario's agents); each run is bounded by its scenario's duration plus
180 s. Each run leaves REPORT.json (run-scenario --report), REPORT.json.log
(its output) and REPORT.json.meta (scenario, binaries, exit status) in the
reports folder; --from-reports DIR analyses those again, running nothing.

The truth is the scenario's `expect` (the fault windows); a region's truth
is the incident's unless the scenario gives the region its own times.
Exit status: 0 when every run produced a report, 1 otherwise, 2 on usage.
"""

import argparse
import concurrent.futures
import importlib.machinery
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HARNESS = os.path.join(REPO, "tests", "e2e", "run-scenario")
MAX_JOBS = 3
RUN_SLACK_S = 180   # start-up, the final query and the stop, beyond `duration`


def load_harness():
    """run-scenario as a module: its scenario loader and time parser are
    the ones the suite uses, so the truth here is the truth there."""
    loader = importlib.machinery.SourceFileLoader("vtg_run_scenario", HARNESS)
    spec = importlib.util.spec_from_loader("vtg_run_scenario", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


H = load_harness()


# ---------------------------------------------------------------- pairing

def pair(sc, incidents, t0):
    """Pairs the scenario's expected incidents with the reported ones.
    Returns (rows, missing, unexpected): one row per pair with the signed
    errors (seconds, measured - true; None where either side is open) and
    the reported windows; per region too."""
    reported = []
    for inc in incidents:
        r = {"check": inc.get("check"), "raw": inc,
             "onset": H.parse_time(inc.get("onset")), "resolved": H.parse_time(inc.get("resolved"))}
        r["onset"] = None if r["onset"] is None else r["onset"] - t0
        r["resolved"] = None if r["resolved"] is None else r["resolved"] - t0
        reported.append(r)
    ex = sc["expect"]["incidents"]
    order = sorted(range(len(ex)), key=lambda i: (ex[i]["onset"], i))
    paired, rows, missing = set(), [], 0
    for i in order:
        e = ex[i]
        best = None
        for j, r in enumerate(reported):
            if j in paired or r["check"] != e["check"] or r["onset"] is None:
                continue
            d = abs(r["onset"] - e["onset"])
            if best is None or d < best[0]:
                best = (d, j)
        if best is None:
            missing += 1
            continue
        paired.add(best[1])
        r = reported[best[1]]
        raw = r["raw"]
        row = {"check": e["check"], "true_onset": e["onset"], "true_resolved": e["resolved"],
               "onset_err": r["onset"] - e["onset"],
               "resolved_err": (None if r["resolved"] is None or e["resolved"] is None
                                else r["resolved"] - e["resolved"]),
               "onset_window": number(raw.get("onset_window_s")),
               "resolved_window": number(raw.get("resolved_window_s")),
               "regions_ok": sorted(x.get("region") for x in raw.get("regions") or [] if isinstance(x, dict))
               == sorted(e["regions"]),
               "waves": len(raw.get("waves") or []),
               "regions": []}
        by_name = {x.get("region"): x for x in raw.get("regions") or [] if isinstance(x, dict)}
        for name in e["regions"]:
            eo, er = e.get("region_times", {}).get(name, (e["onset"], e["resolved"]))
            x = by_name.get(name)
            if x is None:
                continue
            ro, rr = H.parse_time(x.get("onset")), H.parse_time(x.get("resolved"))
            row["regions"].append({
                "region": name,
                "onset_err": None if ro is None else ro - t0 - eo,
                "resolved_err": None if rr is None or er is None else rr - t0 - er,
                "onset_window": number(x.get("onset_window_s")),
                "resolved_window": number(x.get("resolved_window_s"))})
        rows.append(row)
    return rows, missing, len(reported) - len(paired)


def number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# ---------------------------------------------------------------- statistics

def dist(values):
    """n, median, p90 (nearest rank), max of the values (already absolute)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    if n % 2:
        med = v[n // 2]
    else:
        med = (v[n // 2 - 1] + v[n // 2]) / 2
    p90 = v[max(0, -(-9 * n // 10) - 1)]
    return {"n": n, "median": med, "p90": p90, "max": v[-1], "mean": sum(v) / n}


def fmt_dist(d):
    if d is None:
        return "n=0 (none reported)"
    return "n=%-3d median %5.2f  p90 %5.2f  max %5.2f  mean %5.2f" % (d["n"], d["median"], d["p90"],
                                                                     d["max"], d["mean"])


def summarise(title, rows, tol, out):
    """Prints the four distributions of one group of pairs."""
    onset = [abs(r["onset_err"]) for r in rows]
    resolved = [abs(r["resolved_err"]) for r in rows if r["resolved_err"] is not None]
    ow = [r["onset_window"] for r in rows]
    rw = [r["resolved_window"] for r in rows]
    out("%s" % title)
    out("  onset    |error| s   %s" % fmt_dist(dist(onset)))
    out("  resolved |error| s   %s" % fmt_dist(dist(resolved)))
    out("  onset    window  s   %s" % fmt_dist(dist(ow)))
    out("  resolved window  s   %s" % fmt_dist(dist(rw)))
    so = [r["onset_err"] for r in rows]
    sr = [r["resolved_err"] for r in rows if r["resolved_err"] is not None]
    if so:
        out("  signed mean: onset %+.2f s, resolved %s" % (sum(so) / len(so),
                                                          "%+.2f s" % (sum(sr) / len(sr)) if sr else "n/a"))
    if tol is not None and rows:
        within = sum(1 for r in rows if abs(r["onset_err"]) <= tol and r["resolved_err"] is not None
                     and abs(r["resolved_err"]) <= tol)
        out("  outages with onset and resolved within %g s: %d/%d" % (tol, within, len(rows)))
    reg = [x for r in rows for x in r["regions"]]
    if reg:
        out("  per region: onset |error| %s" % fmt_dist(dist([abs(x["onset_err"]) for x in reg
                                                             if x["onset_err"] is not None])))
        out("              resolved |error| %s" % fmt_dist(dist([abs(x["resolved_err"]) for x in reg
                                                                if x["resolved_err"] is not None])))


# ---------------------------------------------------------------- running

def run_one(job):
    """One run-scenario --report; returns the job with status, report, tail."""
    time.sleep(job.get("delay", 0))
    t = time.monotonic()
    try:
        p = subprocess.run([HARNESS, "--bin", job["bin"], "--report", job["report"], job["path"]],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=job["duration"] + RUN_SLACK_S)
        job["status"] = p.returncode
        job["stdout"] = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        job["status"] = "timeout"
        job["stdout"] = (e.stdout or b"").decode("utf-8", "replace")
    job["seconds"] = time.monotonic() - t
    with open(job["report"] + ".log", "w") as f:
        f.write(job["stdout"])
    with open(job["report"] + ".meta", "w") as f:
        json.dump({"scenario": job["path"], "bin": job["bin"], "status": job["status"],
                   "seconds": round(job["seconds"], 1)}, f)
        f.write("\n")
    return job


def read_report(path):
    try:
        with open(path) as f:
            rep = json.load(f)
        return rep if isinstance(rep, dict) and "t0" in rep and "incidents" in rep else None
    except (OSError, ValueError):
        return None


def main(argv):
    ap = argparse.ArgumentParser(prog="precision.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                    help="folder with vantage-coordinator, vantage-probe, vantage-sim")
    ap.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    ap.add_argument("--jobs", type=int, default=MAX_JOBS, help="runs side by side (at most 3)")
    ap.add_argument("--out", metavar="FILE", help="also write the summary there")
    ap.add_argument("--reports", metavar="DIR", help="keep the reports and logs there (default: a new temp dir)")
    ap.add_argument("--from-reports", metavar="DIR", help="only analyse the reports left in DIR")
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.jobs < 1:
        ap.error("--runs and --jobs must be at least 1")
    jobs_n = min(args.jobs, MAX_JOBS)
    lines = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    if args.from_reports:
        jobs = []
        for name in sorted(os.listdir(args.from_reports)):
            if name.endswith(".json"):
                rp = os.path.join(args.from_reports, name)
                try:
                    with open(rp + ".meta") as f:
                        meta = json.load(f)
                except (OSError, ValueError):
                    continue
                jobs.append({"path": meta["scenario"], "report": rp, "status": meta["status"],
                             "bin": meta["bin"], "seconds": meta["seconds"]})
        binname = ", ".join(sorted({j["bin"] for j in jobs})) + " (from %s)" % args.from_reports
    else:
        scen = args.scenarios or sorted(
            os.path.join(REPO, "tests", "e2e", "scenarios", n)
            for n in os.listdir(os.path.join(REPO, "tests", "e2e", "scenarios"))
            if n.startswith("precision-") and n.endswith(".yaml"))
        rdir = args.reports or tempfile.mkdtemp(prefix="vtg-precision-")
        os.makedirs(rdir, exist_ok=True)
        binname = os.path.abspath(args.bin)
        jobs = []
        loaded = []
        for path in scen:
            try:
                loaded.append((path, H.load_scenario(path)))
            except H.ScenarioError as e:
                print(str(e), file=sys.stderr)
                return 2
        # Round-robin over the scenarios, so runs side by side are of
        # different scenarios, and each run starts after a random delay of
        # up to one probe interval: the probes' phases are fixed against the
        # wall clock, so runs of one scenario started together would see
        # the same phases and measure the same errors (not independent).
        for k in range(args.runs):
            for path, sc in loaded:
                jobs.append({"path": os.path.abspath(path), "bin": binname, "duration": sc["duration"],
                             "delay": random.uniform(0, sc["interval"]),
                             "report": os.path.join(rdir, "%s-run%d.json" % (sc["name"], k + 1))})
        print("precision: %d runs, %d at a time, reports in %s" % (len(jobs), jobs_n, rdir), flush=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs_n) as pool:
            futs = [pool.submit(run_one, j) for j in jobs]
            for f in concurrent.futures.as_completed(futs):
                j = f.result()
                print("precision: %s -> exit %s in %.0f s" % (os.path.basename(j["report"]), j["status"],
                                                             j["seconds"]), flush=True)

    out("precision of onsets and recoveries, binaries %s, %s" % (binname, time.strftime("%Y-%m-%d %H:%M UTC",
                                                                                     time.gmtime())))
    out("errors are |measured - true| in seconds; windows are the reported onset_window_s/resolved_window_s")
    out()
    all_rows, by_scen, ok = [], {}, True
    for j in sorted(jobs, key=lambda j: j["report"]):
        sc = H.load_scenario(j["path"])
        name = sc["name"]
        g = by_scen.setdefault(name, {"rows": [], "runs": 0, "passed": 0, "missing": 0, "unexpected": 0,
                                      "tol": sc["expect"]["tolerance_s"], "noreport": 0})
        g["runs"] += 1
        g["passed"] += 1 if j["status"] == 0 else 0
        rep = read_report(j["report"])
        if rep is None:
            g["noreport"] += 1
            ok = False
            out("%s: no report (exit %s); log %s.log" % (os.path.basename(j["report"]), j["status"], j["report"]))
            continue
        rows, missing, unexpected = pair(sc, rep["incidents"], H.parse_time(rep["t0"]))
        g["rows"] += rows
        g["missing"] += missing
        g["unexpected"] += unexpected
        out("%s: exit %s, %d/%d paired, %d unexpected" % (os.path.basename(j["report"]), j["status"],
                                                         len(rows), len(sc["expect"]["incidents"]), unexpected))
        for r in rows:
            out("  true %7.2f..%-7.2f onset %+6.2f resolved %s  windows %s/%s%s" % (
                r["true_onset"], r["true_resolved"] if r["true_resolved"] is not None else float("nan"),
                r["onset_err"], "%+6.2f" % r["resolved_err"] if r["resolved_err"] is not None else "  open",
                H._fmt_w(r["onset_window"]) if hasattr(H, "_fmt_w") else r["onset_window"],
                H._fmt_w(r["resolved_window"]) if hasattr(H, "_fmt_w") else r["resolved_window"],
                "" if r["regions_ok"] and r["waves"] == 1 else "  (regions %s, waves %d)" % (
                    "ok" if r["regions_ok"] else "differ", r["waves"])))
        all_rows += rows
    out()
    for name in sorted(by_scen):
        g = by_scen[name]
        summarise("%s: %d/%d runs passed, %d outages paired, %d missing, %d unexpected%s" % (
            name, g["passed"], g["runs"], len(g["rows"]), g["missing"], g["unexpected"],
            ", %d runs without a report" % g["noreport"] if g["noreport"] else ""), g["rows"], g["tol"], out)
        out()
    summarise("overall: %d outages paired over %d runs" % (len(all_rows), len(jobs)), all_rows, None, out)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
