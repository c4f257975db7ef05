#!/usr/bin/python3
"""Checks the files operators deploy (deploy/), one CTest entry per part.

usage: check.py SOURCE_DIR BIN_DIR PART
PART:
  prom-config     promtool check config deploy/prometheus/prometheus.yml
  prom-rules      promtool check rules; every alert has a known severity, a
                  summary and a description
  prom-rules-test promtool test rules deploy/prometheus/vantage-rules.test.yml;
                  every alert of the rules file is exercised by it
  prometheus-live Debian's prometheus with prometheus.yml and the rules as
                  shipped, its targets pointed at a live coordinator and three
                  agents with faults: all targets up, every rule evaluates
                  without error, recording rules produce series, the alerts
                  the faults call for go pending (outage, regional outages,
                  certificate) with annotations that render; every dashboard
                  query runs on that data without error
  systemd         systemd-analyze verify on both units (no warning allowed),
                  `systemd-analyze security --offline` exposure at most 1.5,
                  the hardening directives present, StateDirectory matching
                  the example configs' paths
  configs         the example configs pass the daemons' --check-config, and
                  document every key their parsers accept
  grafana         the dashboard JSON: structure, datasource, variables, every
                  PromQL expression valid (promtool), panel ids unique
  metric-names    every metric family the rules and the dashboard use is one
                  a running coordinator and agent expose (live scrape of both,
                  started here)
  cloud-init      #cloud-config header, YAML, the embedded unit and sysusers
                  file identical to deploy/systemd, the embedded probe.yaml
                  valid once its placeholders are filled, the runtime
                  packages cover the agent binary's libraries, the install
                  script parses (bash -n; shellcheck if present), and
                  `cloud-init schema` if cloud-init is installed
Exit 0 pass, 1 fail, 77 skip (a tool it needs is missing; it says which).
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml

# The integration tests' helpers (free_port, stop).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import free_port, stop  # noqa: E402

SKIP = 77


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def need(tool, why):
    path = shutil.which(tool)
    if path is None:
        raise Skip("%s not installed (%s)" % (tool, why))
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


# ------------------------------------------------------------------ prometheus
def prom_config(src, _bindir, tmp):
    promtool = need("promtool", "Debian package prometheus; deploy/install-deps.sh")
    d = os.path.join(src, "deploy", "prometheus")
    r = run([promtool, "check", "config", os.path.join(d, "prometheus.yml")])
    check(r.returncode == 0, "promtool check config:\n" + r.stdout + r.stderr)
    cfg = load_yaml(os.path.join(d, "prometheus.yml"))
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    check(set(jobs) >= {"vantage-coordinator", "vantage-probe"},
          "scrape jobs vantage-coordinator and vantage-probe expected, got %s" % sorted(jobs))
    check("vantage-rules.yml" in cfg.get("rule_files", []), "rule_files must load vantage-rules.yml")
    # The coordinator target is the example config's listen.http.
    coord = load_yaml(os.path.join(src, "deploy", "coordinator.example.yaml"))
    targets = [t for sc in jobs["vantage-coordinator"]["static_configs"] for t in sc["targets"]]
    check(coord["listen"]["http"] in targets,
          "coordinator target %s is not the example's listen.http %s" % (targets,
                                                                         coord["listen"]["http"]))
    # The agents' file_sd targets: every entry names agent and region, port
    # as the probe example's metrics_listen.
    probe = load_yaml(os.path.join(src, "deploy", "probe.example.yaml"))
    port = probe["metrics_listen"].rsplit(":", 1)[1]
    for f in jobs["vantage-probe"]["file_sd_configs"][0]["files"]:
        for entry in load_yaml(os.path.join(d, f)):
            check(set(entry["labels"]) >= {"agent", "region"}, "%s: %s lacks agent/region" % (f, entry))
            for t in entry["targets"]:
                check(t.endswith(":" + port), "%s: target %s not on port %s" % (f, t, port))
    print("prometheus.yml valid; jobs %s" % ", ".join(sorted(jobs)))


def rule_groups(src):
    return load_yaml(os.path.join(src, "deploy", "prometheus", "vantage-rules.yml"))["groups"]


def prom_rules(src, _bindir, tmp):
    promtool = need("promtool", "Debian package prometheus; deploy/install-deps.sh")
    path = os.path.join(src, "deploy", "prometheus", "vantage-rules.yml")
    r = run([promtool, "check", "rules", path])
    check(r.returncode == 0, "promtool check rules:\n" + r.stdout + r.stderr)
    check("SUCCESS" in r.stdout and "WARNING" not in r.stdout + r.stderr,
          "promtool check rules is not clean:\n" + r.stdout + r.stderr)
    alerts = [x for g in rule_groups(src) for x in g["rules"] if "alert" in x]
    required = {"VantageOutage", "VantageRegionalOutage", "VantageCertificateExpiring",
                "VantageAgentDown", "VantageClockSkew", "VantageAgentImpaired",
                "VantageCoordinatorDown"}
    names = {a["alert"] for a in alerts}
    check(names >= required, "missing alerts: %s" % sorted(required - names))
    for a in alerts:
        check(a.get("labels", {}).get("severity") in ("critical", "warning"),
              "%s: severity label must be critical or warning" % a["alert"])
        ann = a.get("annotations", {})
        check(ann.get("summary") and ann.get("description"),
              "%s: summary and description annotations required" % a["alert"])
    # Region-level alerts honour maintenance windows.
    for a in alerts:
        if a["alert"] in ("VantageOutage", "VantageRegionalOutage"):
            check("vantage_check_maintenance" in a["expr"],
                  "%s must be gated by vantage_check_maintenance" % a["alert"])
    print("%d alerts, all with severity, summary and description" % len(alerts))


def prom_rules_test(src, _bindir, tmp):
    promtool = need("promtool", "Debian package prometheus; deploy/install-deps.sh")
    d = os.path.join(src, "deploy", "prometheus")
    r = run([promtool, "test", "rules", "vantage-rules.test.yml"], cwd=d)
    check(r.returncode == 0, "promtool test rules:\n" + r.stdout + r.stderr)
    tests = load_yaml(os.path.join(d, "vantage-rules.test.yml"))["tests"]
    fired, quiet = set(), set()
    for t in tests:
        for at in t.get("alert_rule_test", []):
            (fired if at.get("exp_alerts") else quiet).add(at["alertname"])
    names = {x["alert"] for g in rule_groups(src) for x in g["rules"] if "alert" in x}
    check(names <= fired, "alerts never shown firing by the tests: %s" % sorted(names - fired))
    check(names <= quiet, "alerts never shown quiet by the tests: %s" % sorted(names - quiet))
    print("promtool test rules passed; %d test groups cover all %d alerts firing and quiet"
          % (len(tests), len(names)))


# ------------------------------------------------------------------ systemd
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "PrivateDevices=yes", "CapabilityBoundingSet=", "LockPersonality=yes",
             "MemoryDenyWriteExecute=yes", "RestrictNamespaces=yes",
             "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources",
             "SystemCallArchitectures=native", "PrivateUsers=yes",
             "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectControlGroups=yes",
             "RestrictSUIDSGID=yes", "RestrictRealtime=yes", "Restart=on-failure",
             "User=vantage", "ConfigurationDirectory=vantage"]


def unit_settings(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k, []).append(v)
    return out


def systemd(src, bindir, tmp):
    sa = need("systemd-analyze", "Debian package systemd")
    d = os.path.join(src, "deploy", "systemd")
    probe = load_yaml(os.path.join(src, "deploy", "probe.example.yaml"))
    coord = load_yaml(os.path.join(src, "deploy", "coordinator.example.yaml"))
    # Absent keys default to ./vantage.db (the unit's WorkingDirectory is the
    # state directory) and /var/lib/vantage-probe.
    want_state = {"vantage-coordinator": [p for p in (coord.get("store"), coord.get("result_log"))
                                          if p and p.startswith("/")],
                  "vantage-probe": [probe.get("spool_dir", "/var/lib/vantage-probe")]}
    for name in ("vantage-coordinator", "vantage-probe"):
        unit = os.path.join(d, name + ".service")
        s = unit_settings(unit)
        text = open(unit).read()
        for h in HARDENING:
            k, v = h.split("=", 1)
            check(v in s.get(k, []), "%s: %s missing" % (name, h))
        check(s.get("StateDirectory") == [name], "%s: StateDirectory=%s expected" % (name, name))
        for p in want_state[name]:
            check(p == "/var/lib/" + name or p.startswith("/var/lib/%s/" % name),
                  "%s: the example config's path %s is outside StateDirectory /var/lib/%s"
                  % (name, p, name))
        cfg = "/etc/vantage/%s.yaml" % name.split("-", 1)[1]
        check(cfg in s["ExecStart"][0], "%s: ExecStart must read %s" % (name, cfg))
        families = s["RestrictAddressFamilies"][0].split()
        check(set(families) <= {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"},
              "%s: RestrictAddressFamilies too wide: %s" % (name, families))
        # verify checks that ExecStart's binary exists: point it at the build.
        local = os.path.join(tmp, name + ".service")
        with open(local, "w") as f:
            f.write(text.replace("/usr/local/bin/" + name, os.path.join(bindir, name)))
        r = run([sa, "verify", local])
        msgs = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        check(r.returncode == 0 and not msgs,
              "systemd-analyze verify %s: rc %d\n%s" % (name, r.returncode, "\n".join(msgs)))
        # --threshold is in tenths: 15 = an exposure of 1.5 (the units: 1.1).
        r = run([sa, "security", "--offline=yes", "--threshold=15", local])
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        check(r.returncode == 0 and m is not None,
              "systemd-analyze security %s: exposure above 1.5 (rc %d)\n%s"
              % (name, r.returncode, r.stdout[-3000:] + r.stderr))
        print("%s: verify clean, exposure %s" % (name, m.group(1)))
    users = open(os.path.join(d, "vantage.sysusers.conf")).read()
    check(re.search(r"^u\s+vantage\s", users, re.M), "vantage.sysusers.conf must create user vantage")


# ------------------------------------------------------------------ configs
def parser_keys(path, arrays):
    """The strings of `static const char *const NAME[] = {...}` arrays."""
    text = open(path).read()
    keys = set()
    for a in arrays:
        m = re.search(r"\b%s\[\]\s*=\s*\{(.*?)\};" % a, text, re.S)
        check(m is not None, "%s: array %s not found" % (path, a))
        keys |= set(re.findall(r'"([a-z_]+)"', m.group(1)))
    return keys


def with_dummy_pki(text, tmp):
    """The example with /etc/vantage/pki/ files replaced by readable temp files."""
    pki = os.path.join(tmp, "pki")
    os.makedirs(pki, exist_ok=True)
    for f in set(re.findall(r"/etc/vantage/pki/([\w.-]+)", text)):
        with open(os.path.join(pki, f), "w") as fh:
            fh.write("dummy\n")
    return text.replace("/etc/vantage/pki/", pki + "/")


def check_documented(example, text, keys):
    missing = sorted(k for k in keys if not re.search(r"(^|[\s{,#`])%s:" % re.escape(k), text, re.M))
    check(not missing, "%s does not show or explain these keys its parser accepts: %s"
          % (example, ", ".join(missing)))


def configs(src, bindir, tmp):
    coord_bin = os.path.join(bindir, "vantage-coordinator")
    probe_bin = os.path.join(bindir, "vantage-probe")
    check(os.access(coord_bin, os.X_OK) and os.access(probe_bin, os.X_OK),
          "build vantage-coordinator and vantage-probe first (%s)" % bindir)
    ce = os.path.join(src, "deploy", "coordinator.example.yaml")
    pe = os.path.join(src, "deploy", "probe.example.yaml")
    for example, cmd in ((ce, [coord_bin, "--check-config"]),
                         (pe, [probe_bin, "--check-config", "--config"])):
        text = open(example).read()
        local = os.path.join(tmp, os.path.basename(example))
        with open(local, "w") as f:
            f.write(with_dummy_pki(text, tmp))
        r = run(cmd + [local])
        check(r.returncode == 0, "%s: %s rc %d\n%s" % (os.path.basename(example), " ".join(cmd),
                                                        r.returncode, r.stdout + r.stderr))
        print(r.stdout.strip())
    # Every key the parsers accept is shown or explained in the examples.
    ckeys = parser_keys(os.path.join(src, "coordinator", "config.c"),
                        ["top_keys", "listen_keys", "detect_keys", "registry_keys",
                         "service_keys", "endpoint_keys"] +
                        [a for a in ("retention_keys", "maint_keys")
                         if re.search(r"\b%s\[\]" % a, open(os.path.join(src, "coordinator",
                                                                         "config.c")).read())])
    check_documented("coordinator.example.yaml", open(ce).read(), ckeys)
    pkeys = parser_keys(os.path.join(src, "probe", "config.c"), ["top_keys"])
    check_documented("probe.example.yaml", open(pe).read(), pkeys)
    print("both examples valid; %d coordinator and %d agent keys documented"
          % (len(ckeys), len(pkeys)))


# ------------------------------------------------------------------ grafana
def dashboard_path(src):
    return os.path.join(src, "deploy", "grafana", "vantage-dashboard.json")


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard_exprs(dash):
    """(where, expr) of every PromQL expression: panels, variables, annotations."""
    out = []
    for p in all_panels(dash["panels"]):
        for t in p.get("targets", []):
            out.append(("panel %r %s" % (p.get("title"), t.get("refId")), t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append(("annotation %r" % a["name"], a["expr"]))
    return out


def variable_metric_selectors(dash):
    """The series selectors inside label_values(...) of query variables."""
    out = []
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.match(r"label_values\((.*),\s*\w+\)$", q)
            check(m is not None, "variable %s: expected label_values(SELECTOR, LABEL)" % v["name"])
            out.append(("variable %s" % v["name"], m.group(1)))
    return out


def substitute_vars(expr):
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", "x", expr)


def grafana(src, _bindir, tmp):
    promtool = need("promtool", "validates the dashboard's PromQL; Debian package prometheus")
    with open(dashboard_path(src)) as f:
        dash = json.load(f)
    check(36 <= dash.get("schemaVersion", 0) <= 41, "schemaVersion %s" % dash.get("schemaVersion"))
    check(dash.get("uid") and dash.get("title"), "uid and title required")
    inputs = [i["name"] for i in dash.get("__inputs", [])]
    check(inputs == ["DS_PROMETHEUS"], "__inputs must be exactly DS_PROMETHEUS, got %s" % inputs)
    var_names = [v["name"] for v in dash["templating"]["list"]]
    check({"DS_PROMETHEUS", "check", "region"} <= set(var_names),
          "variables DS_PROMETHEUS, check, region expected; got %s" % var_names)
    ds_var = [v for v in dash["templating"]["list"] if v["name"] == "DS_PROMETHEUS"][0]
    check(ds_var["type"] == "datasource" and ds_var["query"] == "prometheus",
          "DS_PROMETHEUS must be a prometheus datasource variable")
    ids, titles = set(), []
    grid = []
    for p in all_panels(dash["panels"]):
        check("id" in p and p["id"] not in ids, "panel ids must be unique (%r)" % p.get("title"))
        ids.add(p["id"])
        gp = p["gridPos"]
        check(0 <= gp["x"] and gp["x"] + gp["w"] <= 24 and gp["h"] > 0,
              "panel %r outside the 24-column grid" % p.get("title"))
        if p["type"] != "row":
            titles.append(p["title"])
            grid.append((p["title"], gp))
            check(p.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}",
                  "panel %r: datasource must be ${DS_PROMETHEUS}" % p["title"])
            for t in p.get("targets", []):
                check(t.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}",
                      "panel %r target %s: datasource must be ${DS_PROMETHEUS}"
                      % (p["title"], t.get("refId")))
            check(p.get("targets"), "panel %r has no query" % p["title"])
    # No two panels overlap.
    for i, (ta, a) in enumerate(grid):
        for tb, b in grid[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
                       a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            check(not overlap, "panels %r and %r overlap" % (ta, tb))
    for a in dash.get("annotations", {}).get("list", []):
        if not a.get("builtIn"):
            check(a.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}",
                  "annotation %r: datasource must be ${DS_PROMETHEUS}" % a.get("name"))
    for v in dash["templating"]["list"]:
        if v.get("type") == "query":
            check(v.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}",
                  "variable %s: datasource must be ${DS_PROMETHEUS}" % v["name"])
    types = {p["type"] for p in all_panels(dash["panels"])}
    check({"state-timeline", "timeseries", "table", "stat"} <= types, "panel types: %s" % types)
    # Every variable used in a query is defined.
    exprs = dashboard_exprs(dash) + variable_metric_selectors(dash)
    for where, e in exprs:
        for v in re.findall(r"\$\{?(\w+)\}?", e):
            check(v.startswith("__") or v in var_names, "%s: undefined variable $%s" % (where, v))
    # Every expression is valid PromQL: promtool parses them as recording rules.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:expr_%d" % i, "expr": substitute_vars(e)}
        for i, (_, e) in enumerate(exprs)]}]}
    rf = os.path.join(tmp, "dashboard-exprs.yml")
    with open(rf, "w") as f:
        yaml.safe_dump(rules, f)
    r = run([promtool, "check", "rules", rf])
    check(r.returncode == 0, "dashboard PromQL invalid:\n" + r.stdout + r.stderr)
    print("%d panels, %d PromQL expressions valid" % (len(titles), len(exprs)))


# ------------------------------------------------------------------ metric names
PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring",
                "group_left", "group_right", "and", "or", "unless", "rate", "increase",
                "histogram_quantile", "abs", "time", "absent", "vector", "bool", "offset",
                "le", "inf", "nan", "label_values", "changes", "delta", "deriv", "x"}


def metric_names(expr):
    """Metric names in a PromQL expression (strings, labels, durations removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "{}", e)           # label matchers
    e = re.sub(r"\[[^\]]*\]", "[]", e)           # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"(?<![\w.:])\d[\w.]*", "", e)  # numbers and durations: 0.95, 5m, 1e-9
    names = set()
    for tok in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if tok.lower() in PROMQL_WORDS:
            continue
        names.add(tok)
    return names


def family_of(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def used_names(src):
    used = {}
    for g in rule_groups(src):
        for r in g["rules"]:
            for n in metric_names(r["expr"]):
                used.setdefault(n, []).append("rule %s" % r.get("alert", r.get("record")))
    recorded = {r["record"] for g in rule_groups(src) for r in g["rules"] if "record" in r}
    with open(dashboard_path(src)) as f:
        dash = json.load(f)
    for where, e in dashboard_exprs(dash) + variable_metric_selectors(dash):
        for n in metric_names(e):
            used.setdefault(n, []).append(where)
    for n in list(used):
        if n in recorded or n == "up":
            del used[n]
    return used


def scrape_families(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M)), text


def wait_log(path, pattern, proc, deadline):
    while time.time() < deadline:
        m = re.search(pattern, open(path).read())
        if m:
            return m
        if proc.poll() is not None:
            raise Fail("exited %s before logging %r:\n%s" % (proc.returncode, pattern,
                                                              open(path).read()[-2000:]))
        time.sleep(0.1)
    raise Fail("no %r in %s within the deadline" % (pattern, path))


class TLSTarget(threading.Thread):
    """An HTTPS target on loopback with a certificate from `vantage-coordinator
    ca` valid for 10 days: answers every request 200 "ok"."""

    def __init__(self, coord_bin, tmp):
        super().__init__(daemon=True)
        d = os.path.join(tmp, "target-ca")
        for cmd in (["ca", "init", "--dir", d],
                    ["ca", "issue", "target", "--dir", d, "--days", "10", "--server", "127.0.0.1"]):
            r = run([coord_bin] + cmd)
            check(r.returncode == 0, "vantage-coordinator %s: %s" % (" ".join(cmd), r.stderr))
        self.ca = os.path.join(d, "ca.pem")
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(d, "target.pem"), os.path.join(d, "target.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.done = False

    def run(self):
        while not self.done:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as t:
                    req = b""
                    while b"\r\n\r\n" not in req and len(req) < 65536:
                        chunk = t.recv(4096)
                        if not chunk:
                            break
                        req += chunk
                    t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        self.done = True
        self.sock.close()


class Live:
    """A coordinator and three agents (us-east-1, us-east-2, us-west-1) on
    loopback ports chosen by the kernel. Check shop-web probes a closed
    port, so it is down in both regions at once (a multi-region incident);
    shop-cert (TLS) and shop-https probe TLSTarget, whose certificate
    expires in 10 days. Every agent has metrics_listen. stop() ends all."""

    AGENTS = (("us-east-1", "us-east"), ("us-east-2", "us-east"), ("us-west-1", "us-west"))

    def __init__(self, bindir, tmp):
        self.coord, self.agents, self.target = None, [], None
        coord_bin = os.path.join(bindir, "vantage-coordinator")
        probe_bin = os.path.join(bindir, "vantage-probe")
        check(os.access(coord_bin, os.X_OK) and os.access(probe_bin, os.X_OK),
              "build vantage-coordinator and vantage-probe first (%s)" % bindir)
        closed_port = free_port()
        self.target = TLSTarget(coord_bin, tmp)
        self.target.start()
        ccfg = os.path.join(tmp, "coordinator.yaml")
        with open(ccfg, "w") as f:
            f.write("listen: {agents: 127.0.0.1:0, http: 127.0.0.1:0}\nplaintext: true\n"
                    "store: %s/coord.db\nheartbeat: 1s\n"
                    "detection: {lateness: 1s, merge_gap: 5s}\n"
                    "services:\n  - name: shop\n    endpoints:\n"
                    "      - {check: shop-web, kind: web, url: 'http://127.0.0.1:%d/', interval: 1s,"
                    " timeout: 500ms}\n"
                    "      - {check: shop-https, kind: api, url: 'https://127.0.0.1:%d/',"
                    " interval: 1s, timeout: 500ms}\n"
                    "      - {check: shop-cert, kind: web, type: tls, target: '127.0.0.1:%d',"
                    " min_days_left: 5, interval: 1s, timeout: 500ms}\n"
                    % (tmp, closed_port, self.target.port, self.target.port))
        clog = os.path.join(tmp, "coordinator.log")
        self.coord = subprocess.Popen([coord_bin, "serve", "--config", ccfg],
                                      stdout=subprocess.DEVNULL, stderr=open(clog, "w"))
        deadline = time.time() + 20
        aport = int(wait_log(clog, r"agents listening on 127\.0\.0\.1:(\d+)", self.coord,
                             deadline)[1])
        self.http_port = int(wait_log(clog, r"http listening on 127\.0\.0\.1:(\d+)", self.coord,
                                      deadline)[1])
        self.metrics_ports = {}
        for agent, region in self.AGENTS:
            acfg = os.path.join(tmp, agent + ".yaml")
            with open(acfg, "w") as f:
                f.write("id: %s\nregion: %s\ncountry: US\nlat: 40.7\nlon: -74.0\n"
                        "coordinator: 127.0.0.1:%d\nplaintext: true\nspool_dir: %s/spool-%s\n"
                        "spool_fsync: never\nmetrics_listen: 127.0.0.1:0\nca_file: %s\n"
                        % (agent, region, aport, tmp, agent, self.target.ca))
            alog = os.path.join(tmp, agent + ".log")
            p = subprocess.Popen([probe_bin, "--config", acfg], stdout=subprocess.DEVNULL,
                                 stderr=open(alog, "w"))
            self.agents.append(p)
            self.metrics_ports[agent] = (region, int(wait_log(
                alog, r"metrics listening on 127\.0\.0\.1:(\d+)", p, deadline)[1]))
        self.metrics_port = self.metrics_ports["us-east-1"][1]

    def stop(self):
        for p in self.agents:
            stop(p)
        stop(self.coord)
        if self.target is not None:
            self.target.stop()


def metric_names_part(src, bindir, tmp):
    """Every metric the rules and dashboard use must be among the families a
    live coordinator and agent declare (# TYPE lines)."""
    used = used_names(src)
    check(used, "no metric names found in the rules and dashboard")
    live = Live(bindir, tmp)
    try:
        # Let a few probes (all down) arrive, so series exist beside the TYPE lines.
        deadline = time.time() + 15
        coord_fams, text = set(), ""
        while time.time() < deadline:
            coord_fams, text = scrape_families("http://127.0.0.1:%d/metrics" % live.http_port)
            if re.search(r"^vantage_check_results_total\{", text, re.M):
                break
            time.sleep(0.3)
        probe_fams, _ = scrape_families("http://127.0.0.1:%d/metrics" % live.metrics_port)
    finally:
        live.stop()
    known = coord_fams | probe_fams
    unknown = sorted(n for n in used if family_of(n) not in known and n not in known)
    check(not unknown, "metric names used but not exposed by the coordinator or agent:\n" +
          "\n".join("  %s (%s)" % (n, ", ".join(sorted(set(used[n]))[:3])) for n in unknown))
    print("%d metric names used by the rules and dashboard; all among the %d families exposed "
          "(coordinator %d, agent %d)" % (len(used), len(known), len(coord_fams), len(probe_fams)))


def prom_api(base, path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        doc = json.load(r)
    check(doc.get("status") == "success", "%s: %s" % (path, doc))
    return doc["data"]


def prometheus_live(src, bindir, tmp):
    """Debian's prometheus runs deploy/prometheus/prometheus.yml as shipped,
    but for the targets (the live coordinator, and the agent through the
    file_sd file) and faster intervals. Passes when every target is up, every
    rule evaluates without error, the recording rules produce series, and
    the alerts Live's faults call for are pending (VantageOutage,
    VantageRegionalOutage for both regions, VantageCertificateExpiring); then
    every dashboard query must run on that data without error."""
    prom = need("prometheus", "Debian package prometheus; deploy/install-deps.sh")
    d = os.path.join(src, "deploy", "prometheus")
    cfg = load_yaml(os.path.join(d, "prometheus.yml"))
    live = Live(bindir, tmp)
    promp = None
    try:
        cfg["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s",
                              "scrape_timeout": "1s"})
        cfg.pop("alerting", None)
        for job in cfg["scrape_configs"]:
            job.pop("scrape_interval", None)
            if job["job_name"] == "vantage-coordinator":
                job["static_configs"] = [{"targets": ["127.0.0.1:%d" % live.http_port]}]
        shutil.copy(os.path.join(d, "vantage-rules.yml"), tmp)
        with open(os.path.join(tmp, "vantage-agents.yml"), "w") as f:
            yaml.safe_dump([{"targets": ["127.0.0.1:%d" % port],
                             "labels": {"agent": agent, "region": region}}
                            for agent, (region, port) in live.metrics_ports.items()], f)
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            yaml.safe_dump(cfg, f)
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        plog = os.path.join(tmp, "prometheus.log")
        promp = subprocess.Popen([prom, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                                  "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
                                  "--web.listen-address=127.0.0.1:%d" % port],
                                 stdout=subprocess.DEVNULL, stderr=open(plog, "w"))
        # shop-web down in both regions: an outage and two regional outages;
        # the target's certificate expires in 10 days.
        want_alerts = {("VantageOutage", "shop-web", None),
                       ("VantageRegionalOutage", "shop-web", "us-east"),
                       ("VantageRegionalOutage", "shop-web", "us-west"),
                       ("VantageCertificateExpiring", "shop-cert", None),
                       ("VantageCertificateExpiring", "shop-https", None)}
        deadline = time.time() + 60
        state = "prometheus not answering"
        while time.time() < deadline:
            time.sleep(1)
            if promp.poll() is not None:
                raise Fail("prometheus exited %s:\n%s" % (promp.returncode, open(plog).read()[-3000:]))
            try:
                targets = prom_api(base, "/api/v1/targets")["activeTargets"]
                groups = prom_api(base, "/api/v1/rules")["groups"]
                down = sorted("%s %s" % (t["labels"]["job"], t["scrapeUrl"]) for t in targets
                              if t["health"] != "up")
                bad = [(r["name"], r["lastError"]) for g in groups for r in g["rules"]
                       if r.get("health") == "err"]
                check(not bad, "rules failing on live data: %s" % bad)
                unevaluated = [r["name"] for g in groups for r in g["rules"]
                               if r.get("health") != "ok"]
                recorded = prom_api(base, "/api/v1/query?query=" + urllib.request.quote(
                    "check_region_outcome:vantage_check_results:rate5m"))["result"]
                alerts = prom_api(base, "/api/v1/query?query=ALERTS")["result"]
            except (OSError, ValueError) as e:
                state = "prometheus: %s" % e
                continue
            seen = {(a["metric"]["alertname"], a["metric"].get("check"), a["metric"].get("region"))
                    for a in alerts}
            missing = sorted(str(w) for w in want_alerts if w not in seen)
            state = ("%d targets, not up: %s; rules not yet evaluated: %s; recorded %d series; "
                     "alerts missing: %s" % (len(targets), down, unevaluated[:3], len(recorded),
                                             missing))
            if len(targets) == 1 + len(live.AGENTS) and not down and not unevaluated and recorded \
                    and not missing:
                print("%d targets up, %d rules evaluated, alerts pending: %s"
                      % (len(targets), sum(len(g["rules"]) for g in groups),
                         ", ".join(sorted("%s(%s%s)" % (n, c, " " + r if r else "")
                                          for n, c, r in want_alerts))))
                break
        else:
            raise Fail("within 60 s: " + state)
        # Annotations render from live labels: no "<no value>" and no
        # template error text.
        for a in prom_api(base, "/api/v1/alerts")["alerts"]:
            for k, v in a["annotations"].items():
                check("<no value>" not in v and "error" not in v.lower(),
                      "%s %s renders badly: %r" % (a["labels"]["alertname"], k, v))
            if os.environ.get("VTG_DEPLOY_VERBOSE"):
                print("%s: %s" % (a["labels"]["alertname"], a["annotations"]["description"]))
        # The dashboard's queries run without error on this data, and its
        # variables' selectors find series (the drop-downs fill).
        with open(dashboard_path(src)) as f:
            dash = json.load(f)
        values = {"check": ".*", "region": ".*", "job": ".*", "probe_job": ".*", "phase": "total"}
        nonempty = 0
        exprs = dashboard_exprs(dash)
        for where, e in exprs:
            q = e.replace("$__rate_interval", "1m")
            q = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], q)
            try:
                res = prom_api(base, "/api/v1/query?query=" + urllib.request.quote(q))["result"]
            except urllib.error.HTTPError as err:
                raise Fail("%s: query fails on live data: %s\n%s" % (where, err, q))
            nonempty += bool(res)
            if not res and os.environ.get("VTG_DEPLOY_VERBOSE"):
                print("empty: %s" % where)
        for where, sel in variable_metric_selectors(dash):
            q = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], sel)
            res = prom_api(base, "/api/v1/query?query=" + urllib.request.quote(q))["result"]
            check(res, "%s: no series for %s" % (where, q))
        print("dashboard: %d queries run without error, %d with data; variables fill"
              % (len(exprs), nonempty))
    finally:
        stop(promp)
        live.stop()


# ------------------------------------------------------------------ cloud-init
PLACEHOLDER_VALUES = {"__AGENT_ID__": "us-east-1", "__REGION__": "us-east", "__COUNTRY__": "US",
                      "__LAT__": "40.7", "__LON__": "-74.0",
                      "__COORDINATOR__": "coord.example.net:7300"}


def elf_packages(binary):
    """Debian packages holding the binary's direct (NEEDED) libraries."""
    readelf, dpkg = shutil.which("readelf"), shutil.which("dpkg")
    ldd = shutil.which("ldd")
    if not (readelf and dpkg and ldd):
        return None
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run([readelf, "-d", binary]).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", run([ldd, binary]).stdout, re.M))
    pkgs = {}
    for lib in needed:
        path = paths.get(lib)
        if not path:
            continue
        r = run([dpkg, "-S", os.path.realpath(path)])
        if r.returncode != 0:
            r = run([dpkg, "-S", path])
        if r.returncode == 0:
            pkgs[lib] = r.stdout.split(":", 1)[0]
    return pkgs


def cloud_init(src, bindir, tmp):
    path = os.path.join(src, "deploy", "cloud-init", "probe-user-data.yaml")
    text = open(path).read()
    check(text.startswith("#cloud-config\n"), "user-data must start with '#cloud-config'")
    doc = yaml.safe_load(text)
    check(isinstance(doc, dict), "user-data must be a YAML mapping")
    allowed = {"package_update", "package_upgrade", "packages", "write_files", "runcmd", "users",
               "groups", "bootcmd", "timezone", "ntp", "apt", "final_message"}
    check(set(doc) <= allowed, "unexpected top-level keys: %s" % sorted(set(doc) - allowed))
    files = {w["path"]: w for w in doc["write_files"]}
    for w in doc["write_files"]:
        check(set(w) <= {"path", "content", "owner", "permissions", "defer", "encoding", "append"},
              "write_files %s: unknown keys" % w["path"])
        check(re.fullmatch(r"0[0-7]{3}", str(w.get("permissions", ""))),
              "write_files %s: permissions must be a quoted octal string" % w["path"])
    d = os.path.join(src, "deploy", "systemd")
    pairs = {"/etc/systemd/system/vantage-probe.service": "vantage-probe.service",
             "/etc/sysusers.d/vantage.conf": "vantage.sysusers.conf"}
    for dst, name in pairs.items():
        check(dst in files, "write_files lacks %s" % dst)
        check(files[dst]["content"] == open(os.path.join(d, name)).read(),
              "%s differs from deploy/systemd/%s (copy it in again)" % (dst, name))
    check(files["/etc/vantage/pki/agent.key"]["permissions"] == "0600", "agent.key must be 0600")
    # The unit's config path is written, and valid once filled in.
    check("/etc/vantage/probe.yaml" in files, "write_files lacks /etc/vantage/probe.yaml")
    cfg = files["/etc/vantage/probe.yaml"]["content"]
    for k, v in PLACEHOLDER_VALUES.items():
        check(k in cfg, "probe.yaml lacks the placeholder %s" % k)
        cfg = cfg.replace(k, v)
    left = re.findall(r"__[A-Z0-9_]+__", cfg)
    check(not left, "probe.yaml placeholders without a test value: %s" % left)
    # Every placeholder anywhere is explained in the header.
    header = text.split("\npackage_update")[0]
    for ph in set(re.findall(r"__[A-Z0-9_]+__", text)):
        check(ph in header, "placeholder %s is not explained in the header" % ph)
    local = os.path.join(tmp, "probe.yaml")
    with open(local, "w") as f:
        f.write(with_dummy_pki(cfg, tmp))
    probe_bin = os.path.join(bindir, "vantage-probe")
    check(os.access(probe_bin, os.X_OK), "build vantage-probe first (%s)" % bindir)
    r = run([probe_bin, "--config", local, "--check-config"])
    check(r.returncode == 0, "embedded probe.yaml: rc %d\n%s" % (r.returncode, r.stdout + r.stderr))
    # The runtime packages cover the binary's libraries (libc6 is essential).
    pkgs = elf_packages(probe_bin)
    if pkgs is None:
        print("note: readelf/dpkg/ldd missing, library coverage not checked")
    else:
        # libc6 is essential; sanitizer runtimes come only with -DVTG_SANITIZE=ON.
        missing = {lib: p for lib, p in pkgs.items() if p not in doc["packages"] and p != "libc6"
                   and not re.fullmatch(r"lib(a|ub|l|t|hwa)san\d+", p)}
        check(not missing, "packages: lacks %s" % ", ".join("%s (%s)" % (p, lib)
                                                            for lib, p in missing.items()))
        print("runtime packages cover %s" % ", ".join(sorted(set(pkgs.values()))))
    # The install script: bash syntax, shellcheck, and its build deps are
    # the project's own (install-deps.sh).
    script = files["/usr/local/sbin/vantage-probe-install"]["content"]
    sp = os.path.join(tmp, "vantage-probe-install")
    with open(sp, "w") as f:
        f.write(script)
    r = run(["bash", "-n", sp])
    check(r.returncode == 0, "install script: bash -n:\n" + r.stderr)
    if shutil.which("shellcheck"):
        r = run(["shellcheck", sp])
        check(r.returncode == 0, "install script: shellcheck:\n" + r.stdout)
    m = re.search(r"build_deps=\(([^)]*)\)", script)
    check(m is not None, "install script: build_deps=(...) not found")
    project_deps = set(open(os.path.join(src, "deploy", "install-deps.sh")).read().split())
    extra = [p for p in m.group(1).split() if p not in project_deps and p != "git"]
    check(not extra, "build deps not among deploy/install-deps.sh's: %s" % extra)
    check(any("vantage-probe-install" in str(c) for c in doc["runcmd"]),
          "runcmd must run /usr/local/sbin/vantage-probe-install")
    ci = shutil.which("cloud-init")
    if ci:
        r = run([ci, "schema", "--config-file", path])
        check(r.returncode == 0, "cloud-init schema:\n" + r.stdout + r.stderr)
        print("cloud-init schema: valid")
    else:
        print("note: cloud-init not installed, `cloud-init schema` not run")
    print("user-data valid: %d files, unit and sysusers identical to deploy/systemd" % len(files))


PARTS = {"prom-config": prom_config, "prom-rules": prom_rules, "prom-rules-test": prom_rules_test,
         "prometheus-live": prometheus_live,
         "systemd": systemd, "configs": configs, "grafana": grafana,
         "metric-names": metric_names_part, "cloud-init": cloud_init}


def main(argv):
    if len(argv) != 4 or argv[3] not in PARTS:
        print(__doc__, file=sys.stderr)
        return 2
    src, bindir, part = os.path.abspath(argv[1]), os.path.abspath(argv[2]), argv[3]
    tmp = tempfile.mkdtemp(prefix="vtg-deploy-")
    try:
        PARTS[part](src, bindir, tmp)
        print("PASS %s" % part)
        return 0
    except Skip as e:
        print("SKIP %s: %s" % (part, e))
        return SKIP
    except Fail as e:
        print("FAIL %s: %s" % (part, e))
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
