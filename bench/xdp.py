#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""make bench-xdp: a SYN flood from a source not admitted, dropped four ways.

    client ns 198.18.1.2 + flood 198.18.2.0/24 -- veth -- router ns -- veth -- server 198.19.2.2

Configurations, each in fresh namespaces per repetition:

  xdp-native   cutthru --xdp native   (the prefilter in the veth driver)
  xdp-generic  cutthru --xdp generic  (the prefilter after the skb is built)
  tc-only      cutthru --xdp off      (the TC program alone)
  nft-ingress  no cutthru: an nftables netdev ingress rule dropping SYNs to
               the service from outside the admitted prefix (what a user
               would write instead)
  floor        no cutthru: a native XDP program that drops every frame
               (bench/xdpdrop.bpf.c), the cheapest drop there is: what the
               flood source and the veth cost by themselves

trafgen (netsniff-ng) floods SERVER4:8080 with SYNs from random addresses of
198.18.2.0/24 and random ports, on CPU 1, for FLOOD seconds; so does an XDP
program (bench/xdpflood.c) with XDP frames, faster. The admitted client, the
proxy and the server run on CPU 0, their packets in a veth queue of their own. Measured:
packets dropped per second by the filter, machine CPU-seconds (and softirq
CPU-seconds) per million packets dropped, and the admitted client's
connection rate and p99 connect time (bench/connrate.c, 100-byte request
and reply) during the flood against the same run's rate before it. After
each XDP-frame flood, the flood source runs alone (its frames dropped where
they are made): the flood CPU's time per packet less that is the router's
own, which gives the packets dropped per second of router CPU.
bench/progrun (BPF_PROG_TEST_RUN with repeat) gives ns per packet of each
program.

Everything started is stopped by PID, every namespace removed, also on
failure; /dev/cpu_dma_latency is held at 0. Only 198.18.0.0/15 is used.

    bench/xdp.py [--reps 3] [--flood 5] [--build build]

Writes bench/RESULTS-xdp.md, bench/results-xdp.png, bench/results-xdp.json.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run as bench  # noqa: E402  (bench/run.py: topology, helpers)

SERVER4, CLIENT4 = bench.SERVER4, bench.CLIENT4
PORT = 8080
FLOOD_NET = "198.18.2"  # the flood's sources: not admitted
ADMITTED = "198.18.1.0/24"
CONFIGS = ["xdp-native", "xdp-generic", "tc-only", "nft-ingress", "floor"]
# trafgen: frames sent through a packet socket, so each arrives in the
# router as an skb already (as the issue asks); a native XDP program on veth
# sees it only after veth has copied it into an xdp buffer of its own.
# xdpframes: frames made by an XDP program (bench/xdpflood.c), which the
# router's veth receives as a NIC driver receives DMA buffers, before any
# skb, and many times faster than trafgen can make them.
SOURCES = ["trafgen", "xdpframes"]
# The flood and everything the router does with it on one CPU (veth runs
# the receiving side on the sender's CPU); the admitted client, the proxy
# and the server on the other, their packets in the veth queue of their own
# CPU (XPS), as a multi-queue NIC would keep them apart.
FLOOD_CPU = 1
CLIENT_CPU = 0
QUEUES = 2
# Then the XDP frames once more, with the router's receive side on a CPU
# of its own: what one router CPU can drop (see one_capacity()).
CAPACITY = "capacity"

log = bench.log
run = bench.run


class BenchError(Exception):
    pass


def cpu_jiffies(cpu=None):
    """(busy, softirq, total) jiffies of all CPUs, or of one."""
    want = "cpu" if cpu is None else f"cpu{cpu}"
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if w[0] == want:
                v = [int(x) for x in w[1:]]
                return sum(v[:8]) - v[3] - v[4], v[6], sum(v[:8])
    raise BenchError(f"no {want} in /proc/stat")


def task_cpu_s(pid):
    """User + system CPU-seconds of a task (a kernel thread's are all system)."""
    with open(f"/proc/{pid}/stat") as f:
        w = f.read().rsplit(")", 1)[1].split()
    return (int(w[11]) + int(w[12])) / bench.CLK_TCK


def napi_threads():
    """{pid: comm} of the kernel's threaded-NAPI tasks."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith("napi/"):
            out[int(d)] = comm
    return out


class RouterThreads:
    """The router's client-side veth with its NAPI in kernel threads pinned
    to CLIENT_CPU, away from the flood: all that the router does with a
    received frame (XDP, the skb, GRO, TC, nftables) runs in them, so their
    CPU time is the router's receive work alone, the flood source's left
    out, and a flood faster than they can drop keeps them busy."""

    def __init__(self, topo):
        self.topo, self.pids = topo, []

    def _threaded(self, on):
        run("ip", "netns", "exec", self.topo.router, "sh", "-c",
            f"echo {on} > /sys/class/net/{self.topo.if_rc}/threaded")

    def __enter__(self):
        before = napi_threads()
        self._threaded(1)
        want = ("napi/" + self.topo.if_rc)[:15]
        self.pids = [pid for pid, comm in napi_threads().items()
                     if pid not in before and comm.startswith(want)]
        if not self.pids:
            self._threaded(0)
            raise BenchError(f"threaded NAPI on {self.topo.if_rc}: no thread appeared")
        for pid in self.pids:
            os.sched_setaffinity(pid, {CLIENT_CPU})
        return self

    def cpu_s(self):
        return sum(task_cpu_s(pid) for pid in self.pids)

    def __exit__(self, *exc):
        self._threaded(0)


def link_stats(ns, dev):
    j = json.loads(run("ip", "-n", ns, "-j", "-s", "link", "show", dev).stdout)[0]["stats64"]
    return j["tx"]["packets"], j["tx"].get("dropped", 0)


# -- the filters --------------------------------------------------------------------

class Filter:
    def __init__(self, name, topo, args, tmp):
        self.name, self.topo, self.args, self.tmp = name, topo, args, tmp
        self.proc = None
        self.instance = topo.tag

    def start(self):
        t = self.topo
        if self.name == "floor":
            run("ip", "-n", t.router, "link", "set", "dev", t.if_rc, "xdpdrv", "obj",
                self.args.xdpdrop_obj, "sec", "xdp")
            return
        if self.name == "nft-ingress":
            rules = (f"table netdev {t.tag} {{\n"
                     f"  chain ingress {{\n"
                     f"    type filter hook ingress device \"{t.if_rc}\" priority -500; policy accept;\n"
                     f"    ip daddr {SERVER4} tcp dport {PORT} tcp flags & (syn | ack) == syn "
                     f"ip saddr != {ADMITTED} counter drop\n"
                     f"  }}\n}}\n")
            path = os.path.join(self.tmp, "ingress.nft")
            with open(path, "w") as f:
                f.write(rules)
            run("ip", "netns", "exec", t.router, "nft", "-f", path)
            return
        mode = {"xdp-native": "native", "xdp-generic": "generic", "tc-only": "off"}[self.name]
        self.proc = t.start(t.router, ["taskset", "-c", str(CLIENT_CPU), self.args.cutthru, "run",
                                       "-i", t.if_rc, "-i", t.if_rs,
                                       "--protect", f"{SERVER4}:{PORT}", "--allow", ADMITTED,
                                       "--xdp", mode, "--instance", self.instance, "-q"],
                            "cutthru")
        deadline = time.time() + 20
        while "ready" not in t.logtext("cutthru"):
            if self.proc.poll() is not None or time.time() > deadline:
                raise BenchError(f"cutthru did not start:\n{t.logtext('cutthru')}")
            time.sleep(0.05)
        if mode != "off" and f"on {t.if_rc}: {mode}" not in t.logtext("cutthru"):
            raise BenchError(f"XDP not attached in {mode} mode:\n{t.logtext('cutthru')}")

    def dropped(self):
        """Packets dropped as not admitted so far: (by XDP, by TC or nft)."""
        t = self.topo
        if self.name == "floor":
            out = run("ip", "netns", "exec", t.router, "ethtool", "-S", t.if_rc).stdout
            return sum(int(line.split(":")[1]) for line in out.splitlines()
                       if line.strip().split(":")[0].endswith("_xdp_drops")), 0
        if self.name == "nft-ingress":
            out = json.loads(run("ip", "netns", "exec", t.router, "nft", "-j", "list", "table",
                                 "netdev", t.tag).stdout)
            for item in out["nftables"]:
                rule = item.get("rule")
                if rule:
                    for expr in rule["expr"]:
                        if "counter" in expr:
                            return 0, expr["counter"]["packets"]
            raise BenchError("no counter in the nft rule")
        st = json.loads(run(self.args.cutthru, "stats", "--json", "--instance",
                            self.instance).stdout)
        return (st["xdp_verdicts"]["drop_not_admitted"]["packets"],
                st["verdicts"]["drop_not_admitted"]["packets"])

    def steered(self):
        """New connections the proxy took (0 for nft: forwarded)."""
        if self.name in ("nft-ingress", "floor"):
            return None
        st = json.loads(run(self.args.cutthru, "stats", "--json", "--instance",
                            self.instance).stdout)
        return st["verdicts"]["steer_syn"]["packets"]

    def alive(self):
        return self.proc is None or self.proc.poll() is None


# -- one repetition -----------------------------------------------------------------

def trafgen_conf(tmp, router_mac):
    path = os.path.join(tmp, "syn.trafgen")
    with open(path, "w") as f:
        # trafgen pins its Nth process to CPU N whatever taskset says: all
        # processes, the packet on FLOOD_CPU only (the others send nothing).
        f.write(f"cpu({FLOOD_CPU}): {{\n"
                f"  eth(da={router_mac}),\n"
                f"  ipv4(sa={FLOOD_NET}.1, sa[3]=drnd(), da={SERVER4}, ttl=64, df),\n"
                f"  tcp(sp=drnd(), dp={PORT}, seq=drnd(), syn, window=64240)\n"
                "}\n")
    return path


def connrate(topo, bins, seconds):
    r = run("ip", "netns", "exec", topo.client, "taskset", "-c", str(CLIENT_CPU), bins["connrate"],
            "-a", SERVER4, "-p", str(PORT),
            "-t", "1", "-c", "4", "-d", str(seconds), "-n", "1000000", "-o", "3000", check=False,
            timeout=seconds + 30)
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise BenchError(f"connrate: {r.stdout.strip()} {r.stderr.strip()}")


def queue_per_cpu(topo):
    """What the client's side sends from CPU n leaves by its veth's queue n
    and so reaches the router's receive queue n (veth maps one to the
    other): the flood's queue is not the admitted client's."""
    for q in range(QUEUES):
        run("ip", "netns", "exec", topo.client, "sh", "-c",
            f"echo {1 << q:x} > /sys/class/net/{topo.if_c}/queues/tx-{q}/xps_cpus")


# Frames the flood source makes alone (see source_alone()): about 1.5 s.
SOURCE_FRAMES = 60_000_000


def flood_argv(source, args, topo, conf, mac):
    if source == "trafgen":
        return ["timeout", "-s", "INT", str(args.flood), "taskset", "-c", str(FLOOD_CPU),
                "trafgen", "-o", topo.if_c, "-i", conf, "-P", str(FLOOD_CPU + 1), "-q"]
    return ["timeout", "-s", "INT", str(args.flood), "taskset", "-c", str(FLOOD_CPU),
            args.xdpflood, "-i", topo.if_c, "-m", mac, "-s", f"{FLOOD_NET}.1", "-d", SERVER4,
            "-p", str(PORT), "-o", args.xdpflood_obj]


def source_alone(args, topo, mac):
    """CPU-s per million frames the XDP-frame flood source costs by itself:
    the same frames made by the same program, dropped in the client's veth
    instead of sent (xdpflood -a). What the router's veth does with a frame
    (ptr_ring, NAPI, the filter, the page's return) is not in it."""
    argv = ["timeout", "-s", "INT", "60", "taskset", "-c", str(FLOOD_CPU), args.xdpflood, "-a",
            "-n", str(SOURCE_FRAMES), "-i", topo.if_c, "-m", mac, "-s", f"{FLOOD_NET}.1",
            "-d", SERVER4, "-p", str(PORT), "-o", args.xdpflood_obj]
    c0, _, _ = cpu_jiffies(FLOOD_CPU)
    out = run("ip", "netns", "exec", topo.client, *argv, timeout=90).stdout
    c1, _, _ = cpu_jiffies(FLOOD_CPU)
    if not json.loads(out)["complete"]:
        raise BenchError(f"the flood source alone was interrupted: {out.strip()}")
    return (c1 - c0) / bench.CLK_TCK / (SOURCE_FRAMES / 1e6)


def one_flood(name, source, args, bins, topo, flt, conf, mac):
    """One flood from source while the admitted client connects; the numbers."""
    bench.wait_quiet(5)
    # The floor drops every frame, the admitted client's too: no client test.
    client = name != "floor"
    idle = {"rate": 0.0, "p99_us": 0, "connect_err": 0, "reset": 0, "short": 0, "timeout": 0,
            "other_err": 0}
    before = connrate(topo, bins, args.baseline) if client else idle
    x0, t0 = flt.dropped()
    b0, s0, j0 = cpu_jiffies()
    c0, _, _ = cpu_jiffies(FLOOD_CPU)
    sent0, _ = link_stats(topo.client, topo.if_c)
    w0 = time.monotonic()
    flood = topo.start(topo.client, flood_argv(source, args, topo, conf, mac), source)
    time.sleep(0.5)
    during = connrate(topo, bins, max(1, args.flood - 1.5)) if client else idle
    flood.wait(args.flood + 10)
    w1 = time.monotonic()
    b1, s1, j1 = cpu_jiffies()
    c1, _, _ = cpu_jiffies(FLOOD_CPU)
    sent1, _ = link_stats(topo.client, topo.if_c)
    x1, t1 = flt.dropped()
    if not flt.alive():
        raise BenchError(f"{name}: cutthru died during the flood:\n{topo.logtext('cutthru')}")
    seconds = w1 - w0
    xdp, rest = x1 - x0, t1 - t0
    dropped = xdp + rest
    if dropped < 1000:
        raise BenchError(f"{name}/{source}: only {dropped} packets dropped; "
                         f"{topo.logtext(source).strip()}")
    sent = sent1 - sent0
    if source == "xdpframes":
        # XDP_TX frames bypass the veth's transmit counters: what reached
        # the filter is what it dropped.
        sent = dropped
    res = {
        "pps": dropped / seconds,
        "dropped_xdp": xdp,
        "dropped_later": rest,
        "seconds": seconds,
        "cpu_s_per_mpkt": (b1 - b0) / bench.CLK_TCK / (dropped / 1e6),
        "flood_cpu_s_per_mpkt": (c1 - c0) / bench.CLK_TCK / (dropped / 1e6),
        "sent_pps": sent / seconds,
        "softirq_s_per_mpkt": (s1 - s0) / bench.CLK_TCK / (dropped / 1e6),
        "cpus_busy": (b1 - b0) / max(1, j1 - j0) * os.cpu_count(),
        "rate_before": before["rate"],
        "rate_during": during["rate"],
        "p99_before_us": before["p99_us"],
        "p99_during_us": during["p99_us"],
        "keep": during["rate"] / before["rate"] if before["rate"] else 0.0,
        "conn_failed": sum(during[k] for k in ("connect_err", "reset", "short", "timeout",
                                                "other_err")),
        "steered": flt.steered(),
    }
    if source == "xdpframes":
        # The router's own price: what the flood CPU spent per packet less
        # what the flood source alone costs, measured right after.
        res["source_cpu_s_per_mpkt"] = source_alone(args, topo, mac)
        res["router_cpu_s_per_mpkt"] = res["flood_cpu_s_per_mpkt"] - res["source_cpu_s_per_mpkt"]
    log(f"  {name}/{source}: {res['pps'] / 1e6:.2f} Mpps dropped ({xdp} by XDP, {rest} later) "
        f"of {res['sent_pps'] / 1e6:.2f} Mpps sent, {res['flood_cpu_s_per_mpkt']:.2f} CPU-s/Mpkt "
        f"on CPU {FLOOD_CPU} ({res['cpu_s_per_mpkt']:.2f} machine), client "
        f"{before['rate']:.0f} -> {during['rate']:.0f} conn/s, p99 {before['p99_us']} -> "
        f"{during['p99_us']} µs")
    return res


def one_capacity(name, args, topo, flt, conf, mac):
    """What one router CPU drops when it does nothing else: XDP frames from
    CPU FLOOD_CPU, the router's receive side in threads on CLIENT_CPU (no
    client test: that CPU is the router's now)."""
    bench.wait_quiet(5)
    with RouterThreads(topo) as threads:
        x0, t0 = flt.dropped()
        r0, w0 = threads.cpu_s(), time.monotonic()
        flood = topo.start(topo.client, flood_argv("xdpframes", args, topo, conf, mac),
                           "capacity")
        flood.wait(args.flood + 10)
        r1, w1 = threads.cpu_s(), time.monotonic()
        x1, t1 = flt.dropped()
    dropped, seconds, busy = (x1 - x0) + (t1 - t0), w1 - w0, r1 - r0
    if dropped < 1000 or busy <= 0:
        raise BenchError(f"{name}/capacity: {dropped} dropped in {busy:.2f} CPU-s")
    res = {"pps": dropped / seconds, "router_cpu_s_per_mpkt": busy / (dropped / 1e6),
           "router_cpus_busy": busy / seconds}
    log(f"  {name}/capacity: {res['pps'] / 1e6:.2f} Mpps dropped by the router's CPU "
        f"{CLIENT_CPU} ({res['router_cpus_busy'] * 100:.0f}% busy), "
        f"{res['router_cpu_s_per_mpkt'] * 1000:.0f} ns per packet")
    return res


def one_rep(name, args, bins, tmp):
    """Fresh namespaces; one flood from each source. Returns {source: numbers}."""
    topo = bench.Topology(tmp, queues=QUEUES).up()
    flt = Filter(name, topo, args, tmp)
    out = {}
    try:
        topo.start(topo.server, ["taskset", "-c", str(CLIENT_CPU), bins["benchsrv"], "-b",
                                 SERVER4, "-T", "120", f"rr:{PORT}"], "benchsrv")
        deadline = time.time() + 10
        while "listening" not in topo.logtext("benchsrv"):
            if time.time() > deadline:
                raise BenchError("benchsrv did not listen")
            time.sleep(0.05)
        flt.start()
        if name not in ("xdp-native", "floor"):
            # The veth takes XDP frames only with its NAPI on (GRO), and
            # then builds an skb for each, as a NIC driver would.
            run("ip", "netns", "exec", topo.router, "ethtool", "-K", topo.if_rc, "gro", "on")
        queue_per_cpu(topo)
        mac = json.loads(run("ip", "-n", topo.router, "-j", "link", "show",
                             topo.if_rc).stdout)[0]["address"]
        conf = trafgen_conf(tmp, mac)
        for source in SOURCES:
            out[source] = one_flood(name, source, args, bins, topo, flt, conf, mac)
        out[CAPACITY] = one_capacity(name, args, topo, flt, conf, mac)
        return out
    finally:
        topo.down()


# -- ns per packet ------------------------------------------------------------------

def progrun(args):
    """ns per packet through BPF_PROG_TEST_RUN: the minimum and median of 5 runs."""
    runs = {}
    for _ in range(5):
        r = run(args.progrun, str(args.repeat), timeout=300)
        for line in r.stdout.splitlines():
            j = json.loads(line)
            runs.setdefault((j["prog"], j["frame"]), []).append(j["ns"])
    return {f"{p}/{f}": {"min": min(v), "median": statistics.median(v)}
            for (p, f), v in runs.items()}


# -- the report ---------------------------------------------------------------------

KEYS = ("pps", "cpu_s_per_mpkt", "flood_cpu_s_per_mpkt", "sent_pps", "softirq_s_per_mpkt",
        "rate_before", "rate_during", "p99_before_us", "p99_during_us", "keep", "cpus_busy")


ROUTER_KEYS = ("source_cpu_s_per_mpkt", "router_cpu_s_per_mpkt")


def rep_ratios(results, source, a="xdp-native", b="nft-ingress", key="pps"):
    """a's packets per second over b's, in each repetition both finished;
    with key, a CPU cost per packet: b's over a's (packets per CPU-second)."""
    pairs = [(x[source], y[source]) for x, y in zip(results.get(a, []), results.get(b, []))
             if x and y and source in x and source in y]
    if key == "pps":
        return [x["pps"] / y["pps"] for x, y in pairs]
    return [y[key] / x[key] for x, y in pairs if x[key] > 0]


def summarize(results):
    """{source: {config: medians over the repetitions}}."""
    out = {}
    for source in SOURCES:
        for name, reps in results.items():
            runs = [r[source] for r in reps if r and source in r]
            if not runs:
                continue
            keys = KEYS + tuple(k for k in ROUTER_KEYS if all(k in r for r in runs))
            m = {k: statistics.median(r[k] for r in runs) for k in keys}
            m["conn_failed"] = sum(r["conn_failed"] for r in runs)
            m["reps"] = len(runs)
            out.setdefault(source, {})[name] = m
    for name, reps in results.items():
        runs = [r[CAPACITY] for r in reps if r and CAPACITY in r]
        if runs:
            out.setdefault(CAPACITY, {})[name] = {
                k: statistics.median(r[k] for r in runs)
                for k in ("pps", "router_cpu_s_per_mpkt", "router_cpus_busy")}
    return out


def write_plot(png, summary, tmp):
    names = [n for n in CONFIGS if all(n in summary.get(src, {}) for src in SOURCES)]
    if not names or not shutil.which("gnuplot"):
        return False
    dat = os.path.join(tmp, "xdp.dat")
    with open(dat, "w") as f:
        for n in names:
            cols = [n]
            for key, scale in (("pps", 1e-6), ("flood_cpu_s_per_mpkt", 1), ("keep", 100)):
                cols += [f"{summary[src][n][key] * scale:.4f}" for src in SOURCES]
            f.write(" ".join(cols) + "\n")
    gp = os.path.join(tmp, "xdp.gp")
    with open(gp, "w") as f:
        f.write(f"""set terminal pngcairo size 1350,450 font ",10"
set output "{png}"
set multiplot layout 1,3 title "SYN flood from a source not admitted, dropped four ways (veth, 2 vCPUs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set yrange [0:*]
set xtics rotate by -20
set key top right
set title "packets dropped per second (M)"
plot "{dat}" using 2:xtic(1) title "trafgen (skb)" lc rgb "#3a7bd5", "" using 3 title "XDP frames" lc rgb "#86b3ea"
set title "CPU-s of the flood CPU per million dropped"
plot "{dat}" using 4:xtic(1) title "trafgen (skb)" lc rgb "#d5793a", "" using 5 title "XDP frames" lc rgb "#eab386"
set title "admitted client's connection rate during the flood (% of before)"
set yrange [0:130]
plot "{dat}" using 6:xtic(1) title "trafgen (skb)" lc rgb "#2a9d5a", "" using 7 title "XDP frames" lc rgb "#86dba8"
unset multiplot
""")
    r = run("gnuplot", gp, check=False)
    if r.returncode:
        log(f"gnuplot failed: {r.stderr.strip()}")
    return r.returncode == 0


SOURCE_TITLES = {
    "trafgen": "trafgen (netsniff-ng): frames from a packet socket, each already an skb",
    "xdpframes": "XDP frames (bench/xdpflood.c): received by the router's veth before any skb",
}


def floor_range(results):
    """' (the floor: a to b ns a packet)' over the capacity runs, or ''."""
    ns = [r[CAPACITY]["router_cpu_s_per_mpkt"] * 1000 for r in results.get("floor", [])
          if r and CAPACITY in r]
    return f" (the floor: {min(ns):.0f} to {max(ns):.0f} ns a packet)" if ns else ""


def router_lines(sm, results, source):
    """The router's own CPU per packet (the flood CPU's less the flood
    source's alone) and the packets per router CPU-second it allows."""
    L = [""]
    src = statistics.median(sm[n]["source_cpu_s_per_mpkt"] for n in CONFIGS if n in sm
                            and "source_cpu_s_per_mpkt" in sm[n])
    own = {n: sm[n]["router_cpu_s_per_mpkt"] * 1000 for n in CONFIGS
           if n in sm and "router_cpu_s_per_mpkt" in sm[n]}
    a, b = own["xdp-native"], own["nft-ingress"]
    L.append(f"The router's own CPU per packet, the flood CPU's less what the flood source costs "
             f"alone ({src * 1000:.0f} ns: the same frames made by the same program and dropped "
             "in the client's veth instead of sent, measured right after each flood): " +
             ", ".join(f"{n} {v:.0f} ns" for n, v in own.items()) + ". The veth's ring, "
             "its NAPI poll and each page's return stay in the router's share, as a NIC "
             "driver's receive work would.")
    if a > 0:
        ratios = rep_ratios(results, source, key="router_cpu_s_per_mpkt")
        L.append(f"**Packets dropped per second of router CPU, XDP native against the nftables "
                 f"ingress rule: {b / a:.2f}×** from the medians (target ≥ 3×); within each "
                 f"repetition median {statistics.median(ratios):.2f}× (" +
                 ", ".join(f"{r:.2f}×" for r in ratios) + ").")
    return L


def write_markdown(path, summary, ns, meta, problems, results):
    L = ["# XDP prefilter benchmark (`make bench-xdp`)", ""]
    L.append(f"{meta['date']}, kernel {meta['kernel']}, {meta['cpus']} CPUs, "
             f"{meta['reps']} repetition(s) of a {meta['flood']} s flood per configuration and "
             f"flood source (medians), /dev/cpu_dma_latency held at 0: {meta['dma_latency']}.")
    L.append("")
    for source in SOURCES:
        sm = summary.get(source, {})
        L.append(f"Flood source: {SOURCE_TITLES[source]}.")
        L.append("")
        L.append("| configuration | sent Mpps | dropped Mpps | CPU-s / Mpkt (flood CPU) | "
                 "CPU-s / Mpkt (machine) | client conn/s before | during | kept | "
                 "p99 connect µs before | during | failed |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in CONFIGS:
            if n not in sm:
                L.append(f"| {n} | failed | | | | | | | | | |")
                continue
            x = sm[n]
            client = (f"{x['rate_before']:.0f} | {x['rate_during']:.0f} | {x['keep'] * 100:.0f}% | "
                      f"{x['p99_before_us']:.0f} | {x['p99_during_us']:.0f} | {x['conn_failed']}"
                      if n != "floor" else "– | – | – | – | – | –")
            L.append(f"| {n} | {x['sent_pps'] / 1e6:.2f} | {x['pps'] / 1e6:.2f} | "
                     f"{x['flood_cpu_s_per_mpkt']:.2f} | {x['cpu_s_per_mpkt']:.2f} | {client} |")
        L.append("")
        if "xdp-native" in sm and "nft-ingress" in sm:
            a, b = sm["xdp-native"], sm["nft-ingress"]
            per_cpu = b["flood_cpu_s_per_mpkt"] / a["flood_cpu_s_per_mpkt"]
            L.append(f"XDP native against the nftables ingress rule: {a['pps'] / b['pps']:.2f}× "
                     f"the packets per second, {per_cpu:.2f}× the packets per CPU-second of the "
                     "flood CPU, from the medians (target ≥ 3×).")
            ratios = rep_ratios(results, source)
            if ratios:
                L.append(f"Within each repetition (the two run minutes apart): median "
                         f"{statistics.median(ratios):.2f}× (" +
                         ", ".join(f"{r:.2f}×" for r in ratios) + ").")
            if "floor" in sm and source == "xdpframes":
                floor = sm["floor"]["flood_cpu_s_per_mpkt"]
                above = {n: (sm[n]["flood_cpu_s_per_mpkt"] - floor) * 1000 for n in CONFIGS
                         if n in sm and n != "floor"}
                L.append(f"Above the floor ({floor * 1000:.0f} ns per packet of the flood CPU: "
                         "the flood source and the veth by themselves), each filter's own "
                         "price per packet: " +
                         ", ".join(f"{n} {v:.0f} ns" for n, v in above.items()) +
                         (f"; nftables costs {above['nft-ingress'] / above['xdp-native']:.1f}× "
                          "what the XDP prefilter does." if above.get("xdp-native", 0) > 0 and
                          "nft-ingress" in above else "."))
            if "router_cpu_s_per_mpkt" in a and "router_cpu_s_per_mpkt" in b:
                L += router_lines(sm, results, source)
            L.append("")
    cap = summary.get(CAPACITY, {})
    if cap:
        L.append(f"XDP frames again, the router's receive side in threaded NAPI on CPU "
                 f"{CLIENT_CPU}, away from the flood on CPU {FLOOD_CPU} (no client test):")
        L.append("")
        L.append("| configuration | dropped Mpps | router CPU busy | router ns per packet |")
        L.append("| --- | ---: | ---: | ---: |")
        for n in CONFIGS:
            if n in cap:
                x = cap[n]
                L.append(f"| {n} | {x['pps'] / 1e6:.2f} | {x['router_cpus_busy'] * 100:.0f}% | "
                         f"{x['router_cpu_s_per_mpkt'] * 1000:.0f} |")
        L.append("")
        ratios = rep_ratios(results, CAPACITY)
        if ratios:
            L.append(f"XDP native against the nftables ingress rule: median "
                     f"{statistics.median(ratios):.2f}× the packets per second (" +
                     ", ".join(f"{r:.2f}×" for r in ratios) + "). Each frame's page now "
                     "goes back to a page pool owned by the other CPU (the flood's). perf on "
                     "the router's CPU during a floor flood (27 % idle): returning the pages "
                     "(__xdp_return, page_pool_put_unrefed_netmem, page_pool_return_netmem "
                     "freeing them to the page allocator under its lock with interrupts "
                     "off, which perf, sampling on a timer in this guest without a PMU, "
                     "charges to pvm_irq_enable) about 40 % of the CPU, "
                     "veth_xdp_rcv, which reads frames the other CPU wrote, 10 to 13 %. That price is "
                     "every filter's, and it varies between repetitions" +
                     floor_range(results) + ", so these ratios are the least reliable of the "
                     "three.")
            L.append("")
    L.append("ns per packet through `BPF_PROG_TEST_RUN` (repeat "
             f"{meta['repeat']}, minimum and median of 5 runs; target for XDP's drop ≤ 50 ns):")
    L.append("")
    L.append("| frame | XDP min | XDP median | TC min | TC median |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    frames = []
    for k in ns:
        f = k.split("/", 1)[1]
        if f not in frames:
            frames.append(f)
    for f in frames:
        x, t = ns[f"xdp/{f}"], ns[f"tc/{f}"]
        L.append(f"| {f} | {x['min']} | {x['median']:.0f} | {t['min']} | {t['median']:.0f} |")
    L.append("")
    L.append(f"- Floods: SYNs to {SERVER4}:{PORT} from random addresses of {FLOOD_NET}.0/24 "
             f"and random ports (the admitted prefix is {ADMITTED}), from the client namespace, "
             f"on CPU {FLOOD_CPU}, {meta['flood']} s each (trafgen pins its Nth process to CPU "
             f"N whatever taskset says, so its packet is given to CPU {FLOOD_CPU}'s process "
             "alone). On veth the receiving side runs on the sender's CPU, so the flood and "
             f"everything the router does with it share CPU {FLOOD_CPU}: a cheaper drop shows as "
             "more packets per second, until the flood source is the limit.")
    L.append(f"- The admitted client, the proxy and the server run on CPU {CLIENT_CPU}. The "
             f"client's veth has {QUEUES} queues each way and XPS sends what CPU n sends by queue "
             "n, which veth delivers to the router's receive queue n: the flood fills its own "
             "queue, not the client's, as a multi-queue NIC spreads flows over its queues.")
    L.append("- trafgen makes about 1 Mpps from one CPU, less than any of the filters can drop: "
             "with it every configuration drops (nearly) all that is sent, and the packets per "
             "second are the flood source's limit, not the filter's. Its frames come from a "
             "packet socket: on veth each reaches the router as an skb, which a native XDP "
             "program on veth receives only after veth copies it into a page of its own (256 "
             "bytes of headroom, one linear buffer). The XDP frames flood (an XDP program run "
             "by `BPF_PROG_TEST_RUN` in live-frames mode on the client's veth, returning "
             "XDP_TX) hands the router's veth xdp_frames, over ten times faster: native XDP "
             "drops them without an skb; for the other configurations the veth builds one (GRO "
             "turned on so that it accepts them), as a NIC driver does. That flood is the one "
             "that measures the filters.")
    L.append(f"- CPU: busy jiffies of CPU {FLOOD_CPU} (the flood source and the receiving side) "
             "per million packets the filter dropped; machine: both CPUs, also the admitted "
             "client's test and whatever else ran. Sent (trafgen): the client veth's transmitted "
             "packets; what was sent but not dropped by the filter was lost before it (the "
             "receiving queue overflowing).")
    L.append(f"- Admitted client: bench/connrate.c from 198.18.1.2 on CPU {CLIENT_CPU}, 1 thread, "
             "4 connections in flight, 100-byte request and reply; before the flood and during "
             "it.")
    L.append("- nft-ingress runs no cutthru: its admitted connections are forwarded, not proxied; "
             "the three cutthru configurations proxy them. The floor drops everything, the "
             "client's packets too (no client test); it is a floor for the XDP frames only: "
             "with trafgen, native XDP on veth pays the copy described above, which the skb "
             "paths do not.")
    L.append("- The ns table's frames: syn_not_admitted to the IPv4 service (whose policy has a "
             "login limiter, looked at only for admitted sources) and to the IPv6 one (none), "
             "an admitted SYN (XDP passes it after looking at the SYN rate), an ACK and a SYN "
             "to an unprotected address (XDP looks no further than the flags or the service), "
             "an ARP frame.")
    if problems:
        L.append("")
        L.append("Problems:")
        L += [f"- {p}" for p in problems]
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--flood", type=int, default=5, help="seconds of flood per repetition")
    ap.add_argument("--baseline", type=int, default=2, help="seconds of client test before it")
    ap.add_argument("--repeat", type=int, default=1000000, help="BPF_PROG_TEST_RUN repeat")
    ap.add_argument("--build", default="build")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/xdp.py needs root")
    args.cutthru = os.path.join(REPO, args.build, "cutthru")
    args.progrun = os.path.join(REPO, args.build, "bench", "progrun")
    args.xdpflood = os.path.join(REPO, args.build, "bench", "xdpflood")
    args.xdpflood_obj = os.path.join(REPO, args.build, "bench", "xdpflood.bpf.o")
    args.xdpdrop_obj = os.path.join(REPO, args.build, "bench", "xdpdrop.bpf.o")
    for need in (args.cutthru, args.progrun, args.xdpflood, args.xdpflood_obj, args.xdpdrop_obj,
                 shutil.which("trafgen"), shutil.which("nft"), shutil.which("ethtool")):
        if not need or not os.path.exists(need):
            sys.exit(f"bench/xdp.py: missing {need} (make bench-xdp builds and installs them)")
    configs = args.configs.split(",")
    tmp_root = tempfile.mkdtemp(prefix="cutthru-bench-xdp-")
    dma_fd, dma = None, "no"
    results, problems = {n: [] for n in configs}, []
    ok = True
    try:
        bins = bench.build_helpers(tmp_root)
        try:
            dma_fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
            os.write(dma_fd, struct.pack("i", 0))
            dma = "yes"
        except OSError as e:
            problems.append(f"/dev/cpu_dma_latency could not be held at 0: {e}")
        log("ns per packet (BPF_PROG_TEST_RUN)")
        ns = progrun(args)
        for k, v in ns.items():
            log(f"  {k}: min {v['min']} ns, median {v['median']:.0f} ns")
        for rep in range(args.reps):
            # Rotated: the machine's speed drifts (a shared VM), and no
            # configuration should always run first or last.
            shift = rep % len(configs)
            for name in configs[shift:] + configs[:shift]:
                tmp = tempfile.mkdtemp(prefix=f"{name}-{rep}-", dir=tmp_root)
                try:
                    results[name].append(one_rep(name, args, bins, tmp))
                except (BenchError, bench.BenchError, subprocess.SubprocessError, OSError) as e:
                    ok = False
                    results[name].append(None)
                    problems.append(f"{name} repetition {rep + 1}: {e}")
                    log(f"  {name}: FAILED: {e}")
                    traceback.print_exc()
    finally:
        if dma_fd is not None:
            os.close(dma_fd)
    summary = summarize(results)
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "kernel": platform.release(), "cpus": os.cpu_count(), "reps": args.reps,
            "flood": args.flood, "repeat": args.repeat, "dma_latency": dma}
    with open(os.path.join(HERE, "results-xdp.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": results, "ns_per_packet": ns,
                   "problems": problems}, f, indent=1)
    png = os.path.join(HERE, "results-xdp.png")
    write_plot(png, summary, tmp_root)
    write_markdown(os.path.join(HERE, "RESULTS-xdp.md"), summary, ns, meta, problems, results)
    log("wrote bench/RESULTS-xdp.md, bench/results-xdp.png, bench/results-xdp.json")
    if ok:
        shutil.rmtree(tmp_root, ignore_errors=True)
    else:
        log(f"logs kept in {tmp_root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
