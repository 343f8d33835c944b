"""Shared pytest fixtures (each import brings one area's fixtures)."""

import os

# tke's default network is docker's bridge, which adds the tke0 bridge to the machine's network:
# tests must not, so their containers default to none; tests/engine/test_network.py runs tke in
# a network namespace of its own with the bridge on
os.environ["TKE_BRIDGE"] = "none"

from tests.keeper_fixtures import keeper_dir  # noqa: F401
from tests.lab_fixtures import lab, lab_hosts  # noqa: F401
