"""Shared pytest fixtures (each import brings one area's fixtures)."""

from tests.lab_fixtures import lab, lab_hosts  # noqa: F401
