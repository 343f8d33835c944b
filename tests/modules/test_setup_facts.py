"""setup: facts under Ansible's names, subsets, filter, local facts; compared with the machine."""

import json
import os
import platform
import socket
import sys

import pytest

from modules._utils.testing import run_module
from toolkit.transport.local import LocalConnection


@pytest.fixture(scope="module")
def facts():
    result = run_module("setup", {})
    assert result["changed"] is False and result["failed"] is False
    return result["ansible_facts"]


def os_release():
    values = {}
    with open("/etc/os-release") as fh:
        for line in fh:
            key, _, value = line.strip().partition("=")
            values[key] = value.strip('"')
    return values


def test_distribution(facts):
    rel = os_release()
    assert facts["ansible_distribution_major_version"] == rel["VERSION_ID"].split(".")[0]
    if rel["ID"] == "debian":
        assert facts["ansible_os_family"] == "Debian" and facts["ansible_distribution"] == "Debian"
        assert facts["ansible_pkg_mgr"] == "apt"
    assert facts["ansible_distribution_version"].startswith(rel["VERSION_ID"])


def test_platform_user_python(facts):
    uname = os.uname()
    assert facts["ansible_system"] == "Linux" and facts["ansible_kernel"] == uname.release
    assert facts["ansible_architecture"] == platform.machine()
    assert facts["ansible_hostname"] == socket.gethostname().split(".")[0]
    assert facts["ansible_nodename"] == uname.nodename and facts["ansible_fqdn"]
    assert facts["ansible_python"]["executable"] == sys.executable
    assert facts["ansible_python"]["version"]["major"] == 3
    assert facts["ansible_python_version"] == platform.python_version()
    assert facts["ansible_env"]["PATH"] == os.environ["PATH"]
    assert facts["ansible_user_uid"] == os.geteuid()
    assert facts["ansible_service_mgr"] and facts["ansible_selinux"]["status"] in (
        "disabled",
        "enabled",
    )
    if os.path.exists("/etc/machine-id"):
        assert facts["ansible_machine_id"] == open("/etc/machine-id").read().strip()


def test_hardware(facts):
    with open("/proc/meminfo") as fh:
        total_kb = int(fh.readline().split()[1])
    assert facts["ansible_memtotal_mb"] == total_kb // 1024
    assert facts["ansible_processor_vcpus"] == os.cpu_count()


def test_network(facts):
    assert set(facts["ansible_interfaces"]) == set(os.listdir("/sys/class/net"))
    assert facts["ansible_lo"]["ipv4"]["address"] == "127.0.0.1"
    with open("/proc/net/route") as fh:
        has_default = any(line.split()[1] == "00000000" for line in fh.readlines()[1:])
    if has_default:
        default = facts["ansible_default_ipv4"]
        assert default["interface"] in facts["ansible_interfaces"]
        assert default["address"] in facts["ansible_all_ipv4_addresses"]
        socket.inet_aton(default["gateway"])


def test_subsets_and_filter(tmp_path):
    minimal = run_module("setup", {"gather_subset": ["!all"]})["ansible_facts"]
    assert "ansible_os_family" in minimal and "ansible_memtotal_mb" not in minimal
    assert "ansible_interfaces" not in minimal
    net = run_module("setup", {"gather_subset": "!all,network"})["ansible_facts"]
    assert "ansible_interfaces" in net and "ansible_memtotal_mb" not in net
    filtered = run_module("setup", {"filter": ["ansible_distribution*"]})["ansible_facts"]
    assert set(filtered) - {"gather_subset", "module_setup"} == {
        k for k in filtered if k.startswith("ansible_distribution")
    }
    assert "ansible_distribution" in filtered
    bad = run_module("setup", {"gather_subset": ["bogus"]})
    assert bad["failed"] and "Bad subset 'bogus'" in bad["msg"]


def test_local_facts(tmp_path):
    (tmp_path / "app.fact").write_text(json.dumps({"version": "1.2"}))
    (tmp_path / "ini.fact").write_text("[sec]\nkey=value\n")
    facts = run_module("setup", {"fact_path": str(tmp_path), "gather_subset": "!all"})
    local = facts["ansible_facts"]["ansible_local"]
    assert local == {"app": {"version": "1.2"}, "ini": {"sec": {"key": "value"}}}


def test_setup_through_agent():
    with LocalConnection(python=sys.executable) as conn:
        facts = conn.run_module("ansible.builtin.setup", {"gather_subset": "!all"})
    assert facts["ansible_facts"]["ansible_python"]["executable"] == sys.executable
