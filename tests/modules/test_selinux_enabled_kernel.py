"""selinux on a kernel WITH SELinux: the setenforce paths and their reboot_required answers.

No kernel here has SELinux enabled (the booted hosts' kernel has it off), so selinuxfs is the
one thing faked: the module's SELINUXFS and system config paths point into tmp_path, and
`enforce` is a plain file the module reads and writes as it would /sys/fs/selinux/enforce.
Everything else (validation, config edit, results) runs for real, in-process.
"""

from __future__ import annotations

import json

from modules._utils.module import execute, result_json
from modules._utils.testing import load

CONFIG = "SELINUX={state}\nSELINUXTYPE=targeted\n"


def run(tmp_path, runtime: str, config: str, args: dict, check: bool = False) -> dict:
    fs = tmp_path / "selinuxfs"
    fs.mkdir(exist_ok=True)
    (fs / "enforce").write_text("1" if runtime == "enforcing" else "0")
    conf = tmp_path / "config"
    if not conf.exists():
        conf.write_text(CONFIG.format(state=config))
    (tmp_path / "targeted" / "policy").mkdir(parents=True, exist_ok=True)
    mod = load("selinux")
    mod.SELINUXFS, mod.SYSTEM_CONFIG = str(fs), str(conf)
    args = dict(args, configfile=str(conf))
    return json.loads(result_json(execute(mod, args, check=check, name="selinux")))


def test_enforcing_to_permissive_is_immediate(tmp_path) -> None:
    result = run(tmp_path, "enforcing", "enforcing", {"state": "permissive", "policy": "targeted"})
    assert result["changed"] is True and result["reboot_required"] is False
    assert result["msg"] == (
        "SELinux state changed from 'enforcing' to 'permissive', "
        "Config SELinux state changed from 'enforcing' to 'permissive'"
    )
    assert (tmp_path / "selinuxfs" / "enforce").read_text() == "0"
    assert "SELINUX=permissive" in (tmp_path / "config").read_text()


def test_enforcing_to_disabled_goes_permissive_until_reboot(tmp_path) -> None:
    result = run(tmp_path, "enforcing", "enforcing", {"state": "disabled"})
    assert result["changed"] is True and result["reboot_required"] is True
    assert result["warnings"] == [
        "SELinux state temporarily changed from 'enforcing' to 'permissive'. "
        "State change will take effect next reboot."
    ]
    assert (tmp_path / "selinuxfs" / "enforce").read_text() == "0"
    again = run(tmp_path, "permissive", "disabled", {"state": "disabled"})
    assert again["changed"] is False and again["reboot_required"] is True
    assert again["warnings"] == ["SELinux state change will take effect next reboot"]


def test_check_mode_leaves_enforce_alone(tmp_path) -> None:
    result = run(tmp_path, "enforcing", "enforcing", {"state": "permissive", "policy": "targeted"},
                 check=True)  # fmt: skip
    assert result["changed"] is True
    assert (tmp_path / "selinuxfs" / "enforce").read_text() == "1"
    assert "SELINUX=enforcing" in (tmp_path / "config").read_text()
