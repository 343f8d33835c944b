"""firewalld on a booted CentOS stand-in host: real firewalld over D-Bus, and offline."""

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


def listing(host: Host, zone: str = "public", permanent: bool = False) -> str:
    flag = "--permanent " if permanent else ""
    return host.sh(f"firewall-cmd {flag}--zone={zone} --list-all")


def field(text: str, name: str) -> list:
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == name:
            return value.split()
    raise KeyError(name)


def test_service_permanent_and_immediate(centos: Host) -> None:
    args = {"service": "https", "permanent": True, "immediate": True, "state": "enabled"}
    first = centos.module("ansible.posix.firewalld", args, diff=True)
    assert first["changed"] is True, first
    assert first["msg"] == (
        "Permanent and Non-Permanent(immediate) operation, Changed service https to enabled"
    )
    assert "+zone public (runtime): service https enabled" in render(first["diff"])
    assert "https" in field(listing(centos), "services")
    assert "https" in field(listing(centos, permanent=True), "services")
    second = centos.module("firewalld", args)
    assert second["changed"] is False
    assert second["msg"] == "Permanent and Non-Permanent(immediate) operation"
    off = centos.module("firewalld", dict(args, state="disabled"))
    assert off["changed"] is True and "https" not in field(listing(centos), "services")


def test_busctl_path_without_dbus_python(centos: Host) -> None:
    """Hosts without dbus-python get the same results through busctl processes."""
    env = {"TK_FIREWALLD_BUSCTL": "1"}
    args = {"service": "pop3s", "zone": "dmz", "permanent": True, "immediate": True,
            "state": "enabled"}  # fmt: skip
    assert centos.module("firewalld", args, env=env)["changed"] is True
    assert "pop3s" in field(listing(centos, "dmz", True), "services")
    assert centos.module("firewalld", args, env=env)["changed"] is False
    bad = centos.module("firewalld", dict(args, service="nosuch"), env=env)
    assert bad["failed"] and "INVALID_SERVICE: nosuch" in bad["msg"]
    fwd = {"zone": "drop", "forward": False, "permanent": True, "immediate": True,
           "state": "enabled"}  # fmt: skip
    assert centos.module("firewalld", fwd, env=env)["changed"] is True
    assert field(listing(centos, "drop", True), "forward") == ["no"]
    assert centos.module("firewalld", fwd, env=env)["changed"] is False
    zone = {"zone": "tkbus", "permanent": True, "state": "present"}
    assert centos.module("firewalld", zone, env=env)["changed"] is True
    assert centos.module("firewalld", dict(zone, state="absent"), env=env)["changed"] is True


def test_port_permanent_only_needs_reload(centos: Host) -> None:
    args = {"port": "8443/tcp", "permanent": True, "state": "enabled", "zone": "public"}
    assert centos.module("firewalld", args)["changed"] is True
    assert "8443/tcp" in field(listing(centos, permanent=True), "ports")
    assert "8443/tcp" not in field(listing(centos), "ports")
    centos.sh("firewall-cmd --reload")
    assert "8443/tcp" in field(listing(centos), "ports")
    assert centos.module("firewalld", args)["changed"] is False


def test_immediate_is_default_when_permanent_unset(centos: Host) -> None:
    args = {"port": "9000-9010/udp", "state": "enabled"}
    result = centos.module("firewalld", args)
    assert result["msg"] == "Non-permanent operation, Changed port 9000-9010/udp to enabled"
    assert "9000-9010/udp" in field(listing(centos), "ports")
    assert "9000-9010/udp" not in field(listing(centos, permanent=True), "ports")


def test_rich_rule_source_masquerade_icmp_forward(centos: Host) -> None:
    zone = "internal"
    rule = 'rule family="ipv4" source address="192.0.2.0/24" service name="ssh" accept'
    cases = [
        ({"rich_rule": rule}, "rich rules", rule),
        ({"source": "198.51.100.0/24"}, "sources", "198.51.100.0/24"),
        ({"masquerade": "yes"}, "masquerade", "yes"),
        ({"icmp_block": "echo-request"}, "icmp-blocks", "echo-request"),
        ({"icmp_block_inversion": "yes"}, "icmp-block-inversion", "yes"),
        ({"protocol": "gre"}, "protocols", "gre"),
        ({"port_forward": [{"port": "8080", "proto": "tcp", "toport": "80"}]},
         "forward-ports", "port=8080:proto=tcp:toport=80:toaddr="),
    ]  # fmt: skip
    for extra, key, expect in cases:
        args = dict(extra, zone=zone, permanent=True, immediate=True, state="enabled")
        assert centos.module("firewalld", args)["changed"] is True, extra
        for permanent in (False, True):
            text = listing(centos, zone, permanent)
            if key in ("rich rules", "forward-ports"):  # listed on lines of their own
                assert expect in text
            else:
                assert expect in " ".join(field(text, key)), (extra, text)
        assert centos.module("firewalld", args)["changed"] is False, extra
        assert centos.module("firewalld", dict(args, state="disabled"))["changed"] is True


def test_bool_options_follow_their_value(centos: Host) -> None:
    """ansible.posix 2: masquerade/forward/icmp_block_inversion are bools; false + enabled
    turns the setting off."""
    base = {"zone": "external", "permanent": True, "immediate": True, "state": "enabled"}
    assert "yes" in field(listing(centos, "external"), "masquerade")
    off = centos.module("firewalld", dict(base, masquerade=False))
    assert off["changed"] is True and "Removed masquerade from zone external" in off["msg"]
    assert field(listing(centos, "external"), "masquerade") == ["no"]
    assert centos.module("firewalld", dict(base, masquerade=False))["changed"] is False
    on = centos.module("firewalld", dict(base, masquerade=True))
    assert on["changed"] is True and field(listing(centos, "external", True), "masquerade") == [
        "yes"
    ]
    fwd = centos.module("firewalld", dict(base, zone="block", forward=False))  # on by default
    assert fwd["changed"] is True and "Removed forward from zone block" in fwd["msg"]
    assert field(listing(centos, "block"), "forward") == ["no"]
    assert centos.module("firewalld", dict(base, zone="block", forward=True))["changed"] is True
    assert field(listing(centos, "block", True), "forward") == ["yes"]


def test_interface_moves_between_zones(centos: Host) -> None:
    base = {"interface": "eth0", "permanent": True, "immediate": True, "state": "enabled"}
    assert centos.module("firewalld", dict(base, zone="work"))["changed"] is True
    assert "eth0" in field(listing(centos, "work", True), "interfaces")
    moved = centos.module("firewalld", dict(base, zone="home"))
    assert moved["changed"] is True and "Changed eth0 to zone home" in moved["msg"]
    assert "eth0" not in field(listing(centos, "work", True), "interfaces")
    assert "eth0" in field(listing(centos, "home", True), "interfaces")
    assert "eth0" in field(listing(centos, "home"), "interfaces")
    assert centos.module("firewalld", dict(base, zone="home", state="disabled"))["changed"]


def test_zone_and_target(centos: Host) -> None:
    zone = {"zone": "tktest", "permanent": True, "state": "present"}
    assert centos.module("firewalld", zone)["changed"] is True
    assert "tktest" in centos.sh("firewall-cmd --permanent --get-zones").split()
    assert centos.module("firewalld", zone)["changed"] is False
    target = {"zone": "tktest", "permanent": True, "state": "present", "target": "DROP"}
    check = centos.module("firewalld", target, check=True, diff=True)
    assert check["changed"] is True and "+zone tktest (permanent): target DROP" in render(
        check["diff"]
    )
    assert centos.sh("firewall-cmd --permanent --zone=tktest --get-target").strip() == "default"
    assert centos.module("firewalld", target)["changed"] is True
    assert centos.sh("firewall-cmd --permanent --zone=tktest --get-target").strip() == "DROP"
    assert centos.module("firewalld", target)["changed"] is False
    assert centos.module("firewalld", dict(zone, state="absent"))["changed"] is True
    assert "tktest" not in centos.sh("firewall-cmd --permanent --get-zones").split()


def test_default_zone(centos: Host) -> None:
    args = {"zone": "home", "default": True, "permanent": True, "immediate": True,
            "state": "enabled"}  # fmt: skip
    try:
        first = centos.module("firewalld", args)
        assert first["changed"] is True and "Updated default zone to home" in first["msg"]
        assert centos.sh("firewall-cmd --get-default-zone").strip() == "home"
        assert centos.module("firewalld", args)["changed"] is False
    finally:
        back = centos.module("firewalld", dict(args, default=False))
    assert back["changed"] is True
    assert "Reverted default zone from home to upstream default public" in back["msg"]
    assert centos.sh("firewall-cmd --get-default-zone").strip() == "public"
    bad = centos.module("firewalld", dict(args, immediate=False))
    assert bad["failed"] and "Default zone changes must be permanent" in bad["msg"]


def test_check_mode_changes_nothing(centos: Host) -> None:
    args = {"service": "ftp", "permanent": True, "immediate": True, "state": "enabled"}
    result = centos.module("firewalld", args, check=True, diff=True)
    assert result["changed"] is True
    assert "ftp" not in field(listing(centos), "services")
    assert "ftp" not in field(listing(centos, permanent=True), "services")


def test_offline_when_firewalld_stopped(centos: Host) -> None:
    centos.module("systemd_service", {"name": "firewalld", "state": "stopped"})
    try:
        args = {"service": "imaps", "permanent": True, "state": "enabled"}
        result = centos.module("firewalld", args)
        assert result["changed"] is True, result
        assert result["msg"].endswith("(offline operation: only on-disk configs were altered)")
        assert centos.module("firewalld", args)["changed"] is False
        immediate = centos.module("firewalld", dict(args, immediate=True))
        assert immediate["failed"] and "unable to perform immediate actions" in immediate["msg"]
        both = centos.module("firewalld", dict(args, service="pop3", immediate=True, offline=True))
        assert both["changed"] is True, both  # offline=true drops immediate (ansible.posix 2)
        refused = centos.module("firewalld", dict(args, permanent=False, offline=True))
        assert refused["failed"]
        assert "offline cannot be enabled unless permanent changes are allowed" in refused["msg"]
    finally:
        centos.module("systemd_service", {"name": "firewalld", "state": "started"})
    assert {"imaps", "pop3"} <= set(field(listing(centos), "services"))


@pytest.mark.parametrize(
    "args, message",
    [
        ({"service": "http"}, "missing required arguments: state"),
        ({"service": "http", "port": "80/tcp", "state": "enabled"}, "mutually exclusive"),
        ({"port": "80", "state": "enabled"}, "improper port format (missing protocol?)"),
        ({"service": "nosuchsvc", "state": "enabled"}, "INVALID_SERVICE"),
        ({"service": "http", "state": "present"}, "absent and present state can only be used"),
        ({"interface": "eth0", "state": "enabled"}, "required by 'interface': zone"),
        ({"zone": "x", "state": "present", "immediate": True}, "Zone operations must be perm"),
    ],
)
def test_bad_arguments(centos: Host, args: dict, message: str) -> None:
    result = centos.module("firewalld", args)
    assert result["failed"] is True and message in result["msg"], result
