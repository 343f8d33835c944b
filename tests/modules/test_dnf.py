"""dnf / yum / package on a booted CentOS stand-in host: real rpm and dnf, local file:// repo."""

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


def rpm_q(host: Host, name: str) -> str:
    return host.sh(f"rpm -q --qf '%{{NAME}}-%{{VERSION}}-%{{RELEASE}}' {name} || true").strip()


def test_present_then_absent(centos: Host) -> None:
    args = {"name": ["tk-test-a", "runc"], "state": "present"}
    first = centos.module("ansible.builtin.dnf", args, diff=True)
    assert first["changed"] is True and first["rc"] == 0, first
    assert first["results"] == [
        "Installed: runc-1.1.12-1.el9.noarch",
        "Installed: tk-test-a-1.0-1.el9.noarch",
    ]
    assert "+runc: runc-1.1.12-1.el9.noarch" in render(first["diff"])
    assert rpm_q(centos, "tk-test-a") == "tk-test-a-1.0-1.el9"
    second = centos.module("dnf", args)
    assert second == {"changed": False, "failed": False, "msg": "Nothing to do", "rc": 0,
                      "results": []}  # fmt: skip
    removed = centos.module("dnf", {"name": "tk-test-a", "state": "absent"})
    assert removed["changed"] and removed["results"] == ["Removed: tk-test-a-1.0-1.el9.noarch"]
    assert "not installed" in rpm_q(centos, "tk-test-a")
    assert centos.module("dnf", {"name": "tk-test-a", "state": "absent"})["changed"] is False


def test_latest_upgrades_with_yum_alias(centos: Host) -> None:
    assert rpm_q(centos, "tk-test-up") == "tk-test-up-1.0-1.el9"
    check = centos.module("yum", {"name": "tk-test-up", "state": "latest"}, check=True)
    assert check["changed"] is True and check["results"] == [
        "Installed: tk-test-up-1.1-1.el9.noarch"
    ]
    assert rpm_q(centos, "tk-test-up") == "tk-test-up-1.0-1.el9"
    present = centos.module("yum", {"name": "tk-test-up", "state": "present"})
    assert present["changed"] is False  # installed, any version
    latest = centos.module("ansible.builtin.yum", {"name": "tk-test-up", "state": "latest"})
    assert latest["changed"] is True
    assert rpm_q(centos, "tk-test-up") == "tk-test-up-1.1-1.el9"
    assert centos.module("yum", {"name": "tk-test-up", "state": "latest"})["changed"] is False


def test_check_mode_installs_nothing(centos: Host) -> None:
    result = centos.module("dnf", {"name": "tk-test-b", "state": "present"}, check=True)
    assert result["changed"] is True
    assert result["msg"] == "Check mode: No changes made, but would have if not in check mode"
    assert "not installed" in rpm_q(centos, "tk-test-b")


def test_package_picks_dnf(centos: Host) -> None:
    args = {"name": ["nftables", "python3"], "state": "present"}
    first = centos.module("package", args)
    assert first["changed"] is True
    assert first["results"] == ["Installed: nftables-1.0.9-1.el9.noarch"]  # python3 preinstalled
    assert centos.module("ansible.builtin.package", args)["changed"] is False
    facts = centos.module("setup", {"gather_subset": ["min"]})["ansible_facts"]
    assert facts["ansible_pkg_mgr"] == "dnf" and facts["ansible_os_family"] == "RedHat"
    assert facts["ansible_service_mgr"] == "systemd"
    assert facts["ansible_selinux"]["status"] == "disabled"
    assert facts["ansible_firewalld"]["running"] is True


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("dnf", {"name": ["nosuch-pkg"]}, "Failed to install some of the specified packages"),
        ("dnf", {"name": "x", "state": "gone"}, "value of state must be one of"),
        ("dnf", {"name": "@core"}, "does not manage groups"),
        ("dnf", {"name": "/etc/hosts", "state": "absent"}, "Cannot remove paths"),
        ("package", {"name": "x"}, "missing required arguments: state"),
        ("dnf", {"nme": "x"}, "Did you mean 'name'?"),
    ],
)
def test_bad_arguments(centos: Host, module: str, args: dict, message: str) -> None:
    result = centos.module(module, args)
    assert result["failed"] is True and message in result["msg"], result
    if module == "dnf" and args.get("name") == ["nosuch-pkg"]:
        assert result["failures"] == ["No package nosuch-pkg available."]


@pytest.mark.parametrize("backend", ["api", "cli"])
def test_api_and_cli_backends_agree(centos: Host, backend: str) -> None:
    """Changes go through dnf's Python API where the host's Python has dnf, else (or with
    TK_DNF_CLI set) through the dnf command: same results, same end state. dnf's history
    tells which one ran (the CLI records its command line)."""
    env = {"TK_DNF_CLI": "1"} if backend == "cli" else None
    args = {"name": ["tk-test-b"], "state": "present"}
    first = centos.module("dnf", args, env=env)
    assert first["changed"] is True and first["results"] == [
        "Installed: tk-test-b-2.3-1.el9.noarch"
    ]
    assert rpm_q(centos, "tk-test-b") == "tk-test-b-2.3-1.el9"
    cmdline = centos.sh("dnf history info last | sed -n 's/^Command Line *: *//p'").strip()
    assert ("install tk-test-b" in cmdline) == (backend == "cli"), cmdline
    assert centos.module("dnf", args, env=env)["changed"] is False
    both = centos.module("dnf", {"name": ["tk-test-a", "nosuch-pkg"]}, env=env)
    assert both["failed"] is True and both["failures"] == ["No package nosuch-pkg available."]
    assert "not installed" in rpm_q(centos, "tk-test-a")  # nothing of a failed transaction
    removed = centos.module("dnf", {"name": "tk-test-b", "state": "absent"}, env=env)
    assert removed["results"] == ["Removed: tk-test-b-2.3-1.el9.noarch"]
    assert "not installed" in rpm_q(centos, "tk-test-b")


def test_check_mode_predicts_dependencies_as_the_real_run_installs_them(centos: Host) -> None:
    """tk-test-dep requires tk-test-a: --check names both (dnf's resolver, as Ansible's check
    mode), and the real run then installs exactly what it predicted; removing tk-test-a
    takes tk-test-dep with it, in check mode and for real."""
    args = {"name": "tk-test-dep", "state": "present"}
    check = centos.module("dnf", args, check=True, diff=True)
    assert check["changed"] is True and check["results"] == [
        "Installed: tk-test-a-1.0-1.el9.noarch",
        "Installed: tk-test-dep-0.1-1.el9.noarch",
    ]
    assert "+tk-test-a: tk-test-a-1.0-1.el9.noarch" in render(check["diff"])
    assert "not installed" in rpm_q(centos, "tk-test-dep")
    real = centos.module("dnf", args)
    assert real["results"] == check["results"]
    assert rpm_q(centos, "tk-test-a") == "tk-test-a-1.0-1.el9"
    gone = {"name": "tk-test-a", "state": "absent"}
    predicted = centos.module("dnf", gone, check=True)
    assert predicted["results"] == [
        "Removed: tk-test-a-1.0-1.el9.noarch",
        "Removed: tk-test-dep-0.1-1.el9.noarch",
    ]
    assert centos.module("dnf", gone)["results"] == predicted["results"]
    assert "not installed" in rpm_q(centos, "tk-test-dep")


@pytest.mark.parametrize("backend", ["api", "cli"])
def test_unsigned_package_from_a_gpgcheck_repo_is_refused(centos: Host, backend: str) -> None:
    """A repository with gpgcheck=1 whose packages are unsigned: the install fails and
    installs nothing, unless disable_gpg_check; enablerepo/disablerepo pick the repo."""
    env = {"TK_DNF_CLI": "1"} if backend == "cli" else None
    centos.sh(
        "sed -e 's/^\\[tk-lab\\]/[tk-signed]/' -e 's/^gpgcheck=0/gpgcheck=1/'"
        " -e 's/^enabled=1/enabled=0/' /etc/yum.repos.d/tk-lab.repo"
        " > /etc/yum.repos.d/tk-signed.repo"
    )
    try:
        args = {"name": "tk-test-b", "enablerepo": "tk-signed", "disablerepo": "tk-lab"}
        refused = centos.module("dnf", args, env=env)
        assert refused["failed"] is True, refused
        assert refused["msg"].startswith("Failed to validate GPG signature: ")
        assert "tk-test-b-2.3-1.el9.noarch.rpm is not signed" in refused["msg"]
        assert "not installed" in rpm_q(centos, "tk-test-b")
        allowed = centos.module("dnf", dict(args, disable_gpg_check=True), env=env)
        assert allowed["changed"] is True, allowed
        assert rpm_q(centos, "tk-test-b") == "tk-test-b-2.3-1.el9"
    finally:
        centos.sh("rm -f /etc/yum.repos.d/tk-signed.repo; rpm -e tk-test-b || true")


def test_a_local_rpm_file(centos: Host) -> None:
    path = "/var/lib/tk-lab/repo/tk-test-b-2.3-1.el9.noarch.rpm"
    first = centos.module("dnf", {"name": path, "state": "present"})
    assert first["changed"] is True and first["results"] == [
        "Installed: tk-test-b-2.3-1.el9.noarch"
    ]
    assert centos.module("dnf", {"name": path, "state": "present"})["changed"] is False
    assert centos.module("dnf", {"name": "tk-test-b", "state": "absent"})["changed"] is True
