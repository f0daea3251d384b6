# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Fixtures of the bypass hunt: the namespace topology of tests/net (same
class, same teardown: every namespace removed, also on failure), once per
test or once per module, each with cutthru running (a Lab)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "net"))
from topo import topology  # noqa: E402

from adv import Lab  # noqa: E402


@pytest.fixture
def topo(tmp_path):
    yield from topology(tmp_path)


@pytest.fixture(scope="module")
def shared_topo(tmp_path_factory):
    yield from topology(tmp_path_factory.mktemp("adv"))


@pytest.fixture
def lab(topo):
    """A fresh topology with cutthru protecting 198.19.2.2:80 and
    [2001:db8:2::2]:80 and a service listening on both."""
    lab = Lab(topo)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def shared_lab(shared_topo):
    """The same, shared by the cases of a module that leave no state behind
    (each case reads counter deltas)."""
    lab = Lab(shared_topo)
    yield lab
    lab.close()
