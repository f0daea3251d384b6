# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The XDP prefilter (--xdp) on the router's veths, native and generic:
drops before TC counted under TC's reason names (stage xdp), admitted
clients still proxied, the SYN rate limit, and what detach and restarts do
with the XDP program."""
import json
import signal
import socket
import time

import pytest

from peers import EchoServer
from topo import CLIENT4, CUTTHRU, SERVER4, run

# A second address of the client host, not admitted.
STRANGER4 = "198.18.1.3"
MODES = ["native", "generic"]


def ifaces(topo):
    return ["-i", topo.if_pc, "-i", topo.if_ps]


def add_stranger(topo):
    topo.sh(topo.client, "ip", "addr", "add", f"{STRANGER4}/24", "dev", f"{topo.tag}c0")


def connect_from(topo, src, addr, port, timeout):
    s = topo.socket(topo.client, socket.AF_INET)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect((addr, port))
    except (socket.timeout, ConnectionError):
        s.close()
        return None
    return s


def xdp_on(topo, dev):
    """The XDP mode on dev in the router: "native", "generic" or None."""
    text = topo.sh(topo.proxy, "ip", "-d", "link", "show", "dev", dev).stdout
    if "xdpgeneric" in text:
        return "generic"
    if "prog/xdp" in text or " xdp " in text:
        return "native"
    return None


def stats(topo, d):
    return json.loads(topo.ctl(d, "stats", "--json").stdout)


def echo_roundtrip(s, payload=b"hello through xdp"):
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := s.recv(1000):
        got += chunk
    s.close()
    return got


@pytest.mark.parametrize("mode", MODES)
def test_xdp_drops_not_admitted_and_proxies_admitted(topo, mode):
    add_stranger(topo)
    server_sock = topo.listen(SERVER4, 80)
    server = EchoServer(server_sock)
    d = topo.start(*ifaces(topo), "--protect", f"{SERVER4}:80", "--allow", f"{CLIENT4}/32",
                   "--xdp", mode)
    log = d.text()
    for dev in (topo.if_pc, topo.if_ps):
        lines = [l for l in log.splitlines() if f"XDP prefilter on {dev}:" in l]
        assert len(lines) == 1, log
        assert f"on {dev}: {mode}" in lines[0], log
        assert xdp_on(topo, dev) == mode

    # Not admitted: dropped by XDP, counted there under TC's name, never by TC.
    for _ in range(3):
        assert connect_from(topo, STRANGER4, SERVER4, 80, timeout=0.5) is None
    st = stats(topo, d)
    assert st["xdp_verdicts"]["drop_not_admitted"]["packets"] >= 3, st
    assert st["verdicts"]["drop_not_admitted"]["packets"] == 0, st
    text = topo.ctl(d, "stats").stdout
    assert any(l.split()[:2] == ["drop_not_admitted", "xdp"] and int(l.split()[2]) >= 3
               for l in text.splitlines()), text

    # Admitted: proxied end to end, the server sees the client's address.
    s = connect_from(topo, CLIENT4, SERVER4, 80, timeout=3)
    assert s is not None
    assert echo_roundtrip(s) == b"hello through xdp"
    assert CLIENT4 in {peer[0] for peer in server.peers}, server.peers
    st = stats(topo, d)
    assert st["verdicts"]["steer_syn"]["packets"] >= 1, st
    server.close()
    d.assert_clean_exit()
    for dev in (topo.if_pc, topo.if_ps):
        assert xdp_on(topo, dev) is None, f"XDP left on {dev} after a clean exit"


def test_xdp_syn_rate_limit(topo):
    server = EchoServer(topo.listen(SERVER4, 80))
    d = topo.start(*ifaces(topo), "--protect", f"{SERVER4}:80", "--xdp", "native",
                   "--syn-rate", "1", "--syn-burst", "3")
    held = [connect_from(topo, CLIENT4, SERVER4, 80, timeout=3) for _ in range(3)]
    assert all(held), "the burst of 3 must pass"
    # Over the rate: dropped (the 0.4 s timeout comes before a retransmission).
    refused = [connect_from(topo, CLIENT4, SERVER4, 80, timeout=0.4) for _ in range(3)]
    assert not any(refused), "SYNs over the rate got through"
    st = stats(topo, d)
    dropped = (st["xdp_verdicts"]["drop_syn_rate"]["packets"] +
               st["verdicts"]["drop_syn_rate"]["packets"])
    assert dropped >= 3, st
    assert st["xdp_verdicts"]["drop_syn_rate"]["packets"] >= 1, st
    # One token a second comes back.
    time.sleep(1.5)
    s = connect_from(topo, CLIENT4, SERVER4, 80, timeout=3)
    assert s is not None, "no token after 1.5 s at 1/s"
    assert echo_roundtrip(s) == b"hello through xdp"
    for s in held:
        s.close()
    server.close()
    d.assert_clean_exit()


def test_tc_only_syn_rate_limit(topo):
    """--xdp off: TC keeps the same limit."""
    server = EchoServer(topo.listen(SERVER4, 80))
    d = topo.start(*ifaces(topo), "--protect", f"{SERVER4}:80", "--syn-rate", "1",
                   "--syn-burst", "2")
    held = [connect_from(topo, CLIENT4, SERVER4, 80, timeout=3) for _ in range(2)]
    assert all(held)
    assert connect_from(topo, CLIENT4, SERVER4, 80, timeout=0.4) is None
    st = stats(topo, d)
    assert st["verdicts"]["drop_syn_rate"]["packets"] >= 1, st
    assert st["xdp_verdicts"]["drop_syn_rate"]["packets"] == 0, st
    assert xdp_on(topo, topo.if_pc) is None
    for s in held:
        s.close()
    server.close()
    d.assert_clean_exit()


def test_xdp_kill_restart_detach(topo):
    """A killed run leaves its XDP program (like its TC filter); a restart
    replaces it in place, also in the other mode; detach removes it."""
    d = topo.start(*ifaces(topo), "--protect", f"{SERVER4}:80", "--xdp", "native")
    assert xdp_on(topo, topo.if_pc) == "native"
    # Removed by someone else: the watchdog puts it back within a second or two.
    topo.sh(topo.proxy, "ip", "link", "set", "dev", topo.if_pc, "xdpdrv", "off")
    deadline = time.monotonic() + 5
    while xdp_on(topo, topo.if_pc) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert xdp_on(topo, topo.if_pc) == "native", d.text()
    assert "the XDP prefilter was removed by someone else: restored" in d.text()
    d.stop(signal.SIGKILL)
    assert xdp_on(topo, topo.if_pc) == "native", "a killed run's XDP program went away"
    d2 = topo.start(*ifaces(topo), "--protect", f"{SERVER4}:80", "--xdp", "generic",
                    "--instance", d.instance)
    assert xdp_on(topo, topo.if_pc) == "generic"
    d2.stop(signal.SIGKILL)
    out = topo.cutthru("detach", "--instance", d.instance)
    assert out.returncode == 0, out.stderr
    assert "XDP prefilter from 2" in out.stdout, out.stdout
    for dev in (topo.if_pc, topo.if_ps):
        assert xdp_on(topo, dev) is None
        net = json.loads(run("ip", "netns", "exec", topo.proxy, "bpftool", "-j", "net", "show",
                             "dev", dev).stdout)
        assert not any(entry.get("xdp") for entry in net), net


OTHER_XDP = """
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int someone_else(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


def test_xdp_refuses_someone_elses_program(topo, tmp_path):
    """Another XDP program on an interface is not replaced: cutthru says so
    in one line, exits 1, and the other program stays."""
    src, obj = tmp_path / "other.c", tmp_path / "other.o"
    src.write_text(OTHER_XDP)
    run("clang", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src),
        "-o", str(obj))
    topo.sh(topo.proxy, "ip", "link", "set", "dev", topo.if_ps, "xdpgeneric", "obj", str(obj),
            "sec", "xdp")
    out = topo.cutthru("run", *ifaces(topo), "--protect", f"{SERVER4}:80", "--xdp", "generic",
                       "--instance", topo.tag)
    assert out.returncode == 1, out.stderr
    want = (f"attaching the XDP prefilter to interface {topo.if_ps} failed: another XDP "
            "program is attached to it: not replacing it")
    assert want in out.stderr, out.stderr
    assert xdp_on(topo, topo.if_ps) == "generic"
    text = topo.sh(topo.proxy, "ip", "-d", "link", "show", "dev", topo.if_ps).stdout
    assert "name someone_else" in text, text
    # What it had attached before giving up is gone again.
    assert xdp_on(topo, topo.if_pc) is None


@pytest.mark.parametrize("modes", [("native", "generic"), ("generic", "off")])
def test_xdp_across_a_takeover(topo, modes):
    """A second run of the instance takes over: its --xdp replaces the old
    daemon's prefilter (or, with off, the old one goes when it exits); the
    old daemon leaves the new one's program alone."""
    add_stranger(topo)
    server = EchoServer(topo.listen(SERVER4, 80))
    args = [*ifaces(topo), "--protect", f"{SERVER4}:80", "--allow", f"{CLIENT4}/32",
            "--instance", topo.tag]
    old = topo.start(*args, "--xdp", modes[0])
    assert xdp_on(topo, topo.if_pc) == modes[0]
    new = topo.start(*args, "--xdp", modes[1])
    assert old.proc.wait(15) == 0, old.text()
    want = None if modes[1] == "off" else modes[1]
    for dev in (topo.if_pc, topo.if_ps):
        assert xdp_on(topo, dev) == want, f"{dev}: {old.text()}\n{new.text()}"
    assert connect_from(topo, STRANGER4, SERVER4, 80, timeout=0.5) is None
    st = stats(topo, new)
    stage = "verdicts" if modes[1] == "off" else "xdp_verdicts"
    assert st[stage]["drop_not_admitted"]["packets"] >= 1, st
    s = connect_from(topo, CLIENT4, SERVER4, 80, timeout=3)
    assert s is not None and echo_roundtrip(s) == b"hello through xdp"
    server.close()
    new.assert_clean_exit()
    assert xdp_on(topo, topo.if_pc) is None
