#!/usr/bin/python3
"""The agent's on-disk spool end to end: the real vantage-probe against a
fake COORDINATOR played here (frames and protobuf by hand, the helpers of
agent_link.py), over loopback.

  1. the fake coordinator welcomes the agent, pushes a CheckSet (fast checks
     against a closed local port, so every probe fails at once) and
     acknowledges the batches it gets;
  2. it goes away (connection and listener closed): the agent keeps probing
     and spools what it cannot send;
  3. the agent is killed (SIGKILL) and restarted on the same spool;
  4. the fake coordinator comes back on the same port and welcomes it with
     the last seq it has: the agent must say the same spool epoch and send
     every later result exactly once, in order, with no gap that is not
     announced by a Dropped; results probed while the coordinator was away
     must be among them.

Tests: replay_after_kill (a roomy spool: no gap at all) and full_spool (a
64 KiB spool and many checks: the oldest results are dropped, announced, and
everything after the announced range arrives).

usage: spool_replay.py BIN_DIR TEST_NAME
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_link import ENVELOPE, decode, field_bytes, field_varint, frame  # noqa: E402


def welcome(acked):
    body = (field_varint(1, 1) + field_bytes(2, "fake") + field_varint(3, acked) +
            field_varint(4, 1000) + field_varint(5, 10000))
    return frame(field_bytes(5, body))


def check_set(n_checks, url, interval_ms):
    checks = b""
    for i in range(1, n_checks + 1):
        c = (field_varint(1, i) + field_bytes(2, "c%d" % i) + field_bytes(3, "svc") +
             field_bytes(4, "web") + field_bytes(5, url) + field_bytes(6, "GET") +
             field_varint(7, interval_ms) + field_varint(8, interval_ms // 2) +
             field_varint(9, (i * 37) % interval_ms))
        checks += field_bytes(2, c)
    return frame(field_bytes(6, field_varint(1, 1) + checks))


def ack(epoch, seq):
    return frame(field_bytes(7, field_varint(1, epoch) + field_varint(2, seq)))


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


class FakeCoordinator:
    """Listens on a fixed port (bound once, listening only while "up"),
    keeps every batch and Dropped it gets, acknowledges as it goes."""

    def __init__(self):
        self.port = None
        self.lsock = None
        self.conn = None
        self.buf = b""
        self.epochs = []      # spool_epoch of each Hello
        # per connection: ("batch", first_seq, [start_us...]) / ("dropped", first, last)
        self.events = []
        self.connections = []
        self.have = 0         # highest contiguous seq received (what a real one would ack)

    def up(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        self.port = s.getsockname()[1]
        s.listen(4)
        s.settimeout(0.2)
        self.lsock = s

    def down(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.lsock:
            self.lsock.close()
            self.lsock = None

    def accept(self, deadline):
        while time.time() < deadline:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            c.settimeout(0.1)
            self.conn, self.buf = c, b""
            self.events = []
            self.connections.append(self.events)
            return True
        return False

    def pump(self, seconds, checks=None, until=None):
        """Reads frames for up to `seconds` (or until until() is true):
        answers Hello with Welcome (+ CheckSet), acknowledges batches."""
        deadline = time.time() + seconds
        while time.time() < deadline and self.conn is not None:
            if until is not None and until():
                return
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self.conn.close()
                self.conn = None
                return
            self.buf += chunk
            while len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) < 4 + n:
                    break
                env = decode(self.buf[4:4 + n])
                self.buf = self.buf[4 + n:]
                for num, vals in env.items():
                    self.handle(ENVELOPE.get(num, str(num)), decode(vals[0]), checks)

    def handle(self, kind, f, checks):
        if kind == "hello":
            self.epochs.append(f[8][0])
            self.conn.sendall(welcome(self.have))
            if checks:
                self.conn.sendall(checks)
        elif kind == "result_batch":
            epoch = f.get(1, [0])[0]
            assert epoch == self.epochs[-1], \
                "batch of epoch %x, Hello said %x" % (epoch, self.epochs[-1])
            first = f.get(2, [0])[0]
            starts = [signed64(decode(r).get(2, [0])[0]) for r in f.get(3, [])]
            self.events.append(("batch", first, starts))
            if starts:
                assert first <= self.have + 1, "gap: got %d after %d" % (first, self.have)
                self.have = max(self.have, first + len(starts) - 1)
            self.conn.sendall(ack(epoch, self.have))
        elif kind == "dropped":
            assert f.get(1, [0])[0] == self.epochs[-1], "Dropped of another epoch"
            first, last = f.get(2, [0])[0], f.get(3, [0])[0]
            self.events.append(("dropped", first, last))
            assert first <= self.have + 1 <= last + 1, \
                "Dropped %d..%d does not follow %d" % (first, last, self.have)
            self.have = max(self.have, last)
        elif kind == "heartbeat":
            if not f.get(2, [0])[0]:
                hb = field_varint(1, int(time.time() * 1e6)) + field_varint(2, f[1][0])
                self.conn.sendall(frame(field_bytes(4, hb)))


def seqs_of(events):
    out = []
    for e in events:
        if e[0] == "batch":
            out.extend(range(e[1], e[1] + len(e[2])))
    return out


def starts_of(events):
    return [s for e in events if e[0] == "batch" for s in e[2]]


class Agent:
    def __init__(self, bindir, work, port, spool_max=None):
        self.bindir, self.work = bindir, work
        self.cfg = os.path.join(work, "agent.yaml")
        self.spool = os.path.join(work, "spool")
        extra = "spool_max_bytes: %d\n" % spool_max if spool_max else ""
        with open(self.cfg, "w") as f:
            f.write("id: us-east-1\nregion: us-east\ncountry: US\nlat: 40.7\nlon: -74.0\n"
                    "coordinator: 127.0.0.1:%d\nlog_level: debug\nspool_dir: %s\nplaintext: true\n%s"
                    % (port, self.spool, extra))
        self.log = open(os.path.join(work, "agent.log"), "a")
        self.proc = None

    def start(self):
        self.log.write("---- start\n")
        self.log.flush()
        self.proc = subprocess.Popen([os.path.join(self.bindir, "vantage-probe"), "--config",
                                      self.cfg], stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9

    def log_text(self):
        return open(self.log.name).read()


def closed_port_url():
    """A bound, never listening socket: connecting to it is refused at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, "http://127.0.0.1:%d/" % s.getsockname()[1]


def run(bindir, work, n_checks, interval_ms, away_s, spool_max=None):
    holder, url = closed_port_url()
    checks = check_set(n_checks, url, interval_ms)
    fc = FakeCoordinator()
    fc.up()
    agent = Agent(bindir, work, fc.port, spool_max)
    agent.start()
    try:
        # 1. connected, results flow and are acknowledged
        assert fc.accept(time.time() + 10), "the agent did not connect"
        fc.pump(1.5, checks)
        first = fc.events
        assert seqs_of(first), "no results while connected"
        assert seqs_of(first)[0] == 1, "the first result of a new spool is not seq 1"
        acked_before = fc.have
        # 2. the coordinator goes away; the agent keeps probing into the spool
        fc.down()
        t_away = time.time()
        time.sleep(away_s)
        t_kill = time.time()
        # 3. killed, restarted on the same spool (it has no checks until it connects)
        agent.kill()
        agent.start()
        # 4. the coordinator comes back
        fc.up()
        assert fc.accept(time.time() + 15), "the restarted agent did not reconnect"
        t_back = time.time()
        fc.pump(20, checks, until=lambda: any(s / 1e6 > t_back for s in starts_of(fc.events)))
        fc.pump(0.5, checks)
        rc = agent.stop()
        fc.pump(2, checks)  # the drain of a clean stop
        assert rc == 0, "agent exited %r on SIGTERM" % rc
        fc.down()

        assert len(fc.epochs) == 2 and fc.epochs[0] == fc.epochs[1], \
            "spool epoch changed across the restart: %r" % ["%x" % e for e in fc.epochs]
        replay = fc.connections[-1]
        got = seqs_of(replay)
        dropped = [(e[1], e[2]) for e in replay if e[0] == "dropped"]
        assert got, "nothing replayed"
        # exactly once, in order, starting right after what was acknowledged
        assert got == sorted(set(got)), "duplicates or disorder in the replay"
        expect_first = acked_before + 1
        covered = set(got)
        for a, b in dropped:
            covered.update(range(a, b + 1))
        assert min(covered) == expect_first, \
            "replay starts at %d, acknowledged was %d" % (min(covered), acked_before)
        missing = sorted(set(range(expect_first, max(got) + 1)) - covered)
        assert not missing, "seqs neither replayed nor announced as dropped: %r" % missing[:20]
        # results probed while the coordinator was away came through the restart
        away = [s for s in starts_of(replay) if t_away + 0.3 < s / 1e6 < t_kill - 0.1]
        return dict(acked_before=acked_before, replayed=len(got), dropped=dropped,
                    away=len(away), last=max(got), agent=agent)
    except BaseException:
        print(agent.log_text()[-6000:], file=sys.stderr)
        raise
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
        holder.close()
        fc.down()


def t_replay_after_kill(bindir, work):
    r = run(bindir, work, n_checks=4, interval_ms=200, away_s=2.5)
    assert not r["dropped"], "a roomy spool dropped results: %r" % r["dropped"]
    assert r["away"] >= 20, "only %d results from while the coordinator was away" % r["away"]
    log = r["agent"].log_text()
    assert "unacknowledged results" in log and "corrupt records skipped" in log, "no spool line"
    print("acked before %d, replayed %d (up to seq %d), %d probed while away"
          % (r["acked_before"], r["replayed"], r["last"], r["away"]))


def t_full_spool(bindir, work):
    # 40 checks at 100 ms: ~400 results/s, ~50 KB/s into a 64 KiB spool.
    r = run(bindir, work, n_checks=40, interval_ms=100, away_s=4, spool_max=65536)
    assert r["dropped"], "a full spool announced no Dropped range"
    log = r["agent"].log_text()
    assert "spool full" in log, "the drop was not logged"
    print("acked before %d, dropped %r, replayed %d (up to seq %d)"
          % (r["acked_before"], r["dropped"], r["replayed"], r["last"]))


TESTS = {"replay_after_kill": t_replay_after_kill, "full_spool": t_full_spool}


def main():
    bindir, name = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="vtg-spool-it-")
    ok = False
    try:
        TESTS[name](bindir, work)
        ok = True
    finally:
        print("ok" if ok else "FAIL", name)
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work folder kept: %s" % work, file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
