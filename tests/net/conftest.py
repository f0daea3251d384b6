# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from topo import Topology  # noqa: E402


@pytest.fixture
def topo(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the namespace tests need root (ip netns, BPF)")
    t = Topology(tmp_path)
    try:
        yield t.up()
    finally:
        t.down()
    left = [ns for ns in os.listdir("/run/netns") if ns.startswith(t.tag)]
    assert not left, f"namespaces left behind: {left}"
