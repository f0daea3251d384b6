#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""make soak: a bounded run of mixed load through cutthru, one daemon per data
path (copy, splice, sockmap), each on its own client/router/server topology,
all at once. Every byte is checked (load.py). Every --sample seconds the
daemons' fds, map entries and RSS are read and a table row printed per data
path. When the load stops, each daemon gets --settle seconds to give back
what it held; then it is stopped with SIGTERM and must exit 0 with no
sanitizer report.

The run fails on: a corrupted, missing or repeated byte; a connection that
did not end as its scenario says; a source not admitted that got through;
after the settle period, TCP sockets or other fds above the baseline, any
quad or sockhash entry left, more idle pipes than the splice pool keeps, RSS
above the baseline by more than the tolerance; a daemon that does not exit
cleanly.
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "net")]
import load  # noqa: E402
from topo import CLIENT4, CLIENT6, REPO, SERVER4, SERVER6, run, topology  # noqa: E402

PATHS = ("copy", "splice", "sockmap")
MAPS = ("quads", "cut_socks", "cut_peers")
IDLE_PIPES_MAX = 256  # user/proxy.c: idle splice pipes kept for reuse
RSS_TOLERANCE_MIB = 16
# Under ASan, freed memory waits in a quarantine of up to 256 MiB before it
# is reused: RSS says little, LeakSanitizer says what leaked.
RSS_TOLERANCE_SAN_MIB = 320
LANE_GRACE = 120  # how long after the deadline a connection may still run


class Subject:
    """One data path: its topology, its daemon, what was read from it."""

    def __init__(self, path, topo, daemon):
        self.path, self.topo, self.daemon = path, topo, daemon
        self.map_ids = {}
        for name in MAPS:
            try:
                self.map_ids[name] = daemon.map_id(name)
            except AssertionError:
                pass  # the cut-through maps exist on the sockmap path only
        self.samples = []

    def read(self):
        pid = self.daemon.proc.pid
        links = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except FileNotFoundError:
                pass  # closed meanwhile
        tcp = self.topo.fd_count(self.daemon)
        pipes = sum(link.startswith("pipe:") for link in links)
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        now = {"fds": len(links), "tcp": tcp, "pipes": pipes,
               "other": max(len(links) - tcp - pipes, 0), "rss_mib": round(rss / 1024, 1)}
        for name, map_id in self.map_ids.items():
            dump = run("bpftool", "-j", "map", "dump", "id", str(map_id)).stdout
            now[name] = len(json.loads(dump))
        return now

    def baseline(self, reads=5):
        """The idle daemon: the least of a few readings, because the
        watchdog holds a netlink socket for a moment every second."""
        readings = []
        for _ in range(reads):
            readings.append(self.read())
            time.sleep(0.2)
        return {k: min(r[k] for r in readings) for k in readings[0]}


def settle_problems(base, now, sanitized):
    """What the daemon still holds beyond its idle baseline."""
    problems = []
    if now["tcp"] != base["tcp"]:
        problems.append(f"TCP sockets {now['tcp']}, baseline {base['tcp']}")
    if now["other"] > base["other"]:
        problems.append(f"other fds {now['other']}, baseline {base['other']}")
    if now["pipes"] > base["pipes"] + 2 * IDLE_PIPES_MAX:
        problems.append(f"pipe fds {now['pipes']}, more than the pool's {2 * IDLE_PIPES_MAX}")
    for name in MAPS:
        if name in base and now[name] != base[name]:
            problems.append(f"{name} entries {now[name]}, baseline {base[name]}")
    tolerance = RSS_TOLERANCE_SAN_MIB if sanitized else RSS_TOLERANCE_MIB
    if now["rss_mib"] > base["rss_mib"] + tolerance:
        problems.append(f"RSS {now['rss_mib']} MiB, baseline {base['rss_mib']} MiB "
                        f"+ {tolerance} MiB tolerance")
    return problems


# -- the table ---------------------------------------------------------------

COLUMNS = [("time", 7), ("path", 8), ("fds", 5), ("tcp", 5), ("pipes", 6), ("quads", 6),
           ("cut_socks", 10), ("RSS MiB", 8), ("verified MiB", 13), ("conns", 8),
           ("ok", 8), ("failed", 7), ("refused", 8), ("corrupt", 8)]


def header():
    return " ".join(f"{name:>{width}}" for name, width in COLUMNS)


def row(label, subject, now, stats):
    cells = [label, subject.path, now["fds"], now["tcp"], now["pipes"], now["quads"],
             now.get("cut_socks", "-"), now["rss_mib"], stats["verified"] >> 20,
             stats["connections"], stats["ok"], stats["failed"], stats["refused"],
             stats["corrupt"]]
    return " ".join(f"{cell!s:>{width}}" for cell, (_, width) in zip(cells, COLUMNS))


def sample(label, subjects, shared):
    for i, s in enumerate(subjects):
        now, stats = s.read(), load.Stats.read(shared, i)
        s.samples.append({"label": label, **now, **stats})
        print(row(label, s, now, stats), flush=True)


def tcp_ext(topo, ns):
    """The TcpExt counters of a namespace."""
    names, values = [line.split()[1:] for line in topo.sh(ns, "cat", "/proc/net/netstat")
                     .stdout.splitlines() if line.startswith("TcpExt:")][:2]
    return dict(zip(names, map(int, values)))


def diagnostics(s):
    """Counters that explain a connection that hung: segments cutthru
    dropped for want of a connection, resets the client did not take."""
    reasons = s.topo.counters(s.daemon)
    client = tcp_ext(s.topo, s.topo.client)
    return (f"drop_no_conn {reasons['drop_no_conn']}, drop_not_admitted "
            f"{reasons['drop_not_admitted']}; client: challenge ACKs {client['TCPChallengeACK']}, "
            f"retransmits {client['TCPFastRetrans'] + client['TCPSlowStartRetrans']}")


def summary(subjects):
    """Baseline / peak / after settle, per data path."""
    lines = ["", "summary per data path: baseline / peak / after settle"]
    for s in subjects:
        base, settled = s.samples[0], s.samples[-1]
        parts = []
        for key in ("fds", "tcp", "pipes") + tuple(s.map_ids) + ("rss_mib",):
            peak = max(x[key] for x in s.samples)
            parts.append(f"{key} {base[key]}/{peak}/{settled[key]}")
        lines.append(f"  {s.path:8} " + ", ".join(parts))
        lines.append(f"  {'':8} verified {settled['verified'] / (1 << 30):.2f} GiB; connections "
                     f"{settled['connections']}: {settled['ok']} ok, {settled['failed']} failed "
                     f"(server side {settled['server_ok']} ok); {settled['refused']} sources "
                     f"not admitted refused; {settled['corrupt']} corrupt")
        lines.append(f"  {'':8} {s.diagnostics}")
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------

def start_daemon(topo, path, binary):
    tag = topo.tag
    topo.sh(topo.client, "ip", "addr", "add", f"{load.REFUSED4}/24", "dev", f"{tag}c0")
    # Deprecated (preferred_lft 0): never picked as a source unless bound to.
    topo.sh(topo.client, "ip", "addr", "add", f"{load.REFUSED6}/64", "dev", f"{tag}c0", "nodad",
            "preferred_lft", "0")
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80",
                   "--protect", f"[{SERVER6}]:80", "--allow", f"{CLIENT4}/32",
                   "--allow", f"{CLIENT6}/128", "--data-path", path, binary=binary)
    if f"data path {path}," not in d.text():
        raise AssertionError(f"the daemon is not on the {path} data path:\n{d.text()}")
    return d


def run_worker(topo, shared, index, label, log_path, deadline):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.exit(load.worker(topo, shared, index, label, log_path, deadline, LANE_GRACE))


def stop_workers(workers):
    for w in workers:
        if w.is_alive():
            w.terminate()  # SIGTERM to that pid
            w.join(5)
        if w.is_alive():
            w.kill()
            w.join(5)


def wait_until(when, workers):
    """Sleeps until when; returns early, False, if a load process ended."""
    while time.monotonic() < when:  # bounded by when
        if not all(w.is_alive() for w in workers):
            return False
        time.sleep(max(min(1.0, when - time.monotonic()), 0))
    return True


def wait_settled(subjects, bases, args):
    """Polls each daemon until it holds no more than its baseline, at most
    args.settle seconds; returns the problems left, per data path."""
    deadline = time.monotonic() + args.settle
    while True:
        problems = {s.path: settle_problems(b, s.read(), args.sanitized)
                    for s, b in zip(subjects, bases)}
        if not any(problems.values()) or time.monotonic() >= deadline:
            return problems
        time.sleep(1)


def soak(args, stack, tmp, failures):
    binary = os.path.join(REPO, args.build, "cutthru")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"soak: no {binary}; make soak builds it")
    subjects = []
    for path in PATHS:
        os.mkdir(os.path.join(tmp, path))  # the daemon's log goes there
        topo = stack.enter_context(contextlib.contextmanager(topology)(os.path.join(tmp, path)))
        subjects.append(Subject(path, topo, start_daemon(topo, path, binary)))
    bases = [s.baseline() for s in subjects]

    ctx = multiprocessing.get_context("fork")
    shared = ctx.RawArray("q", len(PATHS) * len(load.Stats.FIELDS))
    start = time.monotonic()
    deadline = start + args.seconds
    workers = [ctx.Process(target=run_worker, name=f"soak-{s.path}",
                           args=(s.topo, shared, i, s.path, os.path.join(tmp, "failures.log"),
                                 deadline))
               for i, s in enumerate(subjects)]
    stack.callback(stop_workers, workers)
    print(f"soak: {args.seconds} s of load through {binary}, one daemon per data path; "
          f"a row every {args.sample} s", flush=True)
    print(header())
    zeros = {f: 0 for f in load.Stats.FIELDS}
    for s, b in zip(subjects, bases):
        s.samples.append({"label": "base", **b, **zeros})
        print(row("base", s, b, zeros))
    for w in workers:
        w.start()

    tick = 1
    while start + tick * args.sample < deadline - 1:  # bounded by the deadline
        if not wait_until(start + tick * args.sample, workers):
            break
        sample(f"{tick * args.sample}s", subjects, shared)
        tick += 1
    wait_until(deadline, workers)
    for w in workers:
        w.join(max(deadline + LANE_GRACE + 10 - time.monotonic(), 1))
        if w.is_alive() or w.exitcode != 0:
            failures.append(f"load process {w.name}: exit {w.exitcode}")
    stop_workers(workers)
    sample("end", subjects, shared)
    problems = wait_settled(subjects, bases, args)
    sample("settled", subjects, shared)
    for path, left in problems.items():
        failures += [f"{path}: after {args.settle} s of settling: {p}" for p in left]
    judge(subjects, shared, failures)
    print(summary(subjects))


def judge(subjects, shared, failures):
    """Everything but the settling: counts, counters, the daemons' exits."""
    for i, s in enumerate(subjects):
        stats = load.Stats.read(shared, i)
        if stats["corrupt"]:
            failures.append(f"{s.path}: {stats['corrupt']} corrupted transfer(s)")
        if stats["failed"]:
            failures.append(f"{s.path}: {stats['failed']} connection(s) did not end as they should")
        if stats["ok"] == 0 or stats["verified"] == 0:
            failures.append(f"{s.path}: no load got through")
        s.diagnostics = diagnostics(s)
        dropped = s.topo.counters(s.daemon)["drop_not_admitted"]
        if dropped < stats["refused"]:
            failures.append(f"{s.path}: {stats['refused']} sources refused but only {dropped} "
                            "SYNs counted as drop_not_admitted")
        try:
            s.daemon.assert_clean_exit()
        except AssertionError as e:
            failures.append(f"{s.path}: daemon: {str(e)[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build-soak", help="build directory with cutthru")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)))
    ap.add_argument("--sample", type=int, default=int(os.environ.get("SOAK_SAMPLE", 30)))
    ap.add_argument("--settle", type=int, default=int(os.environ.get("SOAK_SETTLE", 60)))
    ap.add_argument("--sanitized", action="store_true",
                    help="an ASan build: RSS judged loosely, leaks by LeakSanitizer")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: needs root (namespaces, BPF)")

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_sigterm)

    tmp = tempfile.mkdtemp(prefix="cutthru-soak.")
    failures = []
    try:
        with contextlib.ExitStack() as stack:
            soak(args, stack, tmp, failures)
    finally:
        log_path = os.path.join(tmp, "failures.log")
        logged = open(log_path).read().splitlines() if os.path.exists(log_path) else []
    report(failures, logged, tmp)
    return 1 if failures or logged else 0


def report(failures, logged, tmp):
    if logged:
        print(f"\n{len(logged)} failure line(s) from the load, the first 30:")
        print("\n".join(f"  {line}" for line in logged[:30]))
    if failures:
        print("\nsoak: FAILED")
        print("\n".join(f"  {f}" for f in failures))
        print(f"logs kept in {tmp}")
    elif logged:
        print(f"\nsoak: FAILED (see the load's failures above); logs kept in {tmp}")
    else:
        print("\nsoak: passed")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
