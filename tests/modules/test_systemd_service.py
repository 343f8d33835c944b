"""systemd_service / systemd / service on a booted CentOS stand-in host (real systemd, dbus)."""

from __future__ import annotations

import pytest

from tests.systemd_fixtures import (  # noqa: F401
    Host,
    booted_fixture,
    centos_fixture,
    centos_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

UNIT = """[Unit]
Description=tk test unit {name}
[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/true
[Install]
WantedBy=multi-user.target
"""


def make_unit(host: Host, name: str) -> str:
    host.module("copy", {"dest": f"/usr/lib/systemd/system/{name}.service",
                         "content": UNIT.format(name=name)})  # fmt: skip
    host.module("systemd_service", {"daemon_reload": True})
    return name + ".service"


def test_started_enabled_idempotent_and_real(centos: Host) -> None:
    unit = make_unit(centos, "tkt-svc-a")
    args = {"name": unit, "state": "started", "enabled": True}
    first = centos.module("systemd_service", args, diff=True)
    assert first["changed"] is True and not first["failed"], first
    assert first["name"] == unit and first["state"] == "started" and first["enabled"] is True
    assert first["status"]["ActiveState"] == "inactive"  # read before the change, as Ansible
    assert "-active: inactive" in _udiff(first) and "+active: active" in _udiff(first)
    assert centos.sh(f"systemctl is-active {unit}").strip() == "active"
    assert centos.sh(f"systemctl is-enabled {unit}").strip() == "enabled"
    second = centos.module("systemd_service", args)
    assert second["changed"] is False and second["status"]["ActiveState"] == "active"


def test_check_mode_changes_nothing(centos: Host) -> None:
    unit = make_unit(centos, "tkt-svc-b")
    args = {"name": unit, "state": "started", "enabled": True}
    result = centos.module("systemd_service", args, check=True, diff=True)
    assert result["changed"] is True
    assert "+enabled: enabled" in _udiff(result)
    assert centos.sh(f"systemctl is-active {unit} || true").strip() == "inactive"
    assert centos.sh(f"systemctl is-enabled {unit} || true").strip() == "disabled"


def test_stop_restart_reload_mask(centos: Host) -> None:
    unit = make_unit(centos, "tkt-svc-c")
    centos.module("systemd", {"name": unit, "state": "started"})
    pid = centos.sh(f"systemctl show -P MainPID {unit}").strip()
    restarted = centos.module("ansible.builtin.systemd", {"name": unit, "state": "restarted"})
    assert restarted["changed"] is True and restarted["state"] == "started"
    assert centos.sh(f"systemctl show -P MainPID {unit}").strip() != pid
    reloaded = centos.module("systemd_service", {"name": unit, "state": "reloaded"})
    assert reloaded["changed"] is True
    stopped = centos.module("systemd_service", {"name": unit, "state": "stopped"})
    assert stopped["changed"] is True
    assert centos.module("systemd_service", {"name": unit, "state": "stopped"})["changed"] is False
    masked = centos.module("systemd_service", {"name": unit, "masked": True})
    assert masked["changed"] is True
    assert centos.sh(f"systemctl is-enabled {unit} || true").strip() == "masked"
    assert centos.module("systemd_service", {"name": unit, "masked": True})["changed"] is False
    unmasked = centos.module("systemd_service", {"name": unit, "masked": False, "enabled": True})
    assert unmasked["changed"] is True
    assert centos.sh(f"systemctl is-enabled {unit}").strip() == "enabled"


def test_service_module_on_systemd(centos: Host) -> None:
    unit = make_unit(centos, "tkt-svc-d")
    result = centos.module("service", {"name": "tkt-svc-d", "state": "started", "sleep": 2})
    assert result["changed"] is True and result["name"] == "tkt-svc-d"
    assert result["warnings"] == ['Ignoring "sleep" as it is not used in "systemd"']
    assert centos.sh(f"systemctl is-active {unit}").strip() == "active"
    again = centos.module("ansible.builtin.service", {"name": "tkt-svc-d", "state": "started"})
    assert again["changed"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        ({"name": "x.service", "state": "running"}, "value of state must be one of"),
        ({"state": "started"}, "missing parameter(s) required by 'state': name"),
        ({"name": "x.service"}, "one of the following is required"),
        ({"name": "nosuch-tkt.service", "state": "started"},
         "Could not find the requested service nosuch-tkt.service: host"),
        ({"name": "x.service", "enabld": True}, "Did you mean 'enabled'?"),
    ],
)  # fmt: skip
def test_bad_arguments_one_clear_error(centos: Host, args: dict, message: str) -> None:
    result = centos.module("systemd_service", args)
    assert result["failed"] is True
    assert message in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]


def _udiff(result: dict) -> str:
    from modules._utils.diffs import render

    return render(result["diff"])
