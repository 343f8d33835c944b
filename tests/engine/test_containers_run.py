"""tke run/create/start/stop/kill/rm/ps/logs/exec/inspect end to end, on crun and runc, with
real overlayfs and busybox pulled from the real registry fixture."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time

import pytest

from tests.engine.ctrhelpers import PYTHON, ctr_fixture, ctr_runc_fixture  # noqa: F401 - fixtures

pytestmark = [pytest.mark.engine]

DOCKER_CAPS = 0xA80425FB  # docker's default capability set, as /proc/self/status shows it


def wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    return fn()


def test_run_output_exit_code_and_rm(ctr):
    r = ctr.run("run", "--rm", ctr.image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert ctr.ids() == []
    assert os.listdir(os.path.join(ctr.root, "containers")) == ["lock"]


def test_run_stdin_env_workdir_user_hostname(ctr):
    r = ctr.run("run", "-i", "--rm", ctr.image, "cat", input="piped in\n")
    assert r.stdout == "piped in\n"
    script = "echo $FOO $BAR; pwd; id -u; id -g; hostname; cat /etc/hostname"
    env_file = os.path.join(ctr.root, "env.list")
    with open(env_file, "w") as fh:
        fh.write("# comment\nBAR=from-file\n")
    r = ctr.run(
        "run", "--rm", "-e", "FOO=foo", "--env-file", env_file, "-w", "/tmp", "-u", "1000:1000",
        "--hostname", "box1", ctr.image, "sh", "-c", script,
    )  # fmt: skip
    assert r.stdout.split("\n")[:6] == ["foo from-file", "/tmp", "1000", "1000", "box1", "box1"]


def test_detached_lifecycle_ps_logs_exec_inspect_stop(ctr):
    cid = ctr.ok(
        "run", "-d", "--name", "web", "-l", "tier=front", ctr.image,
        "sh", "-c", "trap 'echo bye; exit 0' TERM; echo started; while :; do sleep 0.1; done",
    ).strip()  # fmt: skip
    assert len(cid) == 64
    assert wait_for(lambda: "started" in ctr.ok("logs", "web"))
    ps = ctr.ok("ps").splitlines()
    assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                             "NAMES"]  # fmt: skip
    assert cid[:12] in ps[1] and " Up " in ps[1] and ps[1].endswith("web")
    assert ctr.ok("ps", "-q") == cid[:12] + "\n"
    assert ctr.ok("ps", "-q", "--filter", "label=tier=front") == cid[:12] + "\n"
    assert ctr.ok("ps", "-q", "--filter", "label=tier=back") == ""
    assert ctr.ok("ps", "--format", "{{.Names}} {{.State}}") == "web running\n"
    r = ctr.run("exec", "-e", "X=1", "web", "sh", "-c", "echo $X $HOSTNAME; exit 4")
    assert (r.returncode, r.stdout) == (4, f"1 {cid[:12]}\n")
    info = json.loads(ctr.ok("inspect", "web"))[0]
    assert info["Id"] == cid and info["Name"] == "/web"
    assert info["State"]["Status"] == "running" and info["State"]["Running"] is True
    assert info["Config"]["Labels"] == {"tier": "front"}
    assert info["HostConfig"]["Runtime"] == ctr.runtime
    assert ctr.ok("inspect", "-f", "{{.State.Pid}}", "web").strip() == str(info["State"]["Pid"])
    assert ctr.ok("inspect", "-f", "{{json .Config.Labels}}", "web") == '{"tier":"front"}\n'
    assert ctr.ok("inspect", "-f", '{{index .Config.Labels "tier"}}', "web") == "front\n"
    assert ctr.ok("inspect", "-f", "{{range .Args}}[{{.}}]{{end}}", "web").startswith("[-c][trap")
    assert ctr.ok("inspect", "-f", "{{ .NetworkSettings.IPAddress }}", "web") == "\n"
    # docker's idioms: a missing label, variables, sub-pipelines, comparisons
    assert ctr.ok("inspect", "-f", '[{{index .Config.Labels "nope"}}]', "web") == "[]\n"
    template = "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}} {{$.Name}}"
    assert ctr.ok("inspect", "-f", template, "web") == "tier=front /web\n"
    template = '{{if eq .State.Status "running"}}{{(index .Args 0)}}{{end}}'
    assert ctr.ok("inspect", "-f", template, "web") == "-c\n"
    r = ctr.run("inspect", "-f", "{{(index .Args 9).X}}", "web")
    assert r.returncode != 0 and "error calling index: index out of range: 9" in r.stderr
    assert ctr.ok("stop", "web") == "web\n"
    state = json.loads(ctr.ok("inspect", "web"))[0]["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 0, False)
    assert ctr.ok("logs", "web") == "started\nbye\n"
    assert "Exited (0)" in ctr.ok("ps", "-a")
    assert ctr.ok("ps", "-q") == ""
    assert ctr.ok("wait", "web") == "0\n"
    ctr.ok("start", "web")
    assert wait_for(lambda: ctr.ok("logs", "web").count("started") == 2)
    assert ctr.ok("rm", "-f", "web") == "web\n"
    assert ctr.ids() == []


def test_stop_timeout_kills_and_kill_signal(ctr):
    ctr.ok("run", "-d", "--name", "stubborn", ctr.image, "sh", "-c", "trap '' TERM; sleep 100")
    t0 = time.monotonic()
    ctr.ok("stop", "-t", "1", "stubborn")
    assert 0.9 < time.monotonic() - t0 < 6
    assert ctr.ok("inspect", "-f", "{{.State.ExitCode}}", "stubborn") == "137\n"
    ctr.ok("run", "-d", "--name", "usr1", ctr.image, "sh", "-c",
           "trap 'exit 7' USR1; sleep 100 & wait")  # fmt: skip
    time.sleep(0.3)
    r = ctr.run("kill", "-s", "NOPE", "usr1")  # crun alone would take it as signal 0
    assert r.returncode == 1 and "Invalid signal: NOPE" in r.stderr
    ctr.ok("kill", "-s", "USR1", "usr1")
    assert ctr.ok("wait", "usr1", timeout=20) == "7\n"
    ctr.ok("kill", "stubborn") if "Up" in ctr.ok("ps") else None
    r = ctr.run("kill", "usr1")
    assert r.returncode == 1 and "is not running" in r.stderr


def test_stop_signal_and_stop_timeout_of_the_container(ctr):
    """docker's --stop-signal and --stop-timeout: what `stop` and `restart` use when not told."""
    ctr.ok("run", "-d", "--name", "polite", "--stop-signal", "SIGUSR1", "--stop-timeout", "1",
           ctr.image, "sh", "-c", "trap 'exit 5' USR1; sleep 100 & wait")  # fmt: skip
    template = "{{.Config.StopSignal}} {{.Config.StopTimeout}}"
    assert ctr.ok("inspect", "-f", template, "polite") == "SIGUSR1 1\n"
    time.sleep(0.3)
    ctr.ok("stop", "polite")
    assert ctr.ok("inspect", "-f", "{{.State.ExitCode}}", "polite") == "5\n"
    ctr.ok("run", "-d", "--name", "deaf", "--stop-timeout", "1", ctr.image, "sh", "-c",
           "trap '' TERM; sleep 100")  # fmt: skip
    t0 = time.monotonic()
    ctr.ok("stop", "deaf")  # 1 s, not docker's default 10, then SIGKILL
    assert 0.9 < time.monotonic() - t0 < 6
    assert ctr.ok("inspect", "-f", "{{.State.ExitCode}}", "deaf") == "137\n"
    r = ctr.run("run", "--rm", "--stop-signal", "NOPE", ctr.image, "true")
    assert r.returncode == 125 and "Invalid signal: NOPE" in r.stderr
    assert sorted(ctr.ok("ps", "-a", "--format", "{{.Names}}").split()) == ["deaf", "polite"]


def test_logs_tail_timestamps_follow(ctr):
    ctr.ok("run", "-d", "--name", "talker", ctr.image, "sh", "-c",
           "for i in 1 2 3 4 5; do echo line$i; done; "
           "while [ ! -f /go ]; do sleep 0.1; done; echo late")  # fmt: skip
    assert wait_for(lambda: "line5" in ctr.ok("logs", "talker"))
    assert ctr.ok("logs", "--tail", "2", "talker") == "line4\nline5\n"
    assert ctr.ok("logs", "-n", "1", "talker") == "line5\n"  # docker's short spelling
    stamped = ctr.ok("logs", "-t", "--tail", "1", "talker")
    assert stamped.endswith(" line5\n") and stamped[:4].isdigit() and "T" in stamped[:20]
    follower = subprocess.Popen(
        [PYTHON, "-m", "toolkit.engine.cli", "logs", "-f", "talker"],
        env=ctr.env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    ctr.ok("exec", "talker", "touch", "/go")
    out, _ = follower.communicate(timeout=20)
    assert out.endswith("line5\nlate\n")
    assert ctr.ok("logs", "--since", "1h", "--tail", "1", "talker") == "late\n"


def test_isolation_processes_mounts_sys_and_capabilities(ctr):
    r = ctr.run("run", "--rm", ctr.image, "sh", "-c",
                "ps -o pid | wc -l; grep -c . /proc/mounts; echo x > /sys/kernel/x; "
                "grep CapEff /proc/self/status; cat /proc/mounts")  # fmt: skip
    lines = r.stdout.splitlines()
    assert int(lines[0]) <= 4  # header + sh + ps + wc: no host processes
    assert "Read-only file system" in r.stderr or "Permission denied" in r.stderr
    assert int(lines[2].split()[1], 16) == DOCKER_CAPS
    points = [line.split()[1] for line in lines[3:]]
    allowed = ("/proc", "/dev", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
    assert points[0] == "/" and points.count("/") == 1
    assert all(p == "/" or p.startswith(allowed) for p in points), points
    r = ctr.run("run", "--rm", "--cap-drop", "CHOWN", "--cap-add", "NET_ADMIN", ctr.image,
                "grep", "CapEff", "/proc/self/status")  # fmt: skip
    caps = int(r.stdout.split()[1], 16)
    assert caps == (DOCKER_CAPS & ~(1 << 0)) | (1 << 12)
    r = ctr.run("run", "--rm", "--read-only", ctr.image, "touch", "/newfile")
    assert r.returncode == 1 and "Read-only" in r.stderr


def test_cgroup_limits(ctr):
    cid = ctr.ok("run", "-d", "--memory", "64m", "--pids-limit", "30", "--cpus", "0.5",
                 "--cpu-shares", "512", ctr.image, "sleep", "100").strip()  # fmt: skip
    from toolkit.engine import cgroups

    layout = cgroups.mode()
    if layout == "v2":
        base = f"/sys/fs/cgroup/tke/{cid}"
        assert open(f"{base}/memory.max").read().strip() == str(64 << 20)
        assert open(f"{base}/pids.max").read().strip() == "30"
        assert open(f"{base}/cpu.max").read().split()[0] == "50000"
    else:
        assert open(f"/sys/fs/cgroup/memory/tke/{cid}/memory.limit_in_bytes").read().strip() == str(
            64 << 20
        )
        assert open(f"/sys/fs/cgroup/pids/tke/{cid}/pids.max").read().strip() == "30"
        assert open(f"/sys/fs/cgroup/cpu/tke/{cid}/cpu.cfs_quota_us").read().strip() == "50000"
        assert open(f"/sys/fs/cgroup/cpu/tke/{cid}/cpu.shares").read().strip() == "512"
    out = ctr.ok("stats", "--no-stream", cid[:12])
    assert "64MiB" in out.splitlines()[1]


def test_restart_policy_on_failure_and_always(ctr):
    ctr.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", ctr.image,
           "sh", "-c", "echo run; exit 5")  # fmt: skip
    assert wait_for(lambda: ctr.ok("inspect", "-f", "{{.State.Status}} {{.RestartCount}}",
                                   "flaky") == "exited 2\n", timeout=15)  # fmt: skip
    assert ctr.ok("logs", "flaky") == "run\nrun\nrun\n"
    ctr.ok("run", "-d", "--name", "always", "--restart", "always", ctr.image, "sh", "-c",
           "sleep 0.2")  # fmt: skip
    assert wait_for(lambda: int(ctr.ok("inspect", "-f", "{{.RestartCount}}", "always")) >= 2)
    cid = ctr.ok("inspect", "-f", "{{.Id}}", "always").strip()
    merged = os.path.join(ctr.root, "containers", cid, "merged")
    with open("/proc/self/mountinfo") as fh:  # its rootfs mounted once, not once per restart
        assert [line.split()[4] for line in fh].count(merged) == 1
    ctr.ok("stop", "always")
    assert ctr.ok("inspect", "-f", "{{.State.Status}}", "always") == "exited\n"
    time.sleep(0.5)
    assert ctr.ok("inspect", "-f", "{{.State.Status}}", "always") == "exited\n"


def test_pause_unpause_restart_rename(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "-d", "--name", "p1", ctr.image, "sleep", "100")
    ctr.ok("pause", "p1")
    assert "(Paused)" in ctr.ok("ps")
    assert ctr.ok("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p1") == "paused true\n"
    ctr.ok("unpause", "p1")
    pid = ctr.ok("inspect", "-f", "{{.State.Pid}}", "p1")
    ctr.ok("restart", "-t", "0", "p1")
    assert ctr.ok("inspect", "-f", "{{.State.Pid}}", "p1") != pid
    ctr.ok("rename", "p1", "p2")
    assert ctr.ok("ps", "--format", "{{.Names}}") == "p2\n"
    top = ctr.ok("top", "p2")
    assert "sleep 100" in top and "PID" in top.splitlines()[0]


def test_rm_all_by_substitution_and_running_refusal(ctr_runc):
    ctr = ctr_runc
    for i in range(3):
        ctr.ok("create", "--name", f"c{i}", ctr.image, "true")
    ctr.ok("run", "-d", "--name", "up", ctr.image, "sleep", "100")
    r = ctr.run("rm", "up")
    assert r.returncode == 1 and "You cannot remove a running container" in r.stderr
    ids = ctr.ok("ps", "-a", "-q").split()
    assert len(ids) == 4
    assert ctr.ok("ps", "-l", "-q").split() == ids[:1]  # newest first, as docker
    assert ctr.ok("ps", "-n", "2", "-q").split() == ids[:2]
    assert ctr.ok("ps", "-a", "-q", "--filter", "status=created").split() == ids[1:]
    for tab in ("\t", "\\t"):  # a tab, or backslash-t as a shell passes "\t": docker reads both
        table = ctr.ok("ps", "-a", "--format", "table {{.Names}}" + tab + "{{.State}}")
        assert table.splitlines()[:2] == ["NAMES   STATE", "up      running"]
    rows = [json.loads(line) for line in ctr.ok("ps", "--format", "json").splitlines()]
    assert [(r["Names"], r["State"]) for r in rows] == [("up", "running")]
    stats = ctr.ok("stats", "--no-stream", "--format", "table {{.Name}}\\t{{.PIDs}}", "up")
    assert stats.splitlines() == ["NAME   PIDS", "up     1"]
    r = ctr.run("rm", "-f", *ids)
    assert r.returncode == 0 and ctr.ids() == []


def test_pull_policy_always_missing_never(ctr_runc):
    ctr = ctr_runc
    other = ctr.image.replace("busybox", "multi")  # in the registry, not in the store yet
    r = ctr.run("run", "--rm", "--pull", "never", other, "true")
    assert r.returncode == 125 and "No such image: " in r.stderr
    assert "Unable to find image" not in r.stderr and other not in ctr.ok("images")
    r = ctr.run("run", "--rm", "--pull", "always", ctr.image, "echo", "fresh")
    assert r.returncode == 0 and r.stdout == "fresh\n"
    assert "Unable to find image" not in r.stderr and "Image is up to date" in r.stderr
    r = ctr.run("create", "--pull", "missing", "--name", "m", other, "true")
    assert r.returncode == 0 and "Unable to find image" in r.stderr
    assert "Downloaded newer image" in r.stderr
    assert ctr.ok("run", "--rm", "--pull", "never", ctr.image, "echo", "ok") == "ok\n"
    r = ctr.run("run", "--pull", "sometimes", ctr.image, "true")
    assert r.returncode == 125 and "invalid pull option: 'sometimes'" in r.stderr


def test_ulimit_shm_size_tmpfs_host_hostname_and_it_without_a_terminal(ctr_runc):
    ctr = ctr_runc
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    script = "ulimit -n; ulimit -Hn; ulimit -u; df -k /dev/shm /run | tail -2"
    flags = ["--ulimit", "nofile=100:200", "--ulimit", "nproc=50", "--shm-size", "1m",
             "--tmpfs", "/run:size=2m"]  # fmt: skip
    out = ctr.ok("run", "--rm", *flags, ctr.image, "sh", "-c", script)
    lines = out.splitlines()
    assert lines[:3] == ["100", "200", "50"]
    assert lines[3].split()[1] == "1024" and lines[4].split()[1] == "2048"  # KiB of shm, /run
    # above the host's hard limit the runtime's setrlimit would fail: clamped, as the default
    out = ctr.ok("run", "--rm", "--ulimit", f"nofile={hard * 4}", ctr.image, "sh", "-c",
                 "ulimit -Hn")  # fmt: skip
    assert out == f"{hard}\n"
    for bad in ("bogus=1", "nofile=x", "nofile=10:5"):
        r = ctr.run("run", "--rm", "--ulimit", bad, ctr.image, "true")
        assert r.returncode == 125 and '"--ulimit" flag' in r.stderr, (bad, r.stderr)
    # a read-only rootfs with a writable tmpfs, docker's noexec by default
    r = ctr.run("run", "--rm", "--read-only", "--tmpfs", "/tmp", ctr.image, "sh", "-c",
                "touch /tmp/ok && cp /bin/busybox /tmp/b && /tmp/b true")  # fmt: skip
    assert r.returncode == 126 and "Permission denied" in r.stderr
    assert ctr.ok("run", "--rm", "--network", "host", ctr.image, "hostname") == (
        os.uname().nodename + "\n"
    )
    r = ctr.run("run", "-it", "--rm", ctr.image, "true")  # stdin is /dev/null, not a terminal
    assert r.returncode == 1 and "the input device is not a TTY" in r.stderr
    assert ctr.ids() == []


def test_stats_streams_until_interrupted_or_the_container_is_gone(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "-d", "--name", "busy", ctr.image, "sleep", "100")
    argv = [PYTHON, "-m", "toolkit.engine.cli", "stats", "--format", "{{.Name}} {{.PIDs}}", "busy"]
    proc = subprocess.Popen(argv, env=ctr.env, stdout=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # a sample a second, not one
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and lines == ["busy 1\n", "busy 1\n"]
    proc = subprocess.Popen(argv, env=ctr.env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "busy 1\n"
    ctr.ok("rm", "-f", "busy")
    proc.communicate(timeout=10)  # ends by itself once the container is gone
    assert proc.returncode == 0


def test_add_host_and_dns_flags_write_the_containers_etc_files(ctr_runc):
    ctr = ctr_runc
    out = ctr.ok(
        "run", "--rm", "--add-host", "db:10.1.2.3", "--add-host=v6=::1", "--dns", "10.0.0.53",
        "--dns-search", "example.test", "--dns-option", "ndots:2", ctr.image,
        "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf",
    )  # fmt: skip
    hosts, resolv = out.split("---\n")
    assert hosts.splitlines()[-2:] == ["10.1.2.3\tdb", "::1\tv6"]
    assert "nameserver 10.0.0.53" in resolv.splitlines()
    assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == [
        "nameserver 10.0.0.53"
    ]  # the host's nameservers are replaced, as docker's --dns does
    assert "search example.test" in resolv and "options ndots:2" in resolv
    cid = ctr.ok("create", "--add-host", "db:10.1.2.3", "--dns", "10.0.0.53", ctr.image).strip()
    host = json.loads(ctr.ok("inspect", "-f", "{{json .HostConfig}}", cid))
    assert (host["ExtraHosts"], host["Dns"]) == (["db:10.1.2.3"], ["10.0.0.53"])
    for bad in (["--add-host", "db:nope"], ["--add-host", "nocolon"], ["--dns", "x"]):
        r = ctr.run("run", "--rm", *bad, ctr.image, "true")
        assert r.returncode == 125 and ("--add-host" in r.stderr or "--dns" in r.stderr), r.stderr
    r = ctr.run("run", "--rm", "--add-host", "gw:host-gateway", ctr.image, "true")
    assert r.returncode == 125 and "host-gateway needs the bridge network" in r.stderr
    assert ctr.ids() == [cid]


def test_init_reaps_orphans_and_forwards_stop(ctr):
    """`--init`: docker-init is PID 1 and the command its child; an orphan is reaped (without
    it the command, PID 1, leaves a zombie) and SIGTERM reaches the command (without it PID 1
    ignores it and `stop` waits its whole timeout)."""
    script = "(sleep 0.1 &); exec sleep 30"
    zombies, took = {}, {}
    for init in (True, False):
        cid = ctr.ok("run", "-d", *(["--init"] if init else []), ctr.image, "sh", "-c", script)
        cid = cid.strip()
        time.sleep(0.6)
        stats = ctr.ok("exec", cid, "ps", "-o", "stat,comm").splitlines()[1:]
        zombies[init] = sum(line.startswith("Z") for line in stats)
        if init:
            assert ctr.ok("exec", cid, "cat", "/proc/1/comm") == "docker-init\n"
            host = json.loads(ctr.ok("inspect", "-f", "{{json .HostConfig}}", cid))
            assert host["Init"] is True
        start = time.monotonic()
        ctr.ok("stop", "-t", "2", cid)
        took[init] = time.monotonic() - start
        ctr.ok("rm", cid)
    assert zombies == {True: 0, False: 1}
    assert took[True] < 1.5 <= 2 <= took[False] + 0.1
    out = ctr.ok("run", "--rm", "--init", ctr.image, "sh", "-c", "echo $$ $0")
    assert out.split()[0] != "1"  # the command is not PID 1


def test_init_without_a_static_init_binary_fails_as_docker(ctr_runc, tmp_path):
    ctr = ctr_runc
    with open(os.path.join(ctr.root, "config.json"), "w") as fh:
        json.dump({"init-path": "/bin/sh"}, fh)  # dynamic: refused
    r = ctr.run("run", "--rm", "--init", ctr.image, "true")
    assert r.returncode == 125 and 'exec: "docker-init": executable file not found' in r.stderr
    assert ctr.ids() == []
