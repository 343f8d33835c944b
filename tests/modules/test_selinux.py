"""selinux on a booted CentOS stand-in host (kernel SELinux off: config edits, reboot_required)."""

from __future__ import annotations

import pytest

from modules._utils.diffs import render
from tests.systemd_fixtures import (  # noqa: F401
    Host,
    booted_fixture,
    centos_fixture,
    centos_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]
CONFIG = "/etc/selinux/config"


@pytest.fixture(autouse=True)
def restore_config(centos: Host):
    text = centos.sh(f"cat {CONFIG}")
    yield
    centos.module("copy", {"dest": CONFIG, "content": text})


def config_state(host: Host) -> str:
    return host.sh(f"sed -n 's/^SELINUX=//p' {CONFIG}").strip()


def test_permissive_edits_config_and_says_reboot(centos: Host) -> None:
    assert config_state(centos) == "enforcing"
    args = {"state": "permissive", "policy": "targeted"}
    first = centos.module("selinux", args, diff=True)
    assert first["changed"] is True and first["reboot_required"] is True
    assert first["msg"] == "Config SELinux state changed from 'enforcing' to 'permissive'"
    assert first["warnings"] == ["Reboot is required to set SELinux state to 'permissive'"]
    assert "-SELINUX=enforcing\n+SELINUX=permissive\n" in render(first["diff"])
    assert config_state(centos) == "permissive"
    assert centos.sh(f"grep -c '^#' {CONFIG}").strip() == "9"  # comments kept
    second = centos.module("selinux", args)
    assert second["changed"] is False and second["reboot_required"] is True  # as Ansible


def test_disabled_needs_no_reboot_when_kernel_has_it_off(centos: Host) -> None:
    first = centos.module("selinux", {"state": "disabled"})
    assert first["changed"] is True and first["reboot_required"] is False
    assert first["policy"] == "targeted"
    assert config_state(centos) == "disabled"
    assert centos.module("selinux", {"state": "disabled"})["changed"] is False


def test_check_mode_changes_nothing(centos: Host) -> None:
    result = centos.module("selinux", {"state": "disabled"}, check=True, diff=True)
    assert result["changed"] is True and "+SELINUX=disabled" in render(result["diff"])
    assert config_state(centos) == "enforcing"


@pytest.mark.parametrize(
    "args, message",
    [
        ({"state": "permissive"}, "Policy is required if state is not 'disabled'"),
        ({"state": "on"}, "value of state must be one of"),
        ({"state": "disabled", "configfile": "/nonexistent"}, "Unable to find file /nonexistent"),
        ({"state": "permissive", "policy": "mls"}, "Policy mls does not exist in /etc/selinux/"),
    ],
)
def test_bad_arguments(centos: Host, args: dict, message: str) -> None:
    result = centos.module("selinux", args)
    assert result["failed"] is True and message in result["msg"], result
