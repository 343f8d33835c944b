"""The container, container_image and container_volume modules against the real engine: each test
has its own store (TKE_ROOT) with busybox pulled from the registry fixture; the modules run
in-process (run_module) and find `tke` on PATH; the end state is read back with the tke CLI.
One test runs `tk play -c local` with community.docker.docker_container by its FQCN.

Containers here never start on a network (TKE_BRIDGE=none): the port and link options are
checked on created-only containers (`state: present`) or in check mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modules._utils.testing import run_module
from tests.e2e.tkrun import recap
from tests.engine.ctrhelpers import Ctr, ctr_runc_fixture  # noqa: F401 - provides `ctr_runc`
from toolkit.modindex import find_module

BIN = str(Path(sys.executable).parent)
TK = Path(BIN) / "tk"
SLEEPER = ["sleep", "300"]


@pytest.fixture
def ctr(ctr_runc: Ctr, monkeypatch) -> Ctr:
    """The store of ctr_runc as the in-process modules' environment, tke first on PATH."""
    monkeypatch.setenv("TKE_ROOT", ctr_runc.root)
    monkeypatch.setenv("TKE_RUNTIME", ctr_runc.runtime)
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    return ctr_runc


def inspect(ctr: Ctr, *argv: str) -> dict:
    return json.loads(ctr.ok(*argv))[0]


def container(ctr: Ctr, name: str) -> dict:
    return inspect(ctr, "inspect", "--type", "container", name)


def names(ctr: Ctr) -> list:
    return ctr.ok("ps", "-a", "--format", "{{.Names}}").split()


def web_args(ctr: Ctr, **extra) -> dict:
    args = {
        "name": "web",
        "image": ctr.image,
        "command": " ".join(SLEEPER),
        "env": {"MODE": "one", "N": 1},
        "labels": {"tier": "front"},
        "restart_policy": "on-failure",
        "restart_retries": 2,
        "stop_timeout": 1,
    }
    args.update(extra)
    return args


def test_container_converges_then_stays_put(ctr: Ctr) -> None:
    first = run_module("container", web_args(ctr))
    assert first["changed"] is True and not first["failed"], first
    rec = container(ctr, "web")
    assert rec["State"]["Running"] is True
    assert {"MODE=one", "N=1"} <= set(rec["Config"]["Env"])
    assert rec["Config"]["Labels"] == {"tier": "front"}
    assert rec["Config"]["Cmd"] == SLEEPER
    assert rec["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert first["container"]["Id"] == rec["Id"]

    again = run_module("container", web_args(ctr))
    assert again["changed"] is False and again["container"]["Id"] == rec["Id"]
    assert again["container"]["State"] == container(ctr, "web")["State"]  # what is there now

    changed_env = web_args(ctr, env={"MODE": "two", "N": 1})
    check = run_module("container", changed_env, check=True, diff=True)
    assert check["changed"] is True
    assert check["diff"]["before"]["env"]["MODE"] == "one"
    assert check["diff"]["after"]["env"]["MODE"] == "two"
    assert container(ctr, "web")["Id"] == rec["Id"]
    assert "MODE=one" in container(ctr, "web")["Config"]["Env"]

    recreated = run_module("container", changed_env, diff=True)
    assert recreated["changed"] is True
    assert set(recreated["diff"]["before"]) == set(recreated["diff"]["after"]) == {"env"}
    new = container(ctr, "web")
    assert new["Id"] != rec["Id"] and "MODE=two" in new["Config"]["Env"]
    assert new["State"]["Running"] is True and names(ctr) == ["web"]


def test_limits_and_restart_policy_change_in_place(ctr: Ctr) -> None:
    assert run_module("container", web_args(ctr))["changed"] is True
    rec = container(ctr, "web")
    tighter = web_args(ctr, memory="64m", cpus=0.5, restart_policy="always", restart_retries=None)
    tighter.update(cpu_shares=512, pids_limit=40)
    check = run_module("container", tighter, check=True, diff=True)
    assert check["changed"] is True and container(ctr, "web")["HostConfig"]["Memory"] == 0
    updated = run_module("container", tighter, diff=True)
    assert updated["changed"] is True, updated
    assert {"memory", "cpus", "restart_policy"} <= set(updated["diff"]["after"])
    now = container(ctr, "web")
    assert updated["container"]["HostConfig"] == now["HostConfig"]  # reported after the change
    assert now["Id"] == rec["Id"] and now["State"]["Running"] is True  # not recreated
    assert now["State"]["Pid"] == rec["State"]["Pid"]  # nor restarted
    assert now["HostConfig"]["Memory"] == 64 << 20
    assert now["HostConfig"]["NanoCpus"] == 500_000_000
    assert now["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert (now["HostConfig"]["CpuShares"], now["HostConfig"]["PidsLimit"]) == (512, 40)
    assert run_module("container", tighter)["changed"] is False
    lifted = dict(tighter, pids_limit=-1)
    assert run_module("container", lifted)["changed"] is True
    assert container(ctr, "web")["HostConfig"]["PidsLimit"] == -1
    assert container(ctr, "web")["Id"] == rec["Id"]
    assert run_module("container", dict(tighter, pids_limit=0))["changed"] is False  # same


def test_log_options_and_a_change_of_them(ctr: Ctr) -> None:
    logged = web_args(ctr, log_driver="json-file", log_options={"max-size": "1k", "max-file": 2})
    assert run_module("container", logged)["changed"] is True
    rec = container(ctr, "web")
    want = {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}
    assert rec["HostConfig"]["LogConfig"] == want
    assert run_module("container", logged)["changed"] is False
    bigger = dict(logged, log_options={"max-size": "1m", "max-file": 2})
    assert run_module("container", bigger)["changed"] is True  # a new container, as docker's
    again = container(ctr, "web")
    assert (
        again["Id"] != rec["Id"] and again["HostConfig"]["LogConfig"]["Config"]["max-size"] == "1m"
    )


def test_container_stopped_then_absent(ctr: Ctr) -> None:
    assert run_module("container", web_args(ctr))["changed"] is True
    stopped = run_module("container", web_args(ctr, state="stopped"), diff=True)
    assert stopped["changed"] is True
    assert stopped["diff"] == {"before": {"running": True}, "after": {"running": False}}
    assert container(ctr, "web")["State"]["Running"] is False
    assert run_module("container", web_args(ctr, state="stopped"))["changed"] is False

    gone = run_module("container", {"name": "web", "state": "absent"})
    assert gone["changed"] is True and gone["container"] == {}
    assert names(ctr) == []
    assert run_module("container", {"name": "web", "state": "absent"})["changed"] is False


def test_check_mode_creates_nothing(ctr: Ctr) -> None:
    result = run_module("container", web_args(ctr), check=True, diff=True)
    assert result["changed"] is True and not result["failed"]
    assert result["diff"]["before"] == {"exists": False, "running": False}
    assert result["diff"]["after"]["exists"] is True
    assert result["diff"]["after"]["command"] == SLEEPER
    assert names(ctr) == []
    assert run_module("container", {"name": "web", "state": "absent"}, check=True)["changed"] is (
        False
    )


def test_detach_false_returns_status_and_output(ctr: Ctr) -> None:
    script = ["sh", "-c", "echo out; echo err >&2"]
    args = {"name": "job", "image": ctr.image, "command": script, "detach": False}
    done = run_module("container", args)
    assert done["changed"] is True and not done["failed"], done
    assert done["status"] == 0
    assert sorted(done["container"]["Output"].splitlines()) == ["err", "out"]
    assert container(ctr, "job")["State"]["ExitCode"] == 0

    failing = dict(args, name="job2", command="sh -c 'echo bad; exit 3'", cleanup=True)
    result = run_module("container", failing)
    assert result["failed"] is True and result["status"] == 3
    assert result["msg"] == "bad\n" and result["container"] == {"Output": "bad\n"}
    assert names(ctr) == ["job"]  # cleanup removed job2


def test_bad_image_fails_with_tke_message(ctr: Ctr, registry) -> None:
    result = run_module("container", {"name": "bad", "image": f"{registry.host}/nosuch:1"})
    assert result["failed"] is True and result["rc"] != 0
    assert "manifest" in result["msg"] and "nosuch" in result["msg"], result["msg"]
    assert names(ctr) == []


def test_present_creates_with_ports_without_starting(ctr: Ctr, tmp_path) -> None:
    args = {
        "name": "svc",
        "image": ctr.image,
        "state": "present",
        "command": SLEEPER,
        "published_ports": ["8080:80", "127.0.0.1:9000:90/udp"],
        "expose": ["7000"],
        "network_mode": "none",
        "volumes": [f"{tmp_path}:/data:ro"],
        "memory": "64m",
        "capabilities": ["net_admin"],
        "read_only": True,
    }
    first = run_module("container", args)
    assert first["changed"] is True and not first["failed"], first
    rec = container(ctr, "svc")
    assert rec["State"]["Status"] == "created"
    assert rec["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "90/udp": [{"HostIp": "127.0.0.1", "HostPort": "9000"}],
    }
    assert set(rec["Config"]["ExposedPorts"]) == {"80/tcp", "90/udp", "7000/tcp"}
    assert rec["HostConfig"]["Binds"] == [f"{tmp_path}:/data:ro"]
    assert rec["HostConfig"]["Memory"] == 64 << 20 and rec["HostConfig"]["ReadonlyRootfs"]
    assert run_module("container", args)["changed"] is False

    other = dict(args, published_ports=["8081:80"], links=["db"])
    check = run_module("container", other, check=True, diff=True)
    assert check["changed"] is True
    assert check["diff"]["before"]["published_ports"] == [
        "127.0.0.1:9000:90/udp",
        ":8080:80/tcp",
    ]
    assert check["diff"]["after"]["published_ports"] == [":8081:80/tcp"]
    assert check["diff"]["before"]["links"] == [] and check["diff"]["after"]["links"] == ["db:db"]
    assert container(ctr, "svc")["Id"] == rec["Id"]


def test_init_hosts_and_dns_options(ctr: Ctr) -> None:
    """Ansible's init, etc_hosts, dns_servers, dns_search_domains: in the container's files and
    HostConfig, compared like the other options."""
    args = {
        "name": "resolver",
        "image": ctr.image,
        "command": SLEEPER,
        "init": True,
        "etc_hosts": {"db": "10.1.2.3"},
        "dns_servers": ["10.0.0.53"],
        "dns_search_domains": ["example.test"],
    }
    assert run_module("container", args)["changed"] is True
    host = container(ctr, "resolver")["HostConfig"]
    assert host["Init"] is True and host["ExtraHosts"] == ["db:10.1.2.3"]
    assert (host["Dns"], host["DnsSearch"]) == (["10.0.0.53"], ["example.test"])
    files = ctr.ok("exec", "resolver", "cat", "/etc/hosts", "/etc/resolv.conf", "/proc/1/comm")
    assert "10.1.2.3\tdb" in files and "nameserver 10.0.0.53" in files
    assert files.endswith("docker-init\n")
    assert run_module("container", args)["changed"] is False
    moved = run_module("container", dict(args, etc_hosts={"db": "10.1.2.4"}), diff=True)
    assert moved["changed"] is True and moved["diff"]["after"]["etc_hosts"] == ["db:10.1.2.4"]
    assert "10.1.2.4\tdb" in ctr.ok("exec", "resolver", "cat", "/etc/hosts")


def test_image_pull_absent_load(ctr: Ctr, registry, tmp_path) -> None:
    multi = f"{registry.host}/multi"
    check = run_module("container_image", {"name": multi, "source": "pull"}, check=True)
    assert check["changed"] is True
    assert ctr.run("image", "inspect", multi).returncode != 0

    pulled = run_module("container_image", {"name": multi, "source": "pull"})
    assert pulled["changed"] is True
    image_id = inspect(ctr, "image", "inspect", f"{multi}:latest")["Id"]
    assert pulled["image"]["Id"] == image_id
    assert run_module("container_image", {"name": multi, "source": "pull"})["changed"] is False
    forced = {"name": f"{multi}:latest", "source": "pull", "force_source": True}
    assert run_module("container_image", forced)["changed"] is False  # same image ID

    absent = {"name": multi, "state": "absent"}
    assert run_module("container_image", absent, check=True)["changed"] is True
    assert inspect(ctr, "image", "inspect", multi)["Id"] == image_id
    assert run_module("container_image", absent)["changed"] is True
    assert ctr.run("image", "inspect", multi).returncode != 0
    assert run_module("container_image", absent)["changed"] is False

    tar = str(tmp_path / "busybox.tar")
    ctr.ok("save", "-o", tar, ctr.image)
    busybox_id = inspect(ctr, "image", "inspect", ctr.image)["Id"]
    ctr.ok("rmi", ctr.image)
    load = {"name": ctr.image, "tag": "latest", "source": "load", "load_path": tar}
    loaded = run_module("container_image", load)
    assert loaded["changed"] is True and loaded["image"]["Id"] == busybox_id
    assert inspect(ctr, "image", "inspect", ctr.image)["Id"] == busybox_id
    assert run_module("container_image", load)["changed"] is False
    wrong = run_module("container_image", dict(load, name="other/name"))
    assert wrong["failed"] is True and "did not contain image other/name:latest" in wrong["msg"]


def test_volume_labels_recreate_absent(ctr: Ctr) -> None:
    args = {"name": "data", "labels": {"app": "web"}}
    assert run_module("container_volume", args, check=True)["changed"] is True
    assert ctr.run("volume", "inspect", "data").returncode != 0
    created = run_module("container_volume", args)
    assert created["changed"] is True and created["volume"]["Labels"] == {"app": "web"}
    assert inspect(ctr, "volume", "inspect", "data")["Labels"] == {"app": "web"}
    assert run_module("container_volume", args)["changed"] is False

    relabel = {"volume_name": "data", "labels": {"app": "db"}}
    assert run_module("container_volume", relabel)["changed"] is False  # recreate: never
    replaced = run_module("container_volume", dict(relabel, recreate="always"), diff=True)
    assert replaced["changed"] is True
    assert replaced["diff"]["after"]["labels"] == {"app": "db"}
    assert inspect(ctr, "volume", "inspect", "data")["Labels"] == {"app": "db"}

    assert run_module("container_volume", {"name": "data", "state": "absent"})["changed"] is True
    assert ctr.run("volume", "inspect", "data").returncode != 0
    assert run_module("container_volume", {"name": "data", "state": "absent"})["changed"] is False


def test_fqcns_resolve() -> None:
    for fqcn, short in [
        ("community.docker.docker_container", "container"),
        ("community.docker.docker_image", "container_image"),
        ("community.docker.docker_volume", "container_volume"),
    ]:
        info = find_module(fqcn)
        assert info.name == short and "tke_path" in info.spec  # the spec reads as a literal


PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: web
      community.docker.docker_container:
        name: playweb
        image: {image}
        command: sleep 300
        restart_policy: unless-stopped
        env:
          MODE: play
"""


def test_play_local_with_fqcn(ctr: Ctr, tmp_path) -> None:
    (tmp_path / "site.yml").write_text(textwrap.dedent(PLAY.format(image=ctr.image)))
    env = dict(ctr.env, PATH=os.environ["PATH"])
    argv = [str(TK), "play", "-i", "localhost,", "-c", "local", "site.yml"]

    def play() -> dict:
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return recap(proc.stdout)["localhost"]

    assert play()["changed"] == 1
    rec = container(ctr, "playweb")
    assert rec["State"]["Running"] and "MODE=play" in rec["Config"]["Env"]
    assert rec["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert names(ctr) == ["playweb"]
    assert play()["changed"] == 0
    assert container(ctr, "playweb")["Id"] == rec["Id"]


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="needs a host without systemd")
def test_container_engine_without_systemd(ctr: Ctr) -> None:
    """A host whose init is not systemd: the engine is found, no unit is written, and asking for
    the boot service is a clear failure (the service itself: test_network_firewalld.py)."""
    plain = run_module("container_engine", {})
    assert plain["changed"] is False and not plain.get("failed"), plain
    assert plain["tke"] == str(Path(BIN) / "tke")
    assert plain["msg"] == "systemd is not the init system of this host: no unit written"
    for args in ({"state": "started"}, {"enabled": False}):
        failed = run_module("container_engine", args)
        assert failed["failed"] and failed["msg"].startswith("systemd is not the init system")
