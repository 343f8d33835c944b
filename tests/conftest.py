"""Shared pytest fixtures (each import brings one area's fixtures)."""

import os

import pytest

# tke's default network is docker's bridge, which adds the tke0 bridge to the machine's network:
# tests must not, so their containers default to none; tests/engine/test_network.py runs tke in
# a network namespace of its own with the bridge on
os.environ["TKE_BRIDGE"] = "none"

from tests.keeper_fixtures import keeper_dir  # noqa: F401
from tests.lab_fixtures import lab, lab_hosts  # noqa: F401


def _tke_parent_cgroups() -> set:
    """The engine's parent cgroup (`/tke`, its containers' cgroups go below it) in each
    hierarchy where it exists."""
    from toolkit.engine.cgroups import CGROUP_ROOT, cgroup_path

    parent = os.path.dirname(cgroup_path("x")).lstrip("/")
    try:
        names = os.listdir(CGROUP_ROOT)
    except OSError:
        return set()
    found = (os.path.join(CGROUP_ROOT, name, parent) for name in names + [""])
    return {path for path in found if os.path.isdir(path)}


@pytest.fixture(scope="session", autouse=True)
def tke_parent_cgroups_removed():
    """The engine makes `/tke` in every hierarchy with its first container; the session
    removes the ones it made (each test already checks that its containers' own cgroups are
    gone, so they are empty by then: rmdir fails otherwise, and the directory stays)."""
    before = _tke_parent_cgroups()
    yield
    for path in sorted(_tke_parent_cgroups() - before):
        try:
            os.rmdir(path)
        except OSError:
            pass
