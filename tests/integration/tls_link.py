#!/usr/bin/python3
"""Integration tests of mutual TLS on the agent link, against the real
coordinator (and, in `probe_agent`, the real vantage-probe).

The CA and certificates are made with `vantage-coordinator ca init/issue`;
Python's ssl module plays the agent. Each test starts its own coordinator
with a `tls:` section.

usage: tls_link.py BIN_DIR TEST_NAME
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_link as al  # noqa: E402  (frames, protobuf, the Coordinator class)
from harness import run_coordinator_test  # noqa: E402


def ca_cmd(bindir, *args):
    subprocess.run([os.path.join(bindir, "vantage-coordinator"), "ca"] + list(args), check=True,
                   capture_output=True)


class Pki:
    """Two CAs: `good` (the coordinator's) and `other` (a stranger's)."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.dir = tempfile.mkdtemp(prefix="vtg-pki-")
        self.good = os.path.join(self.dir, "good")
        self.other = os.path.join(self.dir, "other")
        ca_cmd(bindir, "init", "--dir", self.good)
        ca_cmd(bindir, "init", "--dir", self.other)
        ca_cmd(bindir, "issue", "coordinator", "--dir", self.good, "--server", "127.0.0.1")
        ca_cmd(bindir, "issue", "us-east-1", "--dir", self.good)
        ca_cmd(bindir, "issue", "us-east-1", "--dir", self.other)

    def files(self, d, name):
        return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")

    def tls_section(self):
        cert, key = self.files(self.good, "coordinator")
        return "tls: {cert: %s, key: %s, ca: %s}\n" % (cert, key,
                                                       os.path.join(self.good, "ca.pem"))


class TlsCoordinator(al.Coordinator):
    def __init__(self, bindir, pki):
        self.pki = pki
        self.transport = pki.tls_section()
        super().__init__(bindir)

    def tls_connect(self, ca_dir=None, name="us-east-1", cert=True):
        """A TLS client; returns (ssl socket, its local port). The
        handshake may still fail on the server side (TLS 1.3 verifies the
        client certificate after the client considers itself done)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(os.path.join(self.pki.good, "ca.pem"))
        if cert:
            c, k = self.pki.files(ca_dir or self.pki.good, name)
            ctx.load_cert_chain(c, k)
        raw = socket.create_connection(("127.0.0.1", self.agent_port), timeout=5)
        port = raw.getsockname()[1]
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1"), port


def refused(s, deadline):
    """Sends a Hello and reads until the server closes or fails the TLS
    session; returns the message kinds received (must hold no welcome)."""
    kinds = []
    try:
        s.sendall(al.frame(al.hello("us-east-1")))
        frames, closed = al.read_frames(s, deadline)
        kinds = [k for k, _ in frames]
        assert closed, "connection not closed, got %r" % kinds
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    return kinds


def wait_log(c, pattern, deadline):
    while time.time() < deadline:
        m = re.search(pattern, c.log_text())
        if m:
            return m
        time.sleep(0.05)
    raise AssertionError("no log line matching %r in:\n%s" % (pattern, c.log_text()[-3000:]))


def t_good_cert(c):
    s, _ = c.tls_connect()
    assert s.version() in ("TLSv1.3", "TLSv1.2"), s.version()
    s.sendall(al.frame(al.hello("us-east-1")))
    frames, _ = al.read_frames(s, time.time() + 2)
    kinds = [k for k, _ in frames]
    assert "welcome" in kinds and "check_set" in kinds, kinds
    s.close()
    assert "mutual TLS" in c.log_text()


def expect_handshake_refused(c, s, port, why):
    kinds = refused(s, time.time() + 5)
    assert "welcome" not in kinds, "welcomed anyway: %r" % kinds
    # the refusal names the peer's address
    wait_log(c, r"connection from 127\.0\.0\.1:%d: TLS handshake failed[^\n]*%s" % (port, why),
             time.time() + 5)


def t_other_ca(c):
    try:
        s, port = c.tls_connect(ca_dir=c.pki.other)
    except (ssl.SSLError, ConnectionError) as e:  # TLS 1.2 fails in the handshake itself
        raise AssertionError("client-side handshake error %r; cannot read the port" % e)
    expect_handshake_refused(c, s, port, r"certificate")
    # and a good agent is still served
    t_good_cert(c)


def t_no_cert(c):
    s, port = c.tls_connect(cert=False)
    expect_handshake_refused(c, s, port, r"certificate")


def t_wrong_id(c):
    s, _ = c.tls_connect()
    s.sendall(al.frame(al.hello("us-west-9")))
    frames, closed = al.read_frames(s, time.time() + 5)
    errors = [f for k, f in frames if k == "error"]
    assert errors and "welcome" not in [k for k, _ in frames], [k for k, _ in frames]
    reason = errors[0].get(2, [b""])[0].decode()
    assert "us-west-9" in reason and "us-east-1" in reason, reason
    assert closed


def t_plaintext_client(c):
    s = c.connect()
    port = s.getsockname()[1]
    s.sendall(al.frame(al.hello("us-east-1")))
    data, deadline = b"", time.time() + 5
    s.settimeout(0.2)
    while time.time() < deadline:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionError:
            break
        if not chunk:
            break
        data += chunk
    assert time.time() < deadline, "plaintext connection not closed"
    assert b"vantage" not in data  # no Welcome (it carries the coordinator version)
    wait_log(c, r"connection from 127\.0\.0\.1:%d: TLS handshake failed" % port, time.time() + 5)


def t_probe_agent(c):
    """The real agent over mutual TLS: welcomed; then one that knows the
    coordinator by a name its certificate lacks refuses it."""
    work = tempfile.mkdtemp(prefix="vtg-tlsagent-")
    cert, key = c.pki.files(c.pki.good, "us-east-1")
    ca = os.path.join(c.pki.good, "ca.pem")

    def run(host, log_name, pattern):
        cfg = os.path.join(work, log_name + ".yaml")
        with open(cfg, "w") as f:
            f.write("id: us-east-1\nregion: us-east\ncountry: US\nlat: 40.7\nlon: -74.0\n"
                    "coordinator: %s:%d\nspool_dir: %s/spool-%s\n"
                    "tls: {cert: %s, key: %s, ca: %s}\n"
                    % (host, c.agent_port, work, log_name, cert, key, ca))
        log = open(os.path.join(work, log_name + ".log"), "w+")
        p = subprocess.Popen([os.path.join(c.bindir, "vantage-probe"), "--config", cfg],
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 10
            while time.time() < deadline and not re.search(pattern, open(log.name).read()):
                assert p.poll() is None, "agent died:\n" + open(log.name).read()
                time.sleep(0.05)
            assert re.search(pattern, open(log.name).read()), open(log.name).read()
        finally:
            p.terminate()
            assert p.wait(10) == 0, "agent exit status"
        return open(log.name).read()

    run("127.0.0.1", "good", r"welcomed by coordinator")
    wait_log(c, r"agent us-east-1 connected from 127\.0\.0\.1", time.time() + 5)
    out = run("localhost", "badname", r"coordinator link closed: TLS handshake failed")
    assert "hostname mismatch" in out or "certificate" in out, out


def t_sighup_new_certs(c):
    """Certificates are reloaded on SIGHUP: a coordinator switched to
    another CA refuses the old agents' certificates on new connections."""
    other_cert, other_key = c.pki.files(c.pki.other, "coordinator")
    ca_cmd(c.bindir, "issue", "coordinator", "--dir", c.pki.other, "--server", "127.0.0.1")
    c.transport = "tls: {cert: %s, key: %s, ca: %s}\n" % (other_cert, other_key,
                                                          os.path.join(c.pki.other, "ca.pem"))
    c.write_config(["shop-web"])
    c.proc.send_signal(1)
    wait_log(c, r"TLS certificates reloaded", time.time() + 5)
    # the old CA's agent cannot even verify the new server certificate
    try:
        s, _ = c.tls_connect()
        kinds = refused(s, time.time() + 3)
        raise AssertionError("handshake succeeded after the reload, got %r" % kinds)
    except ssl.SSLCertVerificationError:
        pass


def t_probe_config(c):
    """The agent needs exactly one of tls / plaintext: true (exit 2, FILE[:LINE])."""
    work = tempfile.mkdtemp(prefix="vtg-tlscfg-")
    base = ("id: us-east-1\nregion: us-east\ncountry: US\nlat: 40.7\nlon: -74.0\n"
            "coordinator: 127.0.0.1:%d\nspool_dir: %s/spool\n" % (c.agent_port, work))
    cases = [("", r": neither 'tls: .*nor 'plaintext: true'"),
             ("plaintext: true\ntls: {cert: a, key: b, ca: c}\n", r":8:\d+: .*exclude each other"),
             ("tls: {cert: /nonexistent.pem, key: b, ca: c}\n", r":8:\d+: .*cannot read tls cert")]
    for i, (extra, pattern) in enumerate(cases):
        path = os.path.join(work, "a%d.yaml" % i)
        with open(path, "w") as f:
            f.write(base + extra)
        p = subprocess.run([os.path.join(c.bindir, "vantage-probe"), "--config", path],
                           capture_output=True, text=True, timeout=10)
        out = p.stdout + p.stderr
        assert p.returncode == 2, "case %d: exit %d:\n%s" % (i, p.returncode, out)
        assert re.search(re.escape(path) + pattern, out), "case %d:\n%s" % (i, out)


TESTS = {"probe_config": t_probe_config, "good_cert": t_good_cert, "other_ca": t_other_ca, "no_cert": t_no_cert,
         "wrong_id": t_wrong_id, "plaintext_client": t_plaintext_client,
         "probe_agent": t_probe_agent, "sighup_new_certs": t_sighup_new_certs}


def main():
    bindir, name = sys.argv[1], sys.argv[2]
    pki = Pki(bindir)
    run_coordinator_test(TlsCoordinator(bindir, pki), TESTS[name], name)


if __name__ == "__main__":
    main()
