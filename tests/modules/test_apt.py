"""apt / package on a booted Debian 12 host: real dpkg and apt, local flat file:// repository."""

from __future__ import annotations

import pytest

from modules._utils.diffs import render
from tests.systemd_fixtures import Host, booted_fixture, host_of  # noqa: F401
from toolkit.lab.systemd import SystemdLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def debian_lab(booted) -> SystemdLab:
    return booted(1, "debian", "a")


@pytest.fixture()
def debian(debian_lab: SystemdLab):
    yield from host_of(debian_lab, 0)


def version(host: Host, name: str) -> str:
    return host.sh(f"dpkg-query -W -f '${{Status}} ${{Version}}' {name} 2>/dev/null || true")


def test_present_absent(debian: Host) -> None:
    first = debian.module("ansible.builtin.apt", {"name": "tk-test-a"}, diff=True)
    assert first["changed"] is True and first["cache_updated"] is False
    assert render(first["diff"]).endswith("-tk-test-a: absent\n+tk-test-a: 1.0\n")
    assert version(debian, "tk-test-a") == "install ok installed 1.0"
    assert debian.module("apt", {"name": "tk-test-a"})["changed"] is False
    removed = debian.module("apt", {"name": "tk-test-a", "state": "absent", "purge": True})
    assert removed["changed"] is True and version(debian, "tk-test-a") == ""
    assert debian.module("apt", {"name": "tk-test-a", "state": "absent"})["changed"] is False


def test_latest_check_mode_then_upgrade(debian: Host) -> None:
    assert version(debian, "tk-test-up").endswith(" 1.0")
    check = debian.module("apt", {"name": "tk-test-up", "state": "latest"}, check=True, diff=True)
    assert check["changed"] is True and "+tk-test-up: 1.1" in render(check["diff"])
    assert version(debian, "tk-test-up").endswith(" 1.0")
    assert debian.module("apt", {"name": "tk-test-up"})["changed"] is False  # present: any version
    assert debian.module("apt", {"name": "tk-test-up", "state": "latest"})["changed"] is True
    assert version(debian, "tk-test-up").endswith(" 1.1")
    assert debian.module("apt", {"name": "tk-test-up", "state": "latest"})["changed"] is False


def test_package_picks_apt_and_update_cache(debian: Host) -> None:
    result = debian.module("package", {"name": ["tk-test-b"], "state": "present"})
    assert result["changed"] is True and version(debian, "tk-test-b").endswith(" 2.3")
    updated = debian.module("apt", {"update_cache": True})
    assert updated["cache_updated"] is True and updated["failed"] is False
    facts = debian.module("setup", {"gather_subset": ["min"]})["ansible_facts"]
    assert facts["ansible_pkg_mgr"] == "apt" and facts["ansible_service_mgr"] == "systemd"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"name": "nosuch-pkg"}, "No package matching 'nosuch-pkg' is available"),
        ({"name": "x", "state": "newest"}, "value of state must be one of"),
        ({"deb": "/tmp/x.deb"}, "does not support 'deb'"),
        ({}, "one of the following is required: name, package, update_cache"),
    ],
)
def test_bad_arguments(debian: Host, args: dict, message: str) -> None:
    result = debian.module("apt", args)
    assert result["failed"] is True and message in result["msg"], result
