"""Shared pytest fixtures (each import brings one area's fixtures)."""

from tests.keeper_fixtures import keeper_dir  # noqa: F401
from tests.lab_fixtures import lab, lab_hosts  # noqa: F401
