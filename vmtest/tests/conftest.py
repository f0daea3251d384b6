# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "net"))
from topo import topology  # noqa: E402


@pytest.fixture
def topo(tmp_path):
    yield from topology(tmp_path)
