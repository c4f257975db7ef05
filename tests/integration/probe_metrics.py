#!/usr/bin/python3
"""The agent's own /metrics end to end: a real coordinator (agent_link.py's
Coordinator: one check, 1 s interval, against a closed port so every probe
ends at once) and a real vantage-probe with metrics_listen on 127.0.0.1
port 0. Scrapes the agent, runs `promtool check metrics` on the scrape
(must be clean, no lint findings), and checks that probes_total grows and
the uplink reads connected. Also: a bad metrics_listen is a config error
with FILE:LINE:COL, and other paths answer 404.

usage: probe_metrics.py BIN_DIR
exit 0 pass, 1 fail, 77 skip (promtool missing).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_link import Coordinator  # noqa: E402
from harness import promtool_check_metrics  # noqa: E402

DEADLINE_S = 30


def agent_config(path, work, coord_port, metrics_listen):
    with open(path, "w") as f:
        f.write("id: us-east-1\nregion: us-east\ncountry: US\nlat: 40.7\nlon: -74.0\n"
                "coordinator: 127.0.0.1:%d\nspool_dir: %s/spool\nplaintext: true\n"
                "metrics_listen: %s\n" % (coord_port, work, metrics_listen))


def parse(text):
    """{series line without value: float} from an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        assert r.status == 200, r.status
        ctype = r.headers.get("Content-Type", "")
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        return r.read().decode()


def probes_total(samples):
    return sum(v for k, v in samples.items() if k.startswith("vantage_probe_probes_total{"))


def wait_for(pred, what, deadline):
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def t_bad_listen(bindir, work):
    cfg = os.path.join(work, "bad.yaml")
    agent_config(cfg, work, 7300, "localhost:http")
    p = subprocess.run([os.path.join(bindir, "vantage-probe"), "--config", cfg, "--check-config"],
                       capture_output=True, timeout=10)
    err = p.stderr.decode()
    assert p.returncode == 2, "bad metrics_listen: exit %d, %s" % (p.returncode, err)
    assert re.search(r"bad\.yaml:9:\d+: .*metrics_listen", err), err


def main():
    bindir = sys.argv[1]
    promtool = shutil.which("promtool")
    if promtool is None:
        print("SKIP: promtool not installed (Debian package `prometheus`)")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="vtg-probe-metrics-")
    t_bad_listen(bindir, work)
    coord = Coordinator(bindir)
    cfg = os.path.join(work, "agent.yaml")
    agent_config(cfg, work, coord.agent_port, "127.0.0.1:0")
    alog = open(os.path.join(work, "agent.log"), "w+")
    agent = subprocess.Popen([os.path.join(bindir, "vantage-probe"), "--config", cfg],
                             stdout=alog, stderr=subprocess.STDOUT)
    ok = False
    try:
        deadline = time.time() + DEADLINE_S

        def port():
            m = re.search(r"metrics listening on 127\.0\.0\.1:(\d+)", open(alog.name).read())
            return int(m.group(1)) if m else None

        mport = wait_for(port, "'metrics listening on' in the agent log", deadline)

        # Connected, and at least one probe finished.
        def ready():
            s = parse(scrape(mport))
            return s if s.get("vantage_probe_uplink_connected") == 1 and probes_total(s) >= 1 \
                else None

        first = wait_for(ready, "uplink_connected 1 and a finished probe", deadline)
        assert first['vantage_probe_uplink_state{state="connected"}'] == 1, first
        assert first['vantage_probe_uplink_state{state="backoff"}'] == 0, first
        assert first['vantage_probe_probes_total{check="shop-web",outcome="down"}'] >= 1, first
        assert first['vantage_probe_spool_max_bytes'] > 0, first
        assert first["vantage_probe_start_lag_seconds_count"] >= 1, first
        assert any(k.startswith('vantage_probe_build_info{') and 'agent="us-east-1"' in k
                   for k in first), first
        n0 = probes_total(first)

        # probes_total grows (1 s interval).
        wait_for(lambda: probes_total(parse(scrape(mport))) > n0, "probes_total to grow", deadline)
        # Results flow: the coordinator acknowledged some.
        wait_for(lambda: parse(scrape(mport)).get("vantage_probe_results_acked_total", 0) >= 1,
                 "results_acked_total >= 1", deadline)

        text = scrape(mport)
        complaint = promtool_check_metrics(promtool, text)
        if complaint:
            raise AssertionError("%s\n%s" % (complaint, text))
        print("promtool check metrics: clean (%d bytes, %d samples)" % (len(text),
                                                                       len(parse(text))))

        try:
            urllib.request.urlopen("http://127.0.0.1:%d/" % mport, timeout=5)
            raise AssertionError("/ on the agent's listener did not answer 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code

        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(10)
        assert rc == 0, "vantage-probe exited %d on SIGTERM" % rc
        ok = True
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)
        alive, rc = coord.stop()
        if not alive or rc != 0:
            print("coordinator: alive %s, exit %s" % (alive, rc), file=sys.stderr)
            ok = False
        if not ok:
            print("---- agent log\n" + open(alog.name).read()[-4000:], file=sys.stderr)
            print("---- coordinator log\n" + coord.log_text()[-3000:], file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(coord.dir, ignore_errors=True)
    print("ok" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
