# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Test hosts as network namespaces: client -- proxy (router) -- server.

Every name carries a random tag so that two runs can coexist; everything a
Topology makes, it removes again (teardown runs on failure too). Sockets are
made inside a namespace by switching this thread into it for the socket()
call only: a socket stays in the namespace it was created in.
"""
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# Documentation/benchmark addresses only (198.18.0.0/15, 2001:db8::/32).
CLIENT4, PROXY_C4, PROXY_S4, SERVER4 = "198.18.1.2", "198.18.1.1", "198.19.2.1", "198.19.2.2"
CLIENT6, PROXY_C6, PROXY_S6, SERVER6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CUTTHRU_BUILD", os.path.join(REPO, "build-asan"))
CUTTHRU = os.path.join(BUILD, "cutthru")

# The names of enum cutthru_reason, in order (include/cutthru/abi.h).
REASONS = ["pass_not_ip", "pass_local", "pass_unprotected", "pass_not_tcp",
           "pass_authenticated", "steer_syn", "steer_flow", "steer_icmp", "steer_no_conn",
           "drop_not_admitted",
           "drop_no_listener", "drop_no_conn", "drop_assign", "drop_malformed", "drop_fragment",
           "drop_unparsed", "drop_auth_blocked", "drop_syn_rate"]


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Daemon:
    """A cutthru run started by a test; stopped (and checked) by it."""

    def __init__(self, topo, args, wrapper=(), env=None, binary=CUTTHRU):
        self.topo = topo
        self.args = args
        self.log_path = os.path.join(topo.tmp, f"cutthru-{len(topo.daemons)}.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ,
                   ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87",
                   **(env or {}))
        # An instance of the test's own: its control socket and pins do not
        # meet another run's.
        if "--instance" not in args:
            args = args + ["--instance", topo.tag]
        self.instance = args[args.index("--instance") + 1]
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", topo.proxy, *wrapper, binary, "run"] + args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.wait_ready()

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "ready" in self.text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"cutthru exited {self.proc.returncode}:\n{self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"cutthru not ready after {timeout}s:\n{self.text()}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the daemon; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"cutthru did not stop within {timeout}s")
        self.log.close()
        return self.proc.returncode

    def assert_clean_exit(self):
        rc = self.stop()
        text = self.text()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
            assert bad not in text, f"sanitizer report:\n{text}"
        assert rc == 0, f"cutthru exited {rc}:\n{text}"

    def map_id(self, name):
        """The id of one of this daemon's BPF maps, found through its fds."""
        fd_dir = f"/proc/{self.proc.pid}/fd"
        # ip netns exec replaces itself with cutthru, so the pid is cutthru's.
        for fd in os.listdir(fd_dir):
            try:
                if "bpf-map" not in os.readlink(os.path.join(fd_dir, fd)):
                    continue
                info = open(f"/proc/{self.proc.pid}/fdinfo/{fd}").read()
            except OSError:
                continue
            for line in info.splitlines():
                if line.startswith("map_id:"):
                    map_id = int(line.split()[1])
                    show = json.loads(run("bpftool", "-j", "map", "show", "id", str(map_id)).stdout)
                    if show.get("name") == name:
                        return map_id
        raise AssertionError(f"cutthru has no map named {name}")


class Topology:
    def __init__(self, tmp):
        self.tag = "ct" + secrets.token_hex(3)
        self.client, self.proxy, self.server = (f"{self.tag}{n}" for n in ("c", "p", "s"))
        self.if_pc, self.if_ps = f"{self.tag}pc", f"{self.tag}ps"
        self.tmp = str(tmp)
        self.daemons = []
        self.procs = []
        self.counter_ids = {}

    # -- set-up and teardown -------------------------------------------------

    def up(self):
        c, p, s, t = self.client, self.proxy, self.server, self.tag
        for ns in (c, p, s):
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            # No duplicate address detection: a tentative link-local address
            # delays the first neighbour solicitation by a second.
            run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0")
        run("ip", "link", "add", f"{t}c0", "netns", c, "type", "veth", "peer", "name", self.if_pc,
            "netns", p)
        run("ip", "link", "add", f"{t}s0", "netns", s, "type", "veth", "peer", "name", self.if_ps,
            "netns", p)
        for ns, dev, v4, v6 in ((c, f"{t}c0", CLIENT4, CLIENT6), (p, self.if_pc, PROXY_C4, PROXY_C6),
                                (p, self.if_ps, PROXY_S4, PROXY_S6), (s, f"{t}s0", SERVER4, SERVER6)):
            plen4 = "24"
            run("ip", "-n", ns, "addr", "add", f"{v4}/{plen4}", "dev", dev)
            run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            run("ip", "-n", ns, "link", "set", dev, "up")
        for ns, gw4, gw6 in ((c, PROXY_C4, PROXY_C6), (s, PROXY_S4, PROXY_S6)):
            run("ip", "-n", ns, "route", "add", "default", "via", gw4)
            run("ip", "-n", ns, "-6", "route", "add", "default", "via", gw6)
        run("ip", "netns", "exec", p, "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1")
        # Resolve neighbours now, so that no test's timing includes it.
        for ns, addr in ((c, PROXY_C4), (c, PROXY_C6), (s, PROXY_S4), (s, PROXY_S6)):
            run("ip", "netns", "exec", ns, "ping", "-c1", "-W2", addr)
        return self

    def down(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for ns in (self.client, self.proxy, self.server):
            run("ip", "netns", "del", ns, check=False)

    # -- processes and sockets in the hosts ----------------------------------

    def start(self, *args, wrapper=(), env=None, binary=CUTTHRU):
        """Starts cutthru run ARGS in the proxy; wrapper is a command that
        execs it (prlimit ...), so the pid stays cutthru's."""
        d = Daemon(self, list(args), wrapper, env, binary)
        self.daemons.append(d)
        self.counter_ids[d] = d.map_id("counters")
        return d

    def cutthru(self, *args):
        """Runs cutthru in the proxy namespace to completion."""
        return run("ip", "netns", "exec", self.proxy, CUTTHRU, *args, check=False)

    def ctl(self, daemon, command, *args):
        """cutthru COMMAND --instance (the daemon's) ARGS: reload, status, ..."""
        return run(CUTTHRU, command, "--instance", daemon.instance, *args, check=False)

    def sh(self, ns, *cmd, check=True):
        return run("ip", "netns", "exec", ns, *cmd, check=check)

    @contextmanager
    def inside(self, ns):
        own = f"/proc/thread-self/ns/net"
        back = os.open(own, os.O_RDONLY)
        try:
            _setns(f"/run/netns/{ns}")
            yield
        finally:
            if _libc.setns(back, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(back)

    def socket(self, ns, family=socket.AF_INET):
        with self.inside(ns):
            return socket.socket(family, socket.SOCK_STREAM)

    def listen(self, addr, port, backlog=1024):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = self.socket(self.server, family)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(backlog)
        return s

    def connect(self, addr, port, timeout=5.0, bind_port=None):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = self.socket(self.client, family)
        s.settimeout(timeout)
        if bind_port is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((CLIENT6 if family == socket.AF_INET6 else CLIENT4, bind_port))
        s.connect((addr, port))
        return s

    # -- what the intercepting controller counted ----------------------------

    def fd_count(self, daemon):
        """The daemon's open TCP sockets. Not its other sockets: the
        watchdog opens netlink sockets for a moment every second. Nor pipes:
        idle splice pipes are kept on purpose."""
        pid = daemon.proc.pid
        tcp = set()
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as f:
                tcp.update(line.split()[9] for line in list(f)[1:])
        count = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:
                continue  # closed meanwhile
            count += link.startswith("socket:[") and link[8:-1] in tcp
        return count

    def map_entries(self, daemon, name):
        dump = run("bpftool", "-j", "map", "dump", "id", str(daemon.map_id(name))).stdout
        return len(json.loads(dump))

    def held(self, daemon, maps=("quads",)):
        """What the daemon holds for connections: its open sockets and the
        entries of the named maps."""
        out = {"sockets": self.fd_count(daemon)}
        for name in maps:
            out[name] = self.map_entries(daemon, name)
        return out

    def wait_held(self, daemon, want, timeout=10.0):
        """Polls held() until it equals want (a dict as held() returns it)
        or timeout seconds pass; returns the last reading."""
        maps = tuple(k for k in want if k != "sockets")
        deadline = time.monotonic() + timeout
        while True:
            now = self.held(daemon, maps)
            if now == want or time.monotonic() >= deadline:
                return now
            time.sleep(0.1)

    def counters(self, daemon):
        """Packets by reason, summed over CPUs."""
        dump = json.loads(run("bpftool", "-j", "map", "dump", "id",
                              str(self.counter_ids[daemon])).stdout)
        out = {}
        for entry in dump:
            entry = entry.get("formatted", entry)  # the BTF view of the entry
            out[REASONS[entry["key"]]] = sum(v["value"]["packets"] for v in entry["values"])
        return out


def topology(tmp):
    """A pytest fixture's body: a Topology up for the test, and afterwards
    torn down, also on failure, with a check that no namespace is left."""
    import pytest

    if os.geteuid() != 0:
        pytest.fail("the namespace tests need root (ip netns, BPF)")
    t = Topology(tmp)
    try:
        yield t.up()
    finally:
        t.down()
    left = [ns for ns in os.listdir("/run/netns") if ns.startswith(t.tag)]
    assert not left, f"namespaces left behind: {left}"
