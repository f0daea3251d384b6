# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""How much a peer that never reads makes the router queue.

    python3 tests/soak/cut_hold.py [up|down] [SECONDS] [CONNECTIONS]

Runs BUILD/cutthru (BUILD from $CUTTHRU_BUILD, default build/) with
--data-path $DP (default sockmap) on a fresh client -- router -- server
topology. CONNECTIONS connections (default 1); on each one side sends as
fast as it can ("up": the client, "down": the server) and the other never
reads, for SECONDS (default 6); with READ_EVERY=S it reads 8 MiB every S
seconds. Once a second, one line: bytes sent, what
the receiver and sender hold in their own sockets, and in the router: the
legs' queues and skmem (ss -tmi), sockstat's TCP memory pages, the
machine's Slab and MemAvailable change, the flows' counters (cut_flows).
"""
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "net"))

from topo import REPO, SERVER4, Topology, run  # noqa: E402

BUILD = os.environ.get("CUTTHRU_BUILD", os.path.join(REPO, "build"))
MiB = 1 << 20


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, val = line.split(":")
            out[key] = int(val.split()[0]) * 1024
    return out


def sockstat(topo):
    text = topo.sh(topo.proxy, "cat", "/proc/net/sockstat").stdout
    m = re.search(r"TCP: .* mem (\d+)", text)
    return int(m.group(1)) * 4096


def legs(topo):
    """(recv-q, send-q, skmem dict) of each established TCP socket in the
    router (the legs), from ss -tmi."""
    text = topo.sh(topo.proxy, "ss", "-Htmin", "state", "established").stdout
    out = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            out.append([int(fields[0]), int(fields[1]), {}])
        m = re.search(r"skmem:\(([^)]*)\)", line)
        if m and out:
            out[-1][2] = {re.match(r"[a-z]+", kv).group(0): int(re.sub(r"^[a-z]+", "", kv))
                          for kv in m.group(1).split(",")}
    return out


def flows(topo, daemon, slots):
    map_id = str(daemon.map_id("cut_flows"))
    out = []
    for slot in slots:
        key = [str(b) for b in slot.to_bytes(4, "little")]
        dump = json.loads(run("bpftool", "-j", "map", "lookup", "id", map_id, "key",
                              *key).stdout)
        v = dump.get("formatted", dump)["value"]
        out.append((v["redirected"], v["held"], v["relayed"], v.get("limit", v.get("paused", 0))))
    return out


def queued(sock, request):
    import fcntl
    import struct
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0" * 4))[0]


def main(argv):
    way = argv[1] if len(argv) > 1 else "up"
    seconds = float(argv[2]) if len(argv) > 2 else 6.0
    conns = int(argv[3]) if len(argv) > 3 else 1
    path = os.environ.get("DP", "sockmap")
    t = Topology(tempfile.mkdtemp(prefix="cut_hold"))
    t.up()
    try:
        d = t.start("-i", t.if_pc, "-i", t.if_ps, "--protect", f"{SERVER4}:80",
                    "--data-path", path, "-q", binary=os.path.join(BUILD, "cutthru"))
        lsock = t.listen(SERVER4, 80)
        pairs = []
        for _ in range(conns):
            c = t.connect(SERVER4, 80)
            s, _ = lsock.accept()
            pairs.append((c, s) if way == "up" else (s, c))
        time.sleep(0.3)
        base_mem, base_sock = meminfo(), sockstat(t)
        sent = [0] * conns
        received = [0] * conns
        stop = threading.Event()

        def blast(i, sock):
            chunk = b"\0" * MiB
            sock.settimeout(0.2)
            while not stop.is_set():
                try:
                    sent[i] += sock.send(chunk)
                except socket.timeout:
                    pass
                except OSError:
                    return

        threads = [threading.Thread(target=blast, args=(i, p[0]), daemon=True)
                   for i, p in enumerate(pairs)]
        for th in threads:
            th.start()
        if os.environ.get("READ_EVERY"):
            # The receiver takes 8 MiB every READ_EVERY seconds.
            def reader(i, sock):
                sock.settimeout(5)
                while not stop.is_set():
                    left = 8 * MiB
                    while left and not stop.is_set():
                        try:
                            n = len(sock.recv(min(MiB, left)))
                            left -= n
                            received[i] += n
                        except OSError:
                            return
                    stop.wait(float(os.environ["READ_EVERY"]))

            for i, p in enumerate(pairs):
                threading.Thread(target=reader, args=(i, p[1]), daemon=True).start()
        start = time.monotonic()
        peak = 0
        while time.monotonic() - start < seconds:
            time.sleep(1)
            mem, sk = meminfo(), sockstat(t)
            router = legs(t)
            sender_q = sum(queued(p[0], 0x5411) for p in pairs)  # SIOCOUTQ
            receiver_q = sum(queued(p[1], 0x541B) for p in pairs)  # SIOCINQ
            legq = sum(r + s for r, s, _ in router)
            rmem = sum(m.get("r", 0) for _, _, m in router)
            wq = sum(m.get("w", 0) for _, _, m in router)
            in_router = sum(sent) - sender_q - receiver_q - sum(received)
            peak = max(peak, in_router)
            slots = [i for i in range(2 * conns)]
            f = flows(t, d, slots) if path == "sockmap" else []
            print(f"t={time.monotonic() - start:4.1f}s sent={sum(sent) / MiB:8.1f}MiB "
                  f"sender_q={sender_q / MiB:6.2f} receiver_q={receiver_q / MiB:6.2f} "
                  f"router={in_router / MiB:8.2f}MiB legs_q={legq / MiB:6.2f} "
                  f"rmem={rmem / MiB:6.2f} wqueued={wq / MiB:6.2f} "
                  f"rcvbuf={max([m.get('rb', 0) for _, _, m in router] or [0]) / MiB:5.1f} "
                  f"sockstat={(sk - base_sock) / MiB:+8.2f} "
                  f"slab={(mem['Slab'] - base_mem['Slab']) / MiB:+8.2f} "
                  f"avail={(mem['MemAvailable'] - base_mem['MemAvailable']) / MiB:+8.2f} "
                  f"flows(redir,held,relayed,limit MiB)={[(a // MiB, b // MiB, c // MiB, p // MiB) for a, b, c, p in f]}",
                  flush=True)
        stop.set()
        for th in threads:
            th.join(2)
        print(f"peak in router: {peak / MiB:.2f} MiB for {conns} connection(s), "
              f"{peak / MiB / conns:.2f} MiB each")
        for p in pairs:
            p[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            p[0].close()
            p[1].close()
        d.stop()
        return 0
    finally:
        t.down()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
