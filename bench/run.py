#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""cutthru benchmark: direct forwarding vs cutthru vs HAProxy vs nginx.

One topology per configuration and repetition, like tests/net/topo.py:

    client ns 198.18.1.2 -- veth -- 198.18.1.1 router ns 198.19.2.1 -- veth -- 198.19.2.2 server ns

Configurations: `direct` (the router forwards), `cutthru-<path>` (cutthru in
the router), `haproxy` and `nginx` (fully transparent through nftables TPROXY
and fwmark policy routing). Metrics: iperf3 throughput both ways with 1 and 8
streams; short-connection rate (100-byte request, 100-byte reply); 1-byte
ping-pong latency; CPU-seconds per GB (proxy process and whole machine); RSS
per idle connection with 8000 connections open.

Every name carries a random tag, everything started is stopped by PID and
every namespace is removed, also on failure. Only 198.18.0.0/15 is used.

    bench/run.py [--quick] [--reps N] [--cutthru-paths copy,splice,sockmap]

Writes bench/RESULTS.md, bench/results.png and bench/results.json.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CLIENT4, ROUTER_C4, ROUTER_S4, SERVER4 = "198.18.1.2", "198.18.1.1", "198.19.2.1", "198.19.2.2"
CLIENT6, ROUTER_C6, ROUTER_S6, SERVER6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2"
# Only these addresses are ever used as a destination.
ALLOWED_DST = (SERVER4, ROUTER_C4, ROUTER_S4, CLIENT4)

PORT_IPERF, PORT_RR, PORT_ECHO, PORT_PEER = 5201, 8080, 8081, 8082
SERVICE_PORTS = (PORT_IPERF, PORT_RR, PORT_ECHO, PORT_PEER)
LISTEN_OFFSET = 10000  # haproxy/nginx listen on 10000 + service port
TPROXY_MARK, TPROXY_TABLE = 1, 100

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Metric key -> (column label, unit, higher is better?)
METRICS = [
    ("tput_up_1", "throughput c→s, 1 stream", "Gbit/s", True),
    ("tput_up_8", "throughput c→s, 8 streams", "Gbit/s", True),
    ("tput_down_1", "throughput s→c, 1 stream", "Gbit/s", True),
    ("tput_down_8", "throughput s→c, 8 streams", "Gbit/s", True),
    ("connrate", "connection rate (100 B req / 100 B reply)", "conn/s", True),
    ("lat_p50", "1-byte ping-pong latency p50", "µs", False),
    ("lat_p99", "1-byte ping-pong latency p99", "µs", False),
    ("cpu_proxy_per_gb", "proxy CPU per GB (bulk tests)", "CPU-s/GB", False),
    ("cpu_machine_per_gb", "machine CPU per GB (bulk tests)", "CPU-s/GB", False),
    ("cpu_proxy_per_conn", "proxy CPU per connection (connection-rate test)", "CPU-µs", False),
    ("cpu_machine_per_conn", "machine CPU per connection (connection-rate test)", "CPU-µs", False),
    ("cpu_bpf_per_gb", "cutthru's BPF programs' CPU per GB (bulk tests)", "CPU-s/GB", False),
    ("cpu_bpf_per_conn", "cutthru's BPF programs' CPU per connection (connection-rate test)", "CPU-µs",
     False),
    ("busy_proxy_connrate", "proxy busy during the connection-rate test", "% of one CPU", False),
    ("busy_machine_connrate", "machine busy during the connection-rate test", "% of all CPUs",
     False),
    ("held_share_bulk", "sockmap: share of the bytes the daemon moved itself (held; bulk tests)",
     "%", False),
    ("rss_per_conn", "proxy RSS per idle connection", "KiB", False),
    ("mem_kernel_per_conn", "kernel memory per idle connection", "KiB", False),
]


class BenchError(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*cmd, check=True, timeout=60, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# -- machine counters ----------------------------------------------------------

def machine_jiffies():
    """(busy, total) jiffies of all CPUs, as /proc/stat's tick-sampled fields count them."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice;
    # guest time is already counted in user.
    idle = v[3] + v[4]
    total = sum(v[:8])
    return total - idle, total


class MachineClock:
    """The machine's busy CPU-seconds between two snapshots, as wall time x CPUs
    less idle time.

    The busy fields of /proc/stat are sampled at the tick and miss work done in
    short bursts between idle periods (a proxy waiting on the network, say);
    the idle time comes from the nohz idle accounting, which is exact. The
    tick-sampled figure is kept too (jiffies_busy), to compare."""

    def __init__(self):
        self.ncpu = os.cpu_count()
        self.t0, self.idle0, self.jiffies0 = self._sample()

    @staticmethod
    def _sample():
        busy, total = machine_jiffies()
        return time.monotonic(), (total - busy) / CLK_TCK, busy

    def busy(self):
        """(busy CPU-seconds, wall seconds, tick-sampled busy CPU-seconds) so far."""
        t1, idle1, jiffies1 = self._sample()
        wall = t1 - self.t0
        return (max(0.0, wall * self.ncpu - (idle1 - self.idle0)), wall,
                (jiffies1 - self.jiffies0) / CLK_TCK)


BPF_ENABLE_STATS, BPF_STATS_RUN_TIME = 32, 0
SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine())


def enable_bpf_stats():
    """(fd, None) with the kernel timing every BPF program run while fd is open
    (BPF_ENABLE_STATS; closed, even by a crash, the timing stops), else
    (None, why).

    It costs two clock reads per run, for every configuration alike; only
    cutthru's figures use it."""
    if SYS_BPF is None:
        return None, f"no bpf(2) number known for {platform.machine()}"
    attr = ctypes.create_string_buffer(struct.pack("I", BPF_STATS_RUN_TIME), 8)
    fd = _libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(BPF_ENABLE_STATS), attr, ctypes.c_uint(8))
    return (fd, None) if fd >= 0 else (None, os.strerror(ctypes.get_errno()))


def proc_fd_targets(pids):
    """(pid, fd, what it points at) for every fd of the processes still there."""
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                yield pid, fd, os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass


def proc_bpf_ids(pids, kind):
    """Ids of the BPF objects (kind "prog" or "map") the processes hold fds of."""
    ids = set()
    for pid, fd, target in proc_fd_targets(pids):
        if f"bpf-{kind}" not in target:
            continue
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                m = re.search(rf"^{kind}_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def bpf_run_seconds(prog_ids):
    """CPU-seconds the kernel has timed for these programs, or None if not timed."""
    if not prog_ids:
        return None
    try:
        progs = json.loads(run("bpftool", "-j", "prog", "show").stdout)
    except (BenchError, ValueError):
        return None
    times = [p["run_time_ns"] for p in progs if p.get("id") in prog_ids and "run_time_ns" in p]
    return sum(times) / 1e9 if times else None


def proc_cpu_seconds(pids):
    t = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return t / CLK_TCK


def proc_rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def proc_fds(pids):
    n = 0
    for pid in pids:
        try:
            n += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return n


def proc_sockets(pids):
    """Socket fds of the processes (an idle pipe pool's fds are not counted)."""
    return sum(target.startswith("socket:") for _, _, target in proc_fd_targets(pids))


def kernel_mem_kib():
    """Slab (socket structs, files, epoll items...) plus the pages TCP buffers hold.

    MemAvailable is too noisy for a few MiB: page cache comes and goes."""
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            m[k] = int(v.split()[0])
    tcp_pages = 0
    with open("/proc/net/sockstat") as f:  # global counter, all namespaces
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                tcp_pages = int(w[w.index("mem") + 1])
    return m["Slab"] + tcp_pages * os.sysconf("SC_PAGE_SIZE") // 1024


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def background_busy(seconds=0.5):
    clock = MachineClock()
    time.sleep(seconds)
    busy, wall, _ = clock.busy()
    return busy / (wall * clock.ncpu)


def wait_quiet(max_wait, threshold=0.2):
    """Waits (at most max_wait s) for the machine to be idle; returns the last busy fraction.

    Other work on this 2-CPU machine (builds, tests) would be measured too."""
    deadline = time.time() + max_wait
    busy = background_busy(0.5)
    waited = False
    while busy > threshold and time.time() < deadline:
        if not waited:
            log(f"  machine {busy * 100:.0f}% busy, waiting up to {max_wait:.0f} s for it to settle")
            waited = True
        time.sleep(0.5)
        busy = background_busy(0.5)
    return busy


# -- the topology ------------------------------------------------------------------

def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Topology:
    """client -- router -- server, three namespaces with a random tag."""

    def __init__(self, tmp, queues=1):
        self.queues = str(queues)  # of the client's veth pair, each way
        self.tag = "bn" + secrets.token_hex(3)
        self.client, self.router, self.server = (f"{self.tag}{n}" for n in ("c", "p", "s"))
        self.if_c, self.if_s = f"{self.tag}c0", f"{self.tag}s0"          # client's, server's
        self.if_rc, self.if_rs = f"{self.tag}pc", f"{self.tag}ps"        # router's two sides
        self.tmp = tmp
        self.procs = []  # (Popen, name)
        self.made = []

    def up(self):
        c, p, s = self.client, self.router, self.server
        for ns in (c, p, s):
            run("ip", "netns", "add", ns)
            self.made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            self.sysctl(ns, "net.ipv6.conf.all.accept_dad", "0")
            self.sysctl(ns, "net.ipv6.conf.default.accept_dad", "0")
        q = ("numtxqueues", self.queues, "numrxqueues", self.queues)
        run("ip", "link", "add", self.if_c, "netns", c, *q, "type", "veth", "peer", "name",
            self.if_rc, "netns", p, *q)
        run("ip", "link", "add", self.if_s, "netns", s, "type", "veth", "peer", "name",
            self.if_rs, "netns", p)
        for ns, dev, v4, v6 in ((c, self.if_c, CLIENT4, CLIENT6), (p, self.if_rc, ROUTER_C4, ROUTER_C6),
                                (p, self.if_rs, ROUTER_S4, ROUTER_S6), (s, self.if_s, SERVER4, SERVER6)):
            run("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            run("ip", "-n", ns, "link", "set", dev, "up")
        for ns, gw4, gw6 in ((c, ROUTER_C4, ROUTER_C6), (s, ROUTER_S4, ROUTER_S6)):
            run("ip", "-n", ns, "route", "add", "default", "via", gw4)
            run("ip", "-n", ns, "-6", "route", "add", "default", "via", gw6)
        self.sysctl(p, "net.ipv4.ip_forward", "1")
        self.sysctl(p, "net.ipv6.conf.all.forwarding", "1")
        # Short connections: a wider ephemeral range on the client, so that
        # its ports wrap less often during the connection-rate test.
        self.sysctl(c, "net.ipv4.ip_local_port_range", "10000 65000")
        for ns in (c, p, s):
            self.sysctl(ns, "net.core.somaxconn", "8192")
            self.sysctl(ns, "net.ipv4.tcp_max_syn_backlog", "8192")
        for ns, addr in ((c, ROUTER_C4), (s, ROUTER_S4)):
            run("ip", "netns", "exec", ns, "ping", "-c1", "-W2", addr)
        return self

    def sysctl(self, ns, key, value):
        run("ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}")

    def start(self, ns, argv, name, env=None, stdin=None):
        """A process in a namespace; `ip netns exec` execs it, so the pid is its own."""
        out = open(os.path.join(self.tmp, f"{name}.log"), "w")
        proc = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=out,
                                stderr=subprocess.STDOUT, env=env,
                                stdin=stdin if stdin is not None else subprocess.DEVNULL)
        out.close()
        self.procs.append((proc, name))
        return proc

    def logtext(self, name):
        try:
            with open(os.path.join(self.tmp, f"{name}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        """Stops one process we started (and its children, e.g. nginx workers), by pid."""
        if proc.poll() is not None:
            return proc.returncode
        kids = children(proc.pid)
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k in kids:  # the master normally reaps them; be sure
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return proc.returncode

    def down(self):
        for proc, _ in reversed(self.procs):
            try:
                self.stop(proc, timeout=5)
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        for ns in self.made:
            run("ip", "netns", "del", ns, check=False)
        self.made = []

    @contextmanager
    def inside(self, ns):
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{ns}")
            yield
        finally:
            if _libc.setns(back, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(back)

    def connect(self, addr, port, timeout=3.0):
        assert addr in ALLOWED_DST
        with self.inside(self.client):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((addr, port))
        return s


# -- the configurations ----------------------------------------------------------

class Config:
    name = "?"
    proxied = True

    def __init__(self, topo, args, bins):
        self.topo, self.args, self.bins = topo, args, bins
        self.proc = None
        self.notes = []

    def start(self):
        pass

    def pids(self):
        if not self.proc or self.proc.poll() is not None:
            return []
        return [self.proc.pid] + children(self.proc.pid)

    def alive(self):
        return self.proc is None or self.proc.poll() is None

    def stop(self):
        """Returns a problem string or None."""
        if self.proc is None:
            return None
        rc = self.topo.stop(self.proc, signal.SIGTERM, timeout=20)
        return None if rc in (0, -signal.SIGTERM) else f"exit code {rc} on SIGTERM"

    def syn_count(self, port):
        """Connections the proxy was handed on PORT, where countable, else None."""
        return None

    def cut_bytes(self):
        """(redirected, held) bytes of cutthru's sockmap verdict, else None."""
        return None

    def bpf_seconds(self):
        """CPU-seconds the proxy's own BPF programs ran so far (kernel-timed), else None."""
        return None

    def log_name(self):
        return None


class Direct(Config):
    name = "direct"
    proxied = False


def reason_names():
    """enum cutthru_reason of include/cutthru/abi.h, in order (for the BPF counters)."""
    try:
        with open(os.path.join(REPO, "include", "cutthru", "abi.h")) as f:
            text = f.read()
        body = re.search(r"enum cutthru_reason\s*\{(.*?)\}", text, re.S).group(1)
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        names = [re.match(r"\s*CUTTHRU_(\w+)", e).group(1).lower() for e in body.split(",")
                 if re.match(r"\s*CUTTHRU_(\w+)", e)]
        return [n for n in names if n != "reasons"]
    except (OSError, AttributeError):
        return []


class Cutthru(Config):
    def __init__(self, topo, args, bins, path):
        super().__init__(topo, args, bins)
        self.path = path
        self.name = f"cutthru-{path}"
        self.counters_map = None

    def log_name(self):
        return "cutthru"

    def bpf_seconds(self):
        # The programs the daemon holds: this instance's, not another's.
        return bpf_run_seconds(proc_bpf_ids(self.pids(), "prog"))

    def cut_bytes(self):
        if self.path != "sockmap":
            return None
        r = run(self.args.cutthru, "stats", "--json", "--instance", self.topo.tag, check=False)
        try:
            cut = json.loads(r.stdout)["cut_verdicts"]
        except (ValueError, KeyError):
            return None  # an older cutthru
        return cut["redirected"]["bytes"], cut["held"]["bytes"]

    def start(self):
        argv = [self.args.cutthru, "run", "-i", self.topo.if_rc, "-i", self.topo.if_rs]
        for port in SERVICE_PORTS:
            argv += ["--protect", f"{SERVER4}:{port}"]
        argv.append("-q")
        if "--instance" in run(self.args.cutthru, "run", "--help", check=False).stdout:
            argv += ["--instance", self.topo.tag]
        # Without --data-path (an older cutthru) the relay is the copy loop.
        if self.path != "copy" or self.args.has_data_path:
            argv += ["--data-path", self.path]
        self.proc = self.topo.start(self.topo.router, argv, "cutthru")
        deadline = time.time() + 20
        while time.time() < deadline:
            text = self.topo.logtext("cutthru")
            if "ready" in text:
                break
            if self.proc.poll() is not None:
                raise BenchError(f"cutthru exited {self.proc.returncode}: {text.strip()}")
            time.sleep(0.05)
        else:
            raise BenchError(f"cutthru not ready after 20 s: {self.topo.logtext('cutthru').strip()}")
        self.counters_map = self._find_map("counters")

    def stop(self):
        problem = super().stop()
        text = self.topo.logtext("cutthru")
        bad = [ln for ln in text.splitlines() if re.match(r"<[0-4]>", ln)]
        if bad:
            self.notes.append(f"{len(bad)} warning/error line(s) in its log, first: {bad[0]}")
        return problem

    def _find_map(self, name):
        for map_id in proc_bpf_ids([self.proc.pid], "map"):
            try:
                show = json.loads(run("bpftool", "-j", "map", "show", "id", str(map_id)).stdout)
            except (BenchError, ValueError):
                continue
            if show.get("name") == name:
                return map_id
        return None

    def reason_counts(self):
        """Packets per reason index, summed over CPUs (see include/cutthru/abi.h)."""
        if self.counters_map is None:
            return None
        try:
            dump = json.loads(run("bpftool", "-j", "map", "dump", "id", str(self.counters_map)).stdout)
        except (BenchError, ValueError):
            return None
        out = {}
        names = reason_names()
        for entry in dump:
            entry = entry.get("formatted", entry)
            try:
                k = int(entry["key"])
                n = sum(v["value"]["packets"] for v in entry["values"])
            except (KeyError, TypeError, ValueError):
                return None
            if n:
                out[names[k] if k < len(names) else str(k)] = n
        return out


class TproxyConfig(Config):
    """haproxy/nginx behind nftables TPROXY in the router namespace."""

    def setup_tproxy(self):
        t = self.topo
        rules = [f"add table ip {t.tag}",
                 f"add chain ip {t.tag} pre {{ type filter hook prerouting priority mangle; policy accept; }}",
                 # Packets of the proxy's own (transparent) sockets: both the
                 # client leg and the server leg's return traffic.
                 f"add rule ip {t.tag} pre meta l4proto tcp socket transparent 1 counter "
                 f"meta mark set {TPROXY_MARK} accept comment \"socket\""]
        for port in SERVICE_PORTS:
            rules.append(f"add rule ip {t.tag} pre ip daddr {SERVER4} tcp dport {port} counter "
                         f"tproxy to :{port + LISTEN_OFFSET} meta mark set {TPROXY_MARK} accept "
                         f"comment \"tproxy{port}\"")
        path = os.path.join(t.tmp, "tproxy.nft")
        with open(path, "w") as f:
            f.write("\n".join(rules) + "\n")
        run("ip", "netns", "exec", t.router, "nft", "-f", path)
        run("ip", "-n", t.router, "rule", "add", "fwmark", str(TPROXY_MARK), "lookup", str(TPROXY_TABLE))
        run("ip", "-n", t.router, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table",
            str(TPROXY_TABLE))

    def counters(self):
        out = run("ip", "netns", "exec", self.topo.router, "nft", "-j", "list", "table", "ip",
                  self.topo.tag).stdout
        res = {}
        for item in json.loads(out)["nftables"]:
            rule = item.get("rule")
            if not rule:
                continue
            for e in rule.get("expr", []):
                if "counter" in e:
                    res[rule.get("comment", "?")] = e["counter"]["packets"]
        return res

    def syn_count(self, port):
        return self.counters().get(f"tproxy{port}")


class HAProxy(TproxyConfig):
    name = "haproxy"

    def log_name(self):
        return "haproxy"

    def start(self):
        self.setup_tproxy()
        w = self.args.proxy_workers
        cfg = [
            "global",
            f"    nbthread {w}",
            "    maxconn 9500",
            "    ulimit-n 19900",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 120s",
            "    timeout server 120s",
            "    maxconn 9500",
        ]
        for port in SERVICE_PORTS:
            cfg += [f"frontend f{port}",
                    f"    bind 0.0.0.0:{port + LISTEN_OFFSET} transparent",
                    f"    default_backend b{port}",
                    f"backend b{port}",
                    "    source 0.0.0.0 usesrc clientip",
                    f"    server s{port} {SERVER4}:{port}"]
        path = os.path.join(self.topo.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        run("haproxy", "-c", "-f", path)
        self.proc = self.topo.start(self.topo.router, ["haproxy", "-db", "-f", path], "haproxy")
        wait_listening(self.topo, self.proc, "haproxy", PORT_PEER + LISTEN_OFFSET)


class Nginx(TproxyConfig):
    name = "nginx"

    def log_name(self):
        return "nginx"

    def start(self):
        self.setup_tproxy()
        prefix = os.path.join(self.topo.tmp, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        self.access_log = os.path.join(prefix, "logs", "peer-access.log")
        servers = []
        for port in SERVICE_PORTS:
            servers.append(
                f"    server {{\n"
                f"        listen 0.0.0.0:{port + LISTEN_OFFSET} backlog=8192;\n"
                f"        proxy_pass {SERVER4}:{port};\n"
                f"        proxy_bind $remote_addr transparent;\n"
                + (f"        access_log {self.access_log} peer;\n" if port == PORT_PEER else "")
                + "    }\n")
        cfg = (
            "user root;\n"  # proxy_bind ... transparent needs it in the worker
            f"worker_processes {self.args.proxy_workers};\n"
            "worker_rlimit_nofile 19900;\n"
            f"pid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/logs/error.log warn;\n"
            "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
            "events {\n    worker_connections 19000;\n    use epoll;\n}\n"
            "stream {\n"
            "    access_log off;\n"
            "    log_format peer '$remote_addr:$remote_port -> $server_addr:$server_port "
            "upstream $upstream_addr status $status';\n"
            + "".join(servers) + "}\n")
        path = os.path.join(prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(cfg)
        base = ["nginx", "-e", f"{prefix}/logs/error.log", "-p", prefix, "-c", path]
        run(*base, "-t")
        env = dict(os.environ, LD_PRELOAD=self.bins["transparent_listen.so"])
        self.proc = self.topo.start(self.topo.router, base + ["-g", "daemon off;"], "nginx", env=env)
        wait_listening(self.topo, self.proc, "nginx", PORT_PEER + LISTEN_OFFSET)
        if "transparent_listen:" in self.topo.logtext("nginx"):
            raise BenchError(f"nginx listener shim failed: {self.topo.logtext('nginx').strip()}")


def wait_listening(topo, proc, name, port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited {proc.returncode}: {topo.logtext(name).strip()}")
        out = run("ip", "netns", "exec", topo.router, "ss", "-Htln", f"sport = :{port}").stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise BenchError(f"{name} not listening on {port} after {timeout} s")


def make_config(name, topo, args, bins):
    if name == "direct":
        return Direct(topo, args, bins)
    if name == "haproxy":
        return HAProxy(topo, args, bins)
    if name == "nginx":
        return Nginx(topo, args, bins)
    if name.startswith("cutthru-"):
        return Cutthru(topo, args, bins, name[len("cutthru-"):])
    raise BenchError(f"unknown config {name}")


# -- measurements --------------------------------------------------------------------

def wait_server_ports(topo, ports, procs, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = run("ip", "netns", "exec", topo.server, "ss", "-Htln").stdout
        if all(f":{p} " in out for p in ports):
            return
        for p, n in procs:
            if p.poll() is not None:
                raise BenchError(f"{n} exited: {topo.logtext(n)}")
        time.sleep(0.05)
    raise BenchError(f"servers not listening on {ports}")


def start_iperf_server(topo):
    topo.iperf_runs = getattr(topo, "iperf_runs", 0) + 1
    name = f"iperf3-server-{topo.iperf_runs}"
    topo.iperf_server = topo.start(topo.server, ["iperf3", "-s", "-B", SERVER4, "-p", str(PORT_IPERF)], name)
    wait_server_ports(topo, [PORT_IPERF], [(topo.iperf_server, name)])


def restart_iperf_server(topo):
    """After a failed run an iperf3 server can stay busy with it: a fresh one."""
    topo.stop(topo.iperf_server, timeout=5)
    deadline = time.time() + 5
    while time.time() < deadline:
        if not run("ip", "netns", "exec", topo.server, "ss", "-Htln", f"sport = :{PORT_IPERF}").stdout.strip():
            break
        time.sleep(0.05)
    start_iperf_server(topo)


def start_servers(topo, bins):
    srv = topo.start(topo.server, [bins["benchsrv"], "-T", "3600", f"rr:{PORT_RR}", f"echo:{PORT_ECHO}",
                                   f"peer:{PORT_PEER}"], "benchsrv")
    wait_server_ports(topo, [PORT_RR, PORT_ECHO, PORT_PEER], [(srv, "benchsrv")])
    start_iperf_server(topo)


def sanity_check(topo, cfg):
    """A quick connection first; fail loudly if the traffic did not take the expected path."""
    facts = {}
    # 1. The server sees the client's address.
    s = topo.connect(SERVER4, PORT_PEER)
    local_port = s.getsockname()[1]
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(100)
        if not chunk:
            break
        data += chunk
    s.close()
    parts = data.decode(errors="replace").split()
    if len(parts) != 2 or parts[0] != CLIENT4:
        raise BenchError(f"{cfg.name}: the server saw {data!r}, not the client's address {CLIENT4}")
    facts["server_sees_client_port"] = int(parts[1]) == local_port
    # 2. An echo connection; while it is open, who holds sockets in the router?
    s = topo.connect(SERVER4, PORT_ECHO)
    s.sendall(b"x")
    if s.recv(1) != b"x":
        raise BenchError(f"{cfg.name}: no echo")
    out = run("ip", "netns", "exec", topo.router, "ss", "-Htnp", "state", "established",
              f"( sport = :{PORT_ECHO} or dport = :{PORT_ECHO} )").stdout
    s.close()
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
    nsock = len([ln for ln in out.splitlines() if ln.strip()])
    if not cfg.proxied:
        if nsock:
            raise BenchError(f"direct: the router holds sockets of the connection:\n{out}")
    else:
        mine = set(cfg.pids())
        if nsock < 2 or not pids or not pids <= mine:
            raise BenchError(f"{cfg.name}: expected both legs held by the proxy (pids {sorted(mine)}) "
                             f"in the router, ss shows:\n{out}")
    facts["router_sockets"] = nsock
    # 3. The proxies' own evidence.
    if isinstance(cfg, TproxyConfig):
        c = cfg.counters()
        if not c.get(f"tproxy{PORT_PEER}") or not c.get(f"tproxy{PORT_ECHO}") or not c.get("socket"):
            raise BenchError(f"{cfg.name}: nft tproxy counters did not move: {c}")
        facts["nft_counters"] = c
    if isinstance(cfg, Nginx):
        time.sleep(0.2)
        try:
            with open(cfg.access_log) as f:
                text = f.read()
        except OSError:
            text = ""
        if f"{CLIENT4}:{local_port}" not in text:
            raise BenchError(f"nginx did not log the check connection from {CLIENT4}:{local_port}: {text!r}")
    if isinstance(cfg, Cutthru):
        counts = cfg.reason_counts()
        facts["cutthru_reasons"] = counts
    return facts


def iperf(topo, seconds, streams, reverse):
    cmd = [ "iperf3", "-c", SERVER4, "-p", str(PORT_IPERF), "-t", str(seconds), "-P", str(streams), "-J"]
    if reverse:
        cmd.append("-R")
    r = run("ip", "netns", "exec", topo.client, *cmd, check=False, timeout=seconds + 15)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise BenchError(f"iperf3: no JSON ({r.returncode}): {r.stderr.strip()[:500]}")
    if "error" in j:
        raise BenchError(f"iperf3: {j['error']}")
    recv = j["end"]["sum_received"]
    sent = j["end"]["sum_sent"]
    return recv["bits_per_second"] / 1e9, recv["bytes"], sent.get("retransmits"), sent.get("bytes")


def bulk(topo, cfg, args, res):
    """Four iperf3 runs; CPU of the proxy and of the machine over all of them.

    A failed run is recorded and the others go on (with a fresh iperf3
    server); the CPU figures need all four."""
    cpu0 = proc_cpu_seconds(cfg.pids())
    bpf0 = cfg.bpf_seconds()
    clock = MachineClock()
    cut0 = cfg.cut_bytes()
    total_bytes = 0
    failed = []
    for key, streams, reverse in (("tput_up_1", 1, False), ("tput_up_8", 8, False),
                                  ("tput_down_1", 1, True), ("tput_down_8", 8, True)):
        t0 = time.time()
        try:
            gbps, nbytes, retr, sent = iperf(topo, args.bulk_seconds, streams, reverse)
        except (BenchError, subprocess.TimeoutExpired) as e:
            msg = str(e).splitlines()[0][:300]
            failed.append(key)
            res.setdefault("problems", []).append(f"{key}: {msg} (after {time.time() - t0:.1f} s)")
            log(f"    {key:12s} FAILED after {time.time() - t0:.1f} s: {msg}")
            if not cfg.alive():
                raise BenchError(f"{cfg.name} died during {key}")
            restart_iperf_server(topo)
            continue
        res[key] = gbps
        res.setdefault("detail", {})[key] = {"bytes": nbytes, "sent_bytes": sent, "retransmits": retr}
        total_bytes += nbytes
        note = ""
        if sent and sent > nbytes * 1.05 + 50e6:
            note = f"  (sender counted {sent / 1e9:.2f} GB, receiver {nbytes / 1e9:.2f} GB)"
            res.setdefault("problems", []).append(
                f"{key}: the sender wrote {sent / 1e9:.2f} GB but the receiver got {nbytes / 1e9:.2f} GB "
                f"({(sent - nbytes) / 1e6:.0f} MB still queued when the test ended)")
        log(f"    {key:12s} {gbps:7.2f} Gbit/s  retransmits {retr}{note}")
        if not cfg.alive():
            raise BenchError(f"{cfg.name} died during {key}")
        time.sleep(0.3)
    if failed:
        raise BenchError(f"bulk: {', '.join(failed)} failed")
    cpu1 = proc_cpu_seconds(cfg.pids())
    busy, _, jiffies_busy = clock.busy()
    gb = total_bytes / 1e9
    res["bulk_gb"] = gb
    res["cpu_machine_per_gb"] = busy / gb
    res.setdefault("detail", {})["cpu_machine_per_gb_jiffies"] = jiffies_busy / gb
    bpf1 = cfg.bpf_seconds()
    if bpf0 is not None and bpf1 is not None:
        res["cpu_bpf_per_gb"] = (bpf1 - bpf0) / gb
    if cfg.proxied:
        res["cpu_proxy_per_gb"] = (cpu1 - cpu0) / gb
    cut1 = cfg.cut_bytes()
    if cut0 and cut1:
        redirected, held = (b - a for a, b in zip(cut0, cut1))
        res["held_share_bulk"] = 100 * held / max(1, redirected + held)
    log(f"    CPU-s/GB machine {res['cpu_machine_per_gb']:.3f}"
        + (f", proxy {res['cpu_proxy_per_gb']:.3f}" if cfg.proxied else "")
        + (f", held {res['held_share_bulk']:.0f} %" if "held_share_bulk" in res else "")
        + (f", BPF {res['cpu_bpf_per_gb']:.3f}" if "cpu_bpf_per_gb" in res else ""))


def pingpong(topo, args, bins, res):
    r = run("ip", "netns", "exec", topo.client, bins["pingpong"], "-a", SERVER4, "-p", str(PORT_ECHO),
            "-n", str(args.pingpong_count), "-w", "1000", "-T", "30", check=False, timeout=60)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise BenchError(f"pingpong: {r.stdout.strip()} {r.stderr.strip()}")
    if j.get("error") and not j.get("n"):
        raise BenchError(f"pingpong: {j['error']}")
    res["lat_p50"], res["lat_p99"] = j["p50_us"], j["p99_us"]
    res.setdefault("detail", {})["pingpong"] = j
    log(f"    ping-pong    p50 {j['p50_us']:.1f} µs  p99 {j['p99_us']:.1f} µs  (n={j['n']})")


def connrate(topo, cfg, args, bins, res):
    syn0 = cfg.syn_count(PORT_RR)
    pids = cfg.pids()
    bpf0 = cfg.bpf_seconds()
    cpu0, clock, t0 = proc_cpu_seconds(pids), MachineClock(), time.monotonic()
    r = run("ip", "netns", "exec", topo.client, bins["connrate"], "-a", SERVER4, "-p", str(PORT_RR),
            "-t", str(args.rate_threads), "-c", str(args.rate_conc), "-d", str(args.rate_seconds),
            "-n", str(args.rate_max), "-o", "3000", check=False, timeout=args.rate_seconds + 30)
    try:
        j = json.loads(r.stdout)
    except ValueError:
        raise BenchError(f"connrate: {r.stdout.strip()} {r.stderr.strip()}")
    cpu1, (busy, wall, jiffies_busy), t1 = proc_cpu_seconds(pids), clock.busy(), time.monotonic()
    res["connrate"] = j["rate"]
    res.setdefault("detail", {})["connrate"] = j
    # Where the connection rate stops: is the proxy's one thread saturated?
    res["busy_machine_connrate"] = 100 * busy / (wall * clock.ncpu)
    res["detail"]["busy_machine_connrate_jiffies"] = 100 * jiffies_busy / (wall * clock.ncpu)
    if j["ok"]:
        res["cpu_machine_per_conn"] = busy / j["ok"] * 1e6
    bpf1 = cfg.bpf_seconds()
    if bpf0 is not None and bpf1 is not None and j["ok"]:
        res["cpu_bpf_per_conn"] = (bpf1 - bpf0) / j["ok"] * 1e6
    if cfg.proxied and j["ok"]:
        res["cpu_proxy_per_conn"] = (cpu1 - cpu0) / j["ok"] * 1e6
        res["busy_proxy_connrate"] = 100 * (cpu1 - cpu0) / (t1 - t0)
    bad = j["connect_err"] + j["reset"] + j["short"] + j["timeout"] + j["other_err"]
    log(f"    connrate     {j['rate']:9.0f} conn/s  ok {j['ok']}  failed {bad}  "
        f"p50 {j['p50_us']} µs p99 {j['p99_us']} µs max {j['max_us']} µs"
        + (f"  first error: {j['first_error']}" if bad else ""))
    if bad:
        res.setdefault("problems", []).append(
            f"connection rate: {bad} of {j['ok'] + bad} connections failed "
            f"(connect {j['connect_err']}, reset {j['reset']}, short {j['short']}, "
            f"timeout {j['timeout']}; first error: {j['first_error']})")
    if j["slow_200ms"]:
        res.setdefault("problems", []).append(
            f"connection rate: {j['slow_200ms']} connections took over 200 ms (max {j['max_us'] / 1000:.0f} ms)")
    if syn0 is not None:
        syn1 = cfg.syn_count(PORT_RR)
        res["detail"]["connrate_tproxy_syns"] = syn1 - syn0
        if syn1 - syn0 < j["ok"]:
            raise BenchError(f"{cfg.name}: {j['ok']} connections completed but the tproxy rule "
                             f"saw only {syn1 - syn0} SYNs: traffic went past the proxy")
    if not cfg.alive():
        raise BenchError(f"{cfg.name} died during the connection-rate test")


def hold(topo, cfg, args, bins, res):
    n = args.hold_conns
    time.sleep(0.5)
    pids = cfg.pids()
    rss0, mem0, fds0 = proc_rss_kib(pids), kernel_mem_kib(), proc_fds(pids)
    proc = topo.start(topo.client, [bins["holdconns"], "-a", SERVER4, "-p", str(PORT_ECHO), "-n", str(n),
                                    "-i", "256", "-s", "60", "-H", "120"], "holdconns",
                      stdin=subprocess.PIPE)
    try:
        deadline = time.time() + 70
        line = ""
        while time.time() < deadline and proc.poll() is None:
            line = topo.logtext("holdconns").strip()
            if line:
                break
            time.sleep(0.05)
        try:
            j = json.loads(line.splitlines()[0])
        except (ValueError, IndexError):
            raise BenchError(f"holdconns: {line!r}")
        time.sleep(0.5)
        pids = cfg.pids()
        rss1, mem1, fds1 = proc_rss_kib(pids), kernel_mem_kib(), proc_fds(pids)
        held = j["held"]
        res.setdefault("detail", {})["hold"] = dict(j, rss0_kib=rss0, rss1_kib=rss1, fds0=fds0, fds1=fds1,
                                                    mem0_kib=mem0, mem1_kib=mem1)
        if held < n:
            res.setdefault("problems", []).append(
                f"idle connections: only {held} of {n} held ({j['failed']} failed, first error: "
                f"{j['first_error']})")
        if held:
            res["mem_kernel_per_conn"] = (mem1 - mem0) / held
            if cfg.proxied:
                res["rss_per_conn"] = (rss1 - rss0) / held
        log(f"    idle conns   {held} held in {j['setup_s']:.1f} s"
            + (f", proxy RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB = "
               f"{res.get('rss_per_conn', 0):.2f} KiB/conn, fds {fds0} -> {fds1}" if cfg.proxied else "")
            + f", {res.get('mem_kernel_per_conn', 0):.2f} KiB/conn kernel")
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            topo.stop(proc)
    # The proxy must let go of them again.
    if cfg.proxied:
        deadline = time.time() + 10
        while time.time() < deadline and proc_fds(cfg.pids()) > fds0 + 16:
            time.sleep(0.2)
        left = proc_fds(cfg.pids())
        res["detail"]["hold"]["fds_after_close"] = left
        res["detail"]["hold"]["rss_after_close_kib"] = proc_rss_kib(cfg.pids())
        if left > fds0 + 16:
            res.setdefault("problems", []).append(
                f"idle connections: {left - fds0} fds still open 10 s after the client closed all")
    if not cfg.alive():
        raise BenchError(f"{cfg.name} died during the idle-connection test")


def run_config(name, args, bins, tmp_root):
    tmp = tempfile.mkdtemp(prefix=f"{name}-", dir=tmp_root)
    topo = Topology(tmp)
    res = {"config": name, "ok": False}
    cfg = None
    try:
        res["background_busy"] = wait_quiet(args.wait_quiet)
        topo.up()
        start_servers(topo, bins)
        cfg = make_config(name, topo, args, bins)
        cfg.start()
        res["facts"] = sanity_check(topo, cfg)
        socks_start = proc_sockets(cfg.pids())
        steps = [("ping-pong", lambda: pingpong(topo, args, bins, res)),
                 ("bulk", lambda: bulk(topo, cfg, args, res)),
                 ("connection rate", lambda: connrate(topo, cfg, args, bins, res))]
        if cfg.proxied or not args.skip_direct_hold:
            steps.append(("idle connections", lambda: hold(topo, cfg, args, bins, res)))
        # One failed measurement does not stop the others, a dead proxy does.
        for step, fn in steps:
            try:
                fn()
            except (BenchError, subprocess.TimeoutExpired) as e:
                res.setdefault("step_errors", {})[step] = str(e)
                log(f"  {name}: {step} failed: {e}")
                if args.verbose:
                    traceback.print_exc()
            if not cfg.alive():
                raise BenchError(f"{cfg.name} exited ({cfg.proc.returncode}) during {step}: "
                                 f"{topo.logtext(cfg.log_name())[-500:]}")
        if isinstance(cfg, Cutthru):
            res["facts"]["cutthru_reasons_end"] = cfg.reason_counts()
        if cfg.proxied:
            # Every client has closed: the proxy should be back to its own
            # sockets (splice keeps a pool of idle pipes, and their fds).
            deadline = time.time() + 5
            while proc_sockets(cfg.pids()) > socks_start and time.time() < deadline:
                time.sleep(0.2)
            left = proc_sockets(cfg.pids()) - socks_start
            res["facts"]["sockets_left_at_end"] = left
            if left > 0:
                res.setdefault("problems", []).append(
                    f"{left} more sockets open in the proxy at the end than after its start, with "
                    f"every client closed (connections that never finished?)")
        problem = cfg.stop()
        if problem:
            res.setdefault("problems", []).append(f"{cfg.name}: {problem}")
        res["ok"] = not res.get("step_errors")
        if res.get("step_errors"):
            res["error"] = "; ".join(f"{k}: {v}" for k, v in res["step_errors"].items())
    except (BenchError, subprocess.TimeoutExpired, OSError, KeyError) as e:
        res["error"] = str(e)
        log(f"  FAILED {name}: {e}")
        if args.verbose:
            traceback.print_exc()
    finally:
        if cfg is not None and cfg.proc is not None and cfg.proc.poll() is None:
            problem = cfg.stop()
            if problem:
                res.setdefault("problems", []).append(f"{cfg.name}: {problem}")
        if cfg is not None:
            res["notes"] = cfg.notes
            if cfg.log_name():
                res["proxy_log_tail"] = topo.logtext(cfg.log_name())[-2000:]
        topo.down()
    res["logdir"] = tmp
    return res


# -- building ---------------------------------------------------------------------------

def build_helpers(tmp):
    out = os.path.join(tmp, "bin")
    os.makedirs(out)
    bins = {}
    for name in ("benchsrv", "connrate", "pingpong", "holdconns", "syscallcost"):
        path = os.path.join(out, name)
        run("cc", "-O2", "-Wall", "-Wextra", "-pthread", "-o", path, os.path.join(HERE, f"{name}.c"))
        bins[name] = path
    so = os.path.join(out, "transparent_listen.so")
    run("cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "transparent_listen.c"), "-ldl")
    bins["transparent_listen.so"] = so
    return bins


def syscall_cost(bins):
    """ns per system call that does nothing, or None: a proxy's CPU per connection
    is partly its count of system calls times this."""
    r = run(bins["syscallcost"], check=False, timeout=120)
    try:
        return json.loads(r.stdout)["ns_per_syscall"]
    except (ValueError, KeyError):
        return None


def data_paths_from_help(cutthru):
    """The --data-path choices that `cutthru run --help` lists, or [] if it has none.

    Reads the help line, e.g. "--data-path PATH  sockmap (kernel cut-through,
    default), splice or copy", without its parenthesised remarks."""
    r = run(cutthru, "run", "--help", check=False)
    for line in (r.stdout + r.stderr).splitlines():
        m = re.search(r"--data-path(?:[ =]+([A-Z_<>]+|\S*\|\S*))?\s+(.*)", line)
        if not m:
            continue
        text = m.group(1) if m.group(1) and "|" in m.group(1) else m.group(2)
        text = re.sub(r"\([^)]*\)", "", text)
        paths = []
        for tok in re.split(r",|\||\bor\b", text):
            tok = tok.strip().strip("<>[]{}")
            if re.fullmatch(r"[a-z][a-z0-9_-]*", tok) and tok not in paths:
                paths.append(tok)
        return paths
    return []


# -- statistics and reports ------------------------------------------------------------------

def summarize(results, configs):
    """{config: {metric: {median, min, max, ratio, ratio_min, ratio_max, n}}}"""
    by_rep = {}
    for r in results:
        by_rep.setdefault(r["rep"], {})[r["config"]] = r
    summary = {}
    for c in configs:
        summary[c] = {}
        for key, *_ in METRICS:
            vals, ratios = [], []
            for rep, rs in by_rep.items():
                r = rs.get(c)
                if not r or r.get(key) is None:
                    continue
                vals.append(r[key])
                d = rs.get("direct")
                if d and d.get(key):
                    ratios.append(r[key] / d[key])
            s = {"n": len(vals)}
            if vals:
                s.update(median=statistics.median(vals), min=min(vals), max=max(vals))
            if ratios:
                s.update(ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios))
            summary[c][key] = s
    return summary


def fmt(v, key):
    if v is None:
        return "n/a"
    if key == "connrate":
        return f"{v:,.0f}".replace(",", " ")
    if key == "cpu_bpf_per_conn":
        return f"{v:.1f}"
    if key == "cpu_bpf_per_gb":
        return f"{v:.3f}"
    if key.startswith("busy") or key in ("cpu_proxy_per_conn", "cpu_machine_per_conn", "held_share_bulk"):
        return f"{v:.0f}"
    if key.startswith("tput") or key.startswith("cpu"):
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    if key.startswith("lat"):
        return f"{v:.1f}"
    return f"{v:.2f}"


def write_results_md(path, summary, configs, results, meta):
    L = []
    L.append("# cutthru benchmark results\n")
    L.append(f"- date: {meta['date']}")
    L.append(f"- kernel: {meta['kernel']}; {meta['cpus']} CPUs ({meta['cpu_model']}); {meta['mem_gib']:.0f} GiB")
    L.append(f"- cutthru: {meta['cutthru_version']} (git {meta['git']}); built: {meta['build']}")
    if meta.get("ns_per_syscall") is not None:
        L.append(f"- one system call that does nothing (getppid, bench/syscallcost.c): "
                 f"{meta['ns_per_syscall']:.0f} ns")
    L.append(f"- haproxy: {meta['haproxy']}; nginx: {meta['nginx']}; iperf3: {meta['iperf3']}")
    L.append(f"- command: `{meta['command']}`")
    L.append(f"- repetitions: {meta['reps']} (configurations in rotated order, fresh namespaces each time); "
             f"total time {meta['elapsed_s'] / 60:.1f} min")
    L.append(f"- parameters: iperf3 -t {meta['args']['bulk_seconds']} (1 and 8 streams, -R for s→c); "
             f"connection rate {meta['args']['rate_seconds']} s, {meta['args']['rate_threads']} threads × "
             f"{meta['args']['rate_conc']} in flight; ping-pong {meta['args']['pingpong_count']} round trips "
             f"after 1000 warm-up; {meta['args']['hold_conns']} idle connections; "
             f"haproxy/nginx with {meta['args']['proxy_workers']} thread/worker (cutthru is one epoll loop); "
             f"/dev/cpu_dma_latency held at 0: {meta['dma_latency']}")
    L.append("")
    L.append("Topology (as tests/net/topo.py): client ns 198.18.1.2 — veth — 198.18.1.1 router ns "
             "198.19.2.1 — veth — 198.19.2.2 server ns. `direct`: the router forwards. "
             "`cutthru-<path>`: cutthru in the router. `haproxy`/`nginx`: fully transparent through "
             "nftables TPROXY + fwmark 1 → table 100 local route (server sees the client's address).")
    L.append("")
    L.append("## Medians (min–max)\n")
    L.append("| metric | unit | " + " | ".join(configs) + " |")
    L.append("| --- | --- | " + " | ".join("---:" for _ in configs) + " |")
    for key, label, unit, _ in METRICS:
        cells = []
        for c in configs:
            s = summary[c][key]
            if "median" not in s:
                cells.append("n/a")
            elif s["n"] > 1:
                cells.append(f"{fmt(s['median'], key)} ({fmt(s['min'], key)}–{fmt(s['max'], key)})")
            else:
                cells.append(fmt(s["median"], key))
        L.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## Ratio to `direct` (median of per-repetition ratios, min–max)\n")
    L.append("Throughput and connection rate: higher is better. Latency, CPU and memory: lower is better. "
             "Proxy CPU and proxy RSS have no `direct` figure, hence no ratio.\n")
    L.append("| metric | " + " | ".join(configs) + " |")
    L.append("| --- | " + " | ".join("---:" for _ in configs) + " |")
    for key, label, unit, _ in METRICS:
        if key.startswith("busy"):
            continue  # a share of the CPU, not a cost to compare
        if not any("ratio" in summary[c][key] for c in configs if c != "direct"):
            continue  # proxy CPU and RSS: direct has none
        cells = []
        for c in configs:
            s = summary[c][key]
            if c == "direct" and "ratio" in s:
                cells.append("1")
            elif "ratio" not in s:
                cells.append("n/a")
            elif s["n"] > 1:
                cells.append(f"{s['ratio']:.2f} ({s['ratio_min']:.2f}–{s['ratio_max']:.2f})")
            else:
                cells.append(f"{s['ratio']:.2f}")
        L.append(f"| {label} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("![ratios to direct](results.png)\n")
    L.append("## How each figure is taken\n")
    L.append("- Throughput: iperf3 `sum_received` bits/s; c→s is iperf3's default, s→c is `-R`.")
    L.append("- Connection rate: bench/connrate.c, each connection sends 100 bytes, reads the 100-byte reply "
             "and the server's FIN, closes; completed connections / elapsed time.")
    L.append("- Latency: bench/pingpong.c, 1 byte each way on one TCP_NODELAY connection to an echo server.")
    L.append("- During the connection-rate test: the proxy's utime+stime (all its processes; softirq work "
             "done while it runs, such as delivering what it sends through the veth, is charged to it) per "
             "completed connection and as a share of one CPU over the test's wall time (connrate's start-up "
             "included); the machine's busy time (below) per completed connection and as a share of all CPUs.")
    L.append("- CPU per GB: over the four bulk runs together, proxy = utime+stime of the proxy process(es) "
             "(/proc/PID/stat; work done in softirq, e.g. BPF or in-kernel forwarding, is not in it), machine = "
             "busy time of all CPUs (includes iperf3 itself and whatever else runs on the machine), divided by "
             "the GB (10⁹ bytes) received.")
    L.append("- cutthru's BPF programs (the intercepting controller at TC, and for sockmap the verdict): "
             "the run time the kernel measures for the programs the daemon holds (BPF_ENABLE_STATS, on for "
             "the whole run and every configuration), per GB over the four bulk runs and per completed "
             "connection. It is part of the machine's CPU, and of the proxy's only where the softirq that ran "
             "the program ran in the proxy's time.")
    L.append("- Machine busy time: wall time × CPUs less the idle and iowait time of /proc/stat, which the "
             "kernel's nohz idle accounting keeps exactly. /proc/stat's busy fields are sampled at the timer "
             "tick and miss work done in bursts between idle periods: in HAProxy's and nginx's "
             "connection-rate tests they showed as little as half of it. results.json keeps the tick-sampled figures too "
             "(`detail.cpu_machine_per_gb_jiffies`, `detail.busy_machine_connrate_jiffies`).")
    L.append("- Memory per idle connection: bench/holdconns.c opens the connections to an echo server and "
             "gets one byte echoed on each; proxy = VmRSS delta of the proxy process(es) (user space only: "
             "kernel socket memory is not in it); kernel = delta of Slab (/proc/meminfo) plus TCP buffer pages "
             "(/proc/net/sockstat), machine-wide: the sockets of all three namespaces, client and server "
             "included (2 per connection direct, 4 proxied); noisy if anything else runs.")
    L.append("")
    # Checks and problems.
    L.append("## Checks and problems\n")
    L.append("Before measuring, each configuration is checked: the server sees the client's address; while "
             "a connection is open the router holds both legs in the proxy's own process (ss -tnp) and none "
             "for `direct`; for haproxy/nginx the nft tproxy counters moved (and nginx logged the check "
             "connection); after the connection-rate test the tproxy rule must have seen at least as many "
             "SYNs as connections completed.\n")
    any_problem = False
    for r in results:
        items = []
        if not r.get("ok"):
            items.append(f"FAILED: {r.get('error')}")
        items += r.get("problems", [])
        items += r.get("notes", [])
        if r.get("background_busy", 0) > 0.2:
            items.append(f"the machine was {r['background_busy'] * 100:.0f}% busy just before this "
                         f"configuration started (something else running: its figures are less reliable)")
        for it in items:
            any_problem = True
            L.append(f"- rep {r['rep'] + 1} `{r['config']}`: {it}")
    if not any_problem:
        L.append("- none")
    if meta.get("warnings"):
        for w in meta["warnings"]:
            L.append(f"- {w}")
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_plot(png, summary, configs, tmp):
    others = [c for c in configs if c != "direct"]
    if not others or not shutil.which("gnuplot"):
        return False
    keys = ["tput_up_1", "tput_up_8", "tput_down_1", "tput_down_8", "connrate", "lat_p50", "lat_p99"]
    if all(summary[c][k].get("ratio") is None for c in others for k in keys):
        return False
    dat = os.path.join(tmp, "ratios.dat")
    with open(dat, "w") as f:
        f.write("# config " + " ".join(keys) + "\n")
        for c in others:
            vals = []
            for k in keys:
                v = summary[c][k].get("ratio")
                vals.append(f"{v:.4f}" if v is not None else "?")
            f.write(f"{c} " + " ".join(vals) + "\n")
    def top(ks):
        vs = [summary[c][k].get("ratio") or 0 for c in others for k in ks]
        return max([1.45] + [v * 1.15 for v in vs])
    y1, y2, y3 = top(keys[:4]), top(keys[4:5]), top(keys[5:])
    gp = f"""
set terminal pngcairo size 1500,560 font "sans,10"
set output '{png}'
set datafile missing '?'
set multiplot layout 1,3 title "Ratio to direct forwarding, same repetition (median over repetitions)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right
set xtics rotate by -30 nomirror
set bmargin 6
set ylabel "ratio to direct"
set title "Bulk throughput (higher is better)"
set yrange [0:{y1:.2f}]
plot '{dat}' using 2:xtic(1) title "c→s 1 stream", '' using 3 title "c→s 8 streams", \\
     '' using 4 title "s→c 1 stream", '' using 5 title "s→c 8 streams", 1 with lines lc rgb "black" dt 2 notitle
set title "Connection rate, 100 B each way (higher is better)"
set yrange [0:{y2:.2f}]
plot '{dat}' using 6:xtic(1) title "connections/s" lc rgb "#9400d3", 1 with lines lc rgb "black" dt 2 notitle
set title "1-byte ping-pong latency (lower is better)"
set yrange [0:{y3:.2f}]
plot '{dat}' using 7:xtic(1) title "p50" lc rgb "#009e73", '' using 8 title "p99" lc rgb "#56b4e9", \\
     1 with lines lc rgb "black" dt 2 notitle
unset multiplot
"""
    gpf = os.path.join(tmp, "plot.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    r = run("gnuplot", gpf, check=False)
    if r.returncode != 0:
        log(f"gnuplot failed: {r.stderr.strip()}")
        return False
    return True


def tool_version(*cmd):
    try:
        r = run(*cmd, check=False, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


# -- main ---------------------------------------------------------------------------------------

class Interrupted(Exception):
    pass


def on_signal(sig, frame):
    raise Interrupted(f"signal {sig}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--quick", action="store_true", help="1 repetition, shorter tests (development)")
    ap.add_argument("--cutthru-paths", default="auto",
                    help="comma-separated cutthru data paths, e.g. copy,splice,sockmap; default 'auto': "
                         "every path `cutthru run --help` lists for --data-path, or just copy if it has "
                         "no --data-path (then the flag is not passed)")
    ap.add_argument("--configs", default=None,
                    help="comma-separated subset of configurations to run, e.g. direct,haproxy")
    ap.add_argument("--cutthru", default=os.path.join(REPO, "build", "cutthru"), help="cutthru binary")
    ap.add_argument("--no-build", action="store_true", help="do not run make first")
    ap.add_argument("--bulk-seconds", type=int, default=None, help="iperf3 -t (default 5, quick 2)")
    ap.add_argument("--rate-seconds", type=float, default=None, help="connection-rate test length (default 5, quick 2)")
    ap.add_argument("--rate-threads", type=int, default=2)
    ap.add_argument("--rate-conc", type=int, default=16, help="connections in flight per thread")
    ap.add_argument("--rate-max", type=int, default=150000, help="at most this many connections per run")
    ap.add_argument("--pingpong-count", type=int, default=None, help="round trips (default 20000, quick 5000)")
    ap.add_argument("--hold-conns", type=int, default=None, help="idle connections (default 8000, quick 2000)")
    ap.add_argument("--proxy-workers", type=int, default=1, help="haproxy nbthread / nginx worker_processes")
    ap.add_argument("--wait-quiet", type=float, default=15,
                    help="before each configuration, wait up to this many seconds for the machine "
                         "to be <20%% busy (default 15)")
    ap.add_argument("--skip-direct-hold", action="store_true", help="no idle-connection test for direct")
    ap.add_argument("--out", default=HERE, help="where RESULTS.md, results.png, results.json go")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temporary log directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
    args.bulk_seconds = args.bulk_seconds or (2 if args.quick else 5)
    args.rate_seconds = args.rate_seconds or (2 if args.quick else 5)
    args.pingpong_count = args.pingpong_count or (5000 if args.quick else 20000)
    args.hold_conns = args.hold_conns or (2000 if args.quick else 8000)
    if not 1 <= args.hold_conns <= 9000:
        ap.error("--hold-conns must be 1..9000 (the fd limit is 20000, a proxy needs 2 per connection)")
    if args.reps < 1 or args.bulk_seconds < 1 or args.bulk_seconds > 60 or args.rate_seconds > 60:
        ap.error("bad --reps/--bulk-seconds/--rate-seconds")

    if os.geteuid() != 0:
        sys.exit("bench/run.py: must run as root (namespaces, nftables, BPF)")
    for tool in ("ip", "nft", "iperf3", "haproxy", "nginx", "cc", "ss"):
        if not shutil.which(tool):
            sys.exit(f"bench/run.py: {tool} missing; run bench/install-deps.sh")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    t_start = time.time()
    # The code measured is the code at start: record it before anything can change.
    git_rev = (run("git", "-C", REPO, "rev-parse", "--short", "HEAD", check=False).stdout.strip() or "?") + (
        " + uncommitted changes" if run("git", "--no-optional-locks", "-C", REPO, "status", "--porcelain",
                                        "-uno", check=False).stdout.strip() else "")
    warnings = []
    build = "not rebuilt (--no-build)"
    if not args.no_build:
        r = run("make", "-C", REPO, "-s", "all", check=False, timeout=600)
        if r.returncode == 0:
            build = "make all ok"
        else:
            build = "make FAILED, the existing binary was used"
            err = [ln.strip() for ln in (r.stdout + r.stderr).splitlines() if "error" in ln.lower()]
            warnings.append(f"`make` failed, benchmarked the existing {args.cutthru} "
                            f"(built {time.ctime(os.path.getmtime(args.cutthru)) if os.path.exists(args.cutthru) else '?'}): "
                            f"{(err[0] if err else '?')[:200]}")
            log(warnings[-1])
    if not os.access(args.cutthru, os.X_OK):
        sys.exit(f"bench/run.py: {args.cutthru} not built")

    listed = data_paths_from_help(args.cutthru)
    args.has_data_path = bool(listed)
    if args.cutthru_paths == "auto":
        order = {"copy": 0, "splice": 1, "sockmap": 2}
        paths = sorted(listed, key=lambda p: (order.get(p, 9), p)) or ["copy"]
    else:
        paths = [p for p in args.cutthru_paths.split(",") if p]
    for p in paths:
        if p != "copy" and p not in listed:
            sys.exit(f"bench/run.py: cutthru data path {p!r} not offered by `cutthru run --help` "
                     f"(it lists: {listed or 'no --data-path'})")
    configs = ["direct"] + [f"cutthru-{p}" for p in paths] + ["haproxy", "nginx"]
    if args.configs:
        want = args.configs.split(",")
        configs = [c for c in configs if c in want]
        if not configs:
            sys.exit("bench/run.py: --configs selects nothing")

    tmp_root = tempfile.mkdtemp(prefix="cutthru-bench-")
    dma_fd = None
    results = []
    ns_per_syscall = None
    bpf_stats_fd = None
    interrupted = False
    try:
        bins = build_helpers(tmp_root)
        try:
            dma_fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
            os.write(dma_fd, struct.pack("i", 0))
            dma = "yes"
        except OSError as e:
            dma = f"no ({e.strerror})"
            warnings.append(f"/dev/cpu_dma_latency could not be held at 0: {e}")
        bpf_stats_fd, why = enable_bpf_stats()
        if why:
            warnings.append(f"BPF_ENABLE_STATS refused ({why}): no BPF program CPU figures")
        ns_per_syscall = syscall_cost(bins)
        if ns_per_syscall is not None:
            log(f"one system call costs {ns_per_syscall} ns here (bench/syscallcost.c)")
        log(f"configs {configs}, {args.reps} repetition(s); logs in {tmp_root}")
        for rep in range(args.reps):
            k = rep % len(configs)
            order = configs[k:] + configs[:k]
            for name in order:
                log(f"rep {rep + 1}/{args.reps}: {name}")
                res = run_config(name, args, bins, tmp_root)
                res["rep"] = rep
                results.append(res)
    except (Interrupted, KeyboardInterrupt) as e:
        interrupted = True
        log(f"interrupted ({e}); namespaces removed, no report written")
    finally:
        if dma_fd is not None:
            os.close(dma_fd)
        if bpf_stats_fd is not None:
            os.close(bpf_stats_fd)
    if interrupted:
        sys.exit(130)

    summary = summarize(results, configs)
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                           if ln.startswith("model name")), "?"),
        "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "cutthru_version": tool_version(args.cutthru, "--version"),
        "git": git_rev,
        "ns_per_syscall": ns_per_syscall,
        "build": build,
        "haproxy": tool_version("haproxy", "-v"),
        "nginx": tool_version("nginx", "-v").replace("nginx version: ", ""),
        "iperf3": tool_version("iperf3", "--version"),
        "command": " ".join(["bench/run.py"] + [shlex.quote(a) for a in sys.argv[1:]]),
        "reps": args.reps,
        "elapsed_s": time.time() - t_start,
        "args": vars(args),
        "dma_latency": dma,
        "warnings": warnings,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "results": results}, f, indent=1, default=str)
    png = os.path.join(args.out, "results.png")
    plotted = write_plot(png, summary, configs, tmp_root)
    write_results_md(os.path.join(args.out, "RESULTS.md"), summary, configs, results, meta)
    print(open(os.path.join(args.out, "RESULTS.md")).read())
    failed = [r for r in results if not r.get("ok")]
    if failed or args.keep_logs:
        log(f"logs kept in {tmp_root}")
    else:
        shutil.rmtree(tmp_root, ignore_errors=True)
    log(f"wrote {args.out}/RESULTS.md" + (", results.png" if plotted else "") + ", results.json; "
        f"{len(results) - len(failed)} of {len(results)} configuration runs ok, "
        f"{(time.time() - t_start) / 60:.1f} min")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
