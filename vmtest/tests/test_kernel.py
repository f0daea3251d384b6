# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What differs between kernels, run by `make vmtest` in each VM: a kernel
lacking a feature cutthru needs gets a refusal naming it, and the paths that
lean on particular kernel behaviour work on this one."""
import os
import platform
import re
import time
from contextlib import contextmanager

import pytest

from test_policy import leftovers
from topo import CLIENT4, CUTTHRU, SERVER4

BLOCKED_CONF = "/etc/modprobe.d/vmtest-blocked.conf"


@contextmanager
def module_unavailable(name):
    """The kernel cannot load module NAME meanwhile, as one built without it.
    Only in a vmtest VM, whose /etc is an overlay that lives for one boot."""
    if "VMTEST_KERNEL" not in os.environ:
        pytest.fail("this test blocks kernel modules: it runs only in a vmtest VM (make vmtest)")
    if os.path.exists(f"/sys/module/{name}"):
        res = os.system(f"modprobe -r {name}")
        assert res == 0, f"{name} is loaded and in use: run this test first in a fresh VM"
    with open(BLOCKED_CONF, "w") as f:
        f.write(f"install {name} /bin/false\n")
    try:
        yield
    finally:
        os.unlink(BLOCKED_CONF)


@pytest.mark.parametrize("module,named", [
    ("cls_bpf", "the BPF TC classifier (cls_bpf, CONFIG_NET_CLS_BPF)"),
    ("sch_ingress", "the clsact qdisc (sch_ingress, CONFIG_NET_SCH_INGRESS)"),
])
def test_kernel_lacking_a_tc_feature_is_refused_by_name(topo, module, named):
    with module_unavailable(module):
        res = topo.cutthru("run", "-i", topo.if_pc, "-i", topo.if_ps,
                           "--protect", f"{SERVER4}:80")
    assert res.returncode == 1, res.stderr
    assert f"attaching to interface {topo.if_pc} failed: kernel lacks {named}" in res.stderr, \
        res.stderr
    assert "ready" not in res.stderr
    assert leftovers(topo) == []


def test_kernel_older_than_6_1_is_refused_by_name(topo):
    """uname(2) under the UNAME26 personality reports 2.6.x: the version
    probe must refuse it, naming the release and the minimum."""
    res = topo.sh(topo.proxy, "setarch", platform.machine(), "--uname-2.6", CUTTHRU, "run",
                  "-i", topo.if_pc, "--protect", f"{SERVER4}:80", check=False)
    assert res.returncode == 1, res.stderr
    assert re.search(r"kernel 2\.6\.\d+\S* is too old: cutthru needs >= 6\.1", res.stderr), \
        res.stderr
    assert leftovers(topo) == []


def connect_from(topo, port, deadline):
    """Connects from CLIENT4:port; retried while the client's previous
    socket on that port is still closing."""
    while True:
        try:
            return topo.connect(SERVER4, 80, bind_port=port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_time_wait(topo, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ss = topo.sh(topo.proxy, "ss", "-Htan", "state", "time-wait", f"dport = :{port}").stdout
        if f"{SERVER4}:80" in ss:
            return True
        time.sleep(0.2)
    return False


def test_client_port_reused_while_proxy_leg_in_time_wait(topo):
    """The server closes first, so the proxy's client leg (local address
    SERVER4:80) ends in TIME_WAIT; the client comes back at once from the
    same port. That SYN meets the TIME_WAIT socket, which hands it to a
    listener found by cutthru's sk_lookup program."""
    d = topo.start("-i", topo.if_pc, "-i", topo.if_ps, "--protect", f"{SERVER4}:80")
    lsock = topo.listen(SERVER4, 80)
    lsock.settimeout(10)
    port = 42000
    for rnd in range(3):
        csock = connect_from(topo, port, time.monotonic() + 10)
        conn, peer = lsock.accept()
        assert peer == (CLIENT4, port)
        conn.sendall(b"bye %d" % rnd)
        conn.close()
        assert csock.recv(10) == b"bye %d" % rnd
        assert csock.recv(10) == b"", "the server's FIN reaches the client"
        csock.close()
        if rnd == 0:
            assert wait_time_wait(topo, port), "the proxy's client leg is in TIME_WAIT"
    lsock.close()
    d.assert_clean_exit()
