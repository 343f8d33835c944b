"""hostname on a booted CentOS stand-in host: hostnamectl, /etc/hostname, sysconfig, /etc/hosts."""

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


@pytest.fixture(autouse=True)
def restore_name(centos: Host):
    old = centos.sh("hostnamectl --static").strip()
    hosts = centos.sh("cat /etc/hosts")
    yield
    centos.module("hostname", {"name": old})
    centos.module("copy", {"dest": "/etc/hosts", "content": hosts})


def test_systemd_strategy_sets_static_and_live_name(centos: Host) -> None:
    old = centos.sh("hostnamectl --static").strip()
    first = centos.module("hostname", {"name": "db01.example.com"}, diff=True)
    assert first["changed"] is True and first["name"] == "db01.example.com"
    assert first["ansible_facts"]["ansible_hostname"] == "db01"
    assert first["ansible_facts"]["ansible_nodename"] == "db01.example.com"
    assert first["diff"] == {
        "before": f"hostname = {old}\n",
        "after": "hostname = db01.example.com\n",
    }
    assert centos.sh("hostnamectl --static").strip() == "db01.example.com"
    assert centos.sh("hostname").strip() == "db01.example.com"
    assert centos.sh("cat /etc/hostname").strip() == "db01.example.com"
    assert centos.module("hostname", {"name": "db01.example.com"})["changed"] is False


def test_check_mode_and_etc_hosts(centos: Host) -> None:
    old = centos.sh("hostnamectl --static").strip()
    args = {"name": "app7.lab.test", "update_etc_hosts": True}
    check = centos.module("hostname", args, check=True, diff=True)
    assert check["changed"] is True
    assert "+127.0.1.1\tapp7.lab.test app7\n" in render(check["diff"])
    assert centos.sh("hostnamectl --static").strip() == old
    assert "127.0.1.1" not in centos.sh("cat /etc/hosts")
    assert centos.module("hostname", args)["changed"] is True
    assert "127.0.1.1\tapp7.lab.test app7" in centos.sh("cat /etc/hosts")
    assert centos.module("hostname", args)["changed"] is False


def test_redhat_strategy_edits_sysconfig_network(centos: Host) -> None:
    first = centos.module("hostname", {"name": "rh01", "use": "redhat"})
    assert first["changed"] is True
    assert "HOSTNAME=rh01" in centos.sh("cat /etc/sysconfig/network").splitlines()
    assert centos.sh("cat /etc/hostname; hostname").split() == ["rh01", "rh01"]
    assert centos.module("hostname", {"name": "rh01", "use": "redhat"})["changed"] is False


def test_generic_strategy(centos: Host) -> None:
    assert centos.module("hostname", {"name": "gen01", "use": "generic"})["changed"] is True
    assert centos.sh("cat /etc/hostname").strip() == "gen01"
    assert centos.sh("hostname").strip() == "gen01"


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "missing required arguments: name"),
        ({"name": "a b"}, "invalid hostname 'a b'"),
        ({"name": "x", "use": "bsd"}, "value of use must be one of"),
    ],
)
def test_bad_arguments(centos: Host, args: dict, message: str) -> None:
    result = centos.module("hostname", args)
    assert result["failed"] is True and message in result["msg"], result
