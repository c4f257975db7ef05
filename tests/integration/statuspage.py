#!/usr/bin/python3
"""The status page in a real browser (issue 4, item 4).

Runs tests/e2e/run-scenario on statuspage-scenario.yaml (shop-api down in
us-east from 6 s to the end; eu-west and ap-southeast up) in the
background with --status-page. Once the coordinator's JSON API shows
shop-api down in us-east with an open incident, headless Chromium loads
the page twice: --dump-dom (asserted on: the map's land path, one dot per
agent, us-east's dots and its latest shop-api cell down, the other regions
up, an incident row for shop-api and none for shop-web, the overall state
down) and --screenshot (saved in the working directory, its path printed;
a taller full-page one too). Then the scenario must pass and the page it
wrote with --status-page must satisfy the same assertions.

Exit 0 pass, 1 fail, 77 skip (no chromium: Debian package `chromium`,
deploy/install-deps.sh installs it).

usage: statuspage.py BIN_DIR
"""
import html.parser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import HERE, finish, get_json, start_scenario  # noqa: E402

SCENARIO = os.path.join(HERE, "statuspage-scenario.yaml")
AGENTS = {"us-east": 2, "eu-west": 2, "ap-southeast": 1}
DOWN_REGION = "us-east"
DEADLINE_S = 120


class Dom(html.parser.HTMLParser):
    """Every element as (tag, attrs dict), in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: (v or "") for k, v in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def classes(attrs):
    return set(attrs.get("class", "").split())


def check_dom(text, where):
    """Raises RuntimeError naming `where` when the page is not as expected."""
    dom = Dom()
    dom.feed(text)
    els = dom.elements

    def fail(msg):
        raise RuntimeError("%s: %s" % (where, msg))

    land = [a for t, a in els if t == "path" and a.get("id") == "land"]
    if len(land) != 1 or len(land[0].get("d", "")) < 5000:
        fail("no world map path#land (or a short one)")
    if not any(t == "svg" and a.get("id") == "map" for t, a in els):
        fail("no svg#map")
    dots = [a for t, a in els if t == "circle" and "agent" in classes(a)]
    per_region = {}
    for a in dots:
        per_region[a.get("data-region")] = per_region.get(a.get("data-region"), 0) + 1
    if per_region != AGENTS:
        fail("agent dots per region %s, expected %s" % (per_region, AGENTS))
    for a in dots:
        want = "state-down" if a["data-region"] == DOWN_REGION else "state-up"
        if want not in classes(a):
            fail("agent %s (%s) has class %r, expected %s"
                 % (a.get("data-agent"), a["data-region"], a.get("class"), want))

    # The latest run of minutes (greatest data-t) of each (check, region).
    latest = {}
    for t, a in els:
        if t != "rect" or "cell" not in classes(a):
            continue
        key = (a.get("data-check"), a.get("data-region"))
        if key not in latest or a.get("data-t", "") >= latest[key].get("data-t", ""):
            latest[key] = a
    for check in ("shop-web", "shop-api"):
        for region in AGENTS:
            a = latest.get((check, region))
            if a is None:
                fail("no heat strip cell for (%s, %s)" % (check, region))
            down = check == "shop-api" and region == DOWN_REGION
            want = "state-down" if down else "state-up"
            if want not in classes(a):
                fail("latest cell of (%s, %s) has class %r, expected %s"
                     % (check, region, a.get("class"), want))

    rows = [a for t, a in els if t == "tr" and "incident" in classes(a)]
    if [a.get("data-check") for a in rows] != ["shop-api"]:
        fail("incident rows for %s, expected exactly one for shop-api"
             % [a.get("data-check") for a in rows])
    overall = [a for t, a in els if a.get("id") == "overall"]
    if not overall or overall[0].get("data-state") != "down":
        fail("#overall data-state %r, expected down"
             % (overall[0].get("data-state") if overall else None))
    return len(dots), len(latest), len(text)


def chromium_run(exe, args, timeout):
    """Runs Chromium in its own process group; kills the group on timeout
    (its helpers would otherwise outlive it). Returns (rc, stdout, stderr)."""
    p = subprocess.Popen([exe] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise RuntimeError("chromium %s did not finish in %d s" % (args[-1], timeout))
    return p.returncode, out, err


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bindir = argv[1]
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("SKIP: chromium is not installed (Debian package `chromium`; "
              "deploy/install-deps.sh installs it)")
        return 77
    tmp = tempfile.mkdtemp(prefix="vtg-statuspage-")
    shot = os.path.join(os.getcwd(), "statuspage.png")
    shot_full = os.path.join(os.getcwd(), "statuspage-full.png")
    page_file = os.path.join(tmp, "page.html")
    scen = scen_log = None
    ok = False
    start = time.monotonic()
    try:
        scen, scen_log, m = start_scenario(bindir, ["--status-page", page_file, SCENARIO],
                                           os.path.join(tmp, "run-scenario.out"))
        http = m.group(1)

        # Wait for the outage to be seen: us-east down for shop-api, the other
        # regions up, and its incident open.
        seen = None
        while scen.poll() is None:
            if time.monotonic() - start > DEADLINE_S:
                raise RuntimeError("deadline passed waiting for the outage")
            time.sleep(0.5)
            try:
                status = get_json(http + "/api/v1/status")
                outages = get_json(http + "/api/v1/outages")
            except (OSError, ValueError):
                continue
            st = {(s["check"], s["region"]): s["state"] for s in status}
            seen = st
            want = {(c, r): ("down" if (c, r) == ("shop-api", DOWN_REGION) else "up")
                    for c in ("shop-web", "shop-api") for r in AGENTS}
            if st == want and any(o["check"] == "shop-api" and o["resolved"] is None
                                  for o in outages):
                break
        else:
            raise RuntimeError("the scenario ended before the outage showed; last status %s"
                               % seen)
        print("outage seen after %.1f s: %s" % (time.monotonic() - start, sorted(seen.items())))

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
        rc, out, err = chromium_run(exe, flags + ["--user-data-dir=" + os.path.join(tmp, "p1"),
                                                  "--dump-dom", http + "/"], 60)
        if rc != 0 or not out:
            raise RuntimeError("chromium --dump-dom exited %d: %s" % (rc, err.decode()[-2000:]))
        dom = out.decode("utf-8", "replace")
        with open(os.path.join(tmp, "dom.html"), "w") as f:
            f.write(dom)
        n_dots, n_cells, size = check_dom(dom, "chromium DOM")
        print("chromium DOM: %d agent dots, %d (check, region) strips, %d bytes: as expected"
              % (n_dots, n_cells, size))

        for path, size in ((shot, "1400,1000"), (shot_full, "1400,1500")):
            rc, out, err = chromium_run(
                exe, flags + ["--user-data-dir=" + os.path.join(tmp, "p-" + size),
                              "--screenshot=" + path, "--window-size=" + size, http + "/"], 60)
            if rc != 0 or not os.path.exists(path) or os.path.getsize(path) < 10000:
                raise RuntimeError("chromium --screenshot exited %d: %s"
                                   % (rc, err.decode()[-2000:]))
            print("screenshot: %s (%d bytes, window %s)" % (path, os.path.getsize(path), size))
        if scen.poll() is not None:
            raise RuntimeError("the scenario ended while Chromium was still loading the page "
                               "(a loaded machine?); the screenshots may show an error page")

        rc = scen.wait(timeout=max(10, DEADLINE_S - (time.monotonic() - start)))
        scen_log.seek(0)
        log = scen_log.read()
        if rc != 0:
            raise RuntimeError("run-scenario exited %d:\n%s" % (rc, log))
        with open(page_file, encoding="utf-8") as f:
            check_dom(f.read(), "run-scenario --status-page file")
        print("run-scenario --status-page: as expected")
        ok = True
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        if scen_log is not None:
            scen_log.seek(0)
            print("--- run-scenario output (tail)\n%s" % "".join(scen_log.readlines()[-20:]))
    finally:
        rc = finish(ok, tmp, scen)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
