# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Bulk transfers both ways through one daemon, every byte checked.

    python3 tests/soak/cut_bulk.py UP DOWN CONNECTIONS [PARALLEL] [6]

Runs BUILD/cutthru (BUILD from $CUTTHRU_BUILD, default build/) on a fresh
client -- router -- server topology with --data-path $DP (default
sockmap), then BUILD/tests/streamcheck (make tests-bin) as server and
client: CONNECTIONS connections, each sending UP bytes to the server and
DOWN bytes back at once. Prints a line per stream that went wrong (offset,
and the distance back to the bytes repeated), the verdict's cut_counters
(key: packets bytes), the time the client took and its
MiB/s (both ways together), the daemon's CPU time and wake-ups, and exits 1 if a stream was wrong. The sockmap
duplication (README, Data paths) showed in 9 of 40 connections of
256 MiB each way; about 2 s per such connection here.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "net"))

from topo import REPO, SERVER4, SERVER6, Topology, run  # noqa: E402

BUILD = os.environ.get("CUTTHRU_BUILD", os.path.join(REPO, "build"))
CHECKER = os.path.join(BUILD, "tests", "streamcheck")


def counters(daemon):
    dump = json.loads(run("bpftool", "-j", "map", "dump", "id",
                          str(daemon.map_id("cut_counters"))).stdout)
    for entry in dump:
        entry = entry.get("formatted", entry)
        print("cut_counters", entry["key"], sum(v["value"]["packets"] for v in entry["values"]),
              sum(v["value"]["bytes"] for v in entry["values"]))


def main(argv):
    up, down, conns = (int(x) for x in argv[1:4])
    par = argv[4] if len(argv) > 4 else "1"
    server = SERVER6 if len(argv) > 5 and argv[5] == "6" else SERVER4
    path = os.environ.get("DP", "sockmap")
    t = Topology(tempfile.mkdtemp(prefix="cut_bulk"))
    t.up()
    try:
        d = t.start("-i", t.if_pc, "-i", t.if_ps, "--protect", f"{SERVER4}:80",
                    "--protect", f"[{SERVER6}]:80", "--data-path", path, "-q",
                    binary=os.path.join(BUILD, "cutthru"))
        srv = subprocess.Popen(["ip", "netns", "exec", t.server, CHECKER, "server", server, "80",
                                str(up), str(down)], stdout=subprocess.PIPE, text=True)
        t.procs.append(srv)
        assert srv.stdout.readline().strip() == "listening"
        began = time.monotonic()
        cli = subprocess.run(["ip", "netns", "exec", t.client, CHECKER, "client", server, "80",
                              str(up), str(down), str(conns), par],
                             capture_output=True, text=True, timeout=1800)
        took = time.monotonic() - began
        srv.kill()
        served = srv.communicate()[0]
        print(cli.stdout.strip())
        print(served.strip())
        print(f"{took:.2f} s, {(up + down) * conns / took / (1 << 20):.0f} MiB/s")
        if path == "sockmap":
            counters(d)
        with open(f"/proc/{d.proc.pid}/stat") as f:
            ticks = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{d.proc.pid}/status") as f:
            switches = [ln.split()[1] for ln in f if ln.startswith("voluntary_ctxt")]
        print(f"daemon CPU {(int(ticks[11]) + int(ticks[12])) / os.sysconf('SC_CLK_TCK'):.2f} s, "
              f"{switches[0]} wake-ups")
        d.stop()
        return 0 if cli.returncode == 0 and "conn=" not in served else 1
    finally:
        t.down()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
