"""`tke run`'s start-up path: the shim launched before the engine is imported (used, or
abandoned when the command fails early), fd hygiene of that launch, and docker's `-h` for
--hostname on run and create (`--help` stays help)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.engine.ctrhelpers import PYTHON, ctr_fixture, ctr_runc_fixture, shim_pids  # noqa: F401

pytestmark = [pytest.mark.engine]


def no_shims_left(root: str) -> bool:
    for _ in range(50):
        if not shim_pids(root):
            return True
        time.sleep(0.1)
    return False


def test_run_and_create_take_h_as_hostname(ctr_runc):
    ctr = ctr_runc
    r = ctr.run("run", "--rm", "-h", "myhost", ctr.image, "hostname")
    assert (r.returncode, r.stdout) == (0, "myhost\n"), r.stderr
    assert ctr.ok("run", "--rm", "--hostname", "other", ctr.image, "hostname") == "other\n"
    cid = ctr.ok("create", "-h", "made", ctr.image, "cat", "/etc/hostname").strip()
    assert ctr.ok("start", "-a", cid) == "made\n"
    ctr.ok("rm", cid)


def test_run_help_is_still_help_and_leaves_no_shim(ctr_runc):
    ctr = ctr_runc
    for verb in ("run", "create"):
        r = ctr.run(verb, "--help")
        assert r.returncode == 0
        assert r.stdout.startswith(f"usage: tke {verb}")
        assert "-h HOSTNAME, --hostname HOSTNAME" in r.stdout
        r = ctr.run(verb, "-h")  # docker: a flag without its value is status 125
        assert r.returncode == 125 and "-h/--hostname: expected one argument" in r.stderr
    assert no_shims_left(ctr.root)


def test_early_shim_is_abandoned_when_run_fails(ctr_runc):
    ctr = ctr_runc
    r = ctr.run("run", "--rm", "--no-such-flag", ctr.image, "true")
    assert r.returncode == 125 and "unknown flag: --no-such-flag" in r.stderr
    r = ctr.run("run", "--rm", "--memory", "lots", ctr.image, "true")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    r = ctr.run("run", "--rm", ctr.image, "/no/such/program")
    assert r.returncode == 127
    assert no_shims_left(ctr.root)
    assert ctr.ids() == []


def test_run_with_root_flag_forms(ctr_runc, tmp_path):
    ctr = ctr_runc
    env = dict(ctr.env, TKE_ROOT=str(tmp_path / "elsewhere"))
    for flags in (["--root", ctr.root], [f"--root={ctr.root}"]):
        proc = subprocess.run(
            [PYTHON, "-m", "toolkit.engine.cli", *flags, "run", "--rm", ctr.image, "echo", "ok"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (proc.returncode, proc.stdout) == (0, "ok\n"), proc.stderr
    assert not os.path.exists(tmp_path / "elsewhere" / "containers")
    assert no_shims_left(ctr.root)


def test_shim_does_not_keep_the_callers_inherited_fds(ctr_runc):
    """A caller that hands tke an inheritable pipe and reads it to EOF must not wait for the
    container's whole life (the shim is launched before anything else in `tke run`)."""
    ctr = ctr_runc
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [PYTHON, "-m", "toolkit.engine.cli", "run", "-d", ctr.image, "sleep", "300"],
            env=ctr.env,
            capture_output=True,
            text=True,
            timeout=60,
            pass_fds=(write_end,),
        )
        assert proc.returncode == 0, proc.stderr
        os.close(write_end)
        write_end = -1
        os.set_blocking(read_end, False)
        deadline = time.monotonic() + 5
        while True:
            try:
                assert os.read(read_end, 1) == b""  # EOF: nobody else holds the write end
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "a shim still holds the caller's pipe"
                time.sleep(0.05)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    ctr.ok("rm", "-f", proc.stdout.strip())


def cgroup2_mount():
    """(mount point, per-mount options, super options) of the host's cgroup2 mount, or None."""
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if tail and tail[0] == "cgroup2":
                return fields[4], fields[5], tail[2]
    return None


def remount_cgroup2(point: str, mount_opts: str, super_opts: list) -> None:
    opts = ",".join(["remount", mount_opts] + [o for o in super_opts if o not in ("rw", "ro")])
    subprocess.run(["mount", "-o", opts, "-t", "cgroup2", "cgroup2", point], check=True)


def test_start_sets_favordynmods_on_cgroup2_only_when_asked(ctr_runc):
    ctr = ctr_runc
    found = cgroup2_mount()
    if found is None:
        pytest.skip("no cgroup2 mount on this host")
    point, mount_opts, super_opts = found
    original = super_opts.split(",")
    plain = [o for o in original if o != "favordynmods"]
    try:
        remount_cgroup2(point, mount_opts, plain + ["favordynmods"])
    except subprocess.CalledProcessError:
        pytest.skip("this kernel has no favordynmods")
    try:
        remount_cgroup2(point, mount_opts, plain)
        assert ctr.ok("run", "--rm", ctr.image, "echo", "a") == "a\n"  # default: hands off
        assert "favordynmods" not in cgroup2_mount()[2].split(",")
        with open(os.path.join(ctr.root, "config.json"), "w") as fh:
            fh.write('{"cgroup-favordynmods": true}')
        assert ctr.ok("run", "--rm", ctr.image, "echo", "b") == "b\n"
        after = cgroup2_mount()
        assert "favordynmods" in after[2].split(",")
        assert after[1] == mount_opts  # nosuid, nodev, ... kept
    finally:
        remount_cgroup2(point, mount_opts, original)


def test_run_with_stdin_and_stderr_closed(ctr_runc):
    """A tke started with fds 0 and 2 closed (a daemon's child): the shim's pipes must not land
    on them (they would be clobbered when the shim's stdio is set up)."""
    ctr = ctr_runc
    script = 'exec 0<&- 2>&-; exec "$@"'
    argv = [PYTHON, "-m", "toolkit.engine.cli", "run", "--rm", ctr.image, "echo", "closed"]
    proc = subprocess.run(
        ["sh", "-c", script, "sh", *argv], env=ctr.env, capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout) == (0, "closed\n")
    assert no_shims_left(ctr.root)


def test_container_gone_before_the_runtime_returns_has_its_times_and_code(ctr_runc):
    """A container that exits before `crun run --detach` returns (`true`) goes from created to
    exited in one state write: inspect still shows when it started and how it ended."""
    ctr = ctr_runc
    cid = ctr.ok("run", "-d", ctr.image, "sh", "-c", "exit 3").strip()
    assert ctr.ok("wait", cid) == "3\n"
    state = json.loads(ctr.ok("inspect", cid))[0]["State"]
    assert (state["Status"], state["Running"], state["ExitCode"], state["Pid"]) == (
        "exited",
        False,
        3,
        0,
    )
    assert state["StartedAt"] and state["FinishedAt"] >= state["StartedAt"] > "2000"
    # and the foreground path with the collector off during the start still streams and exits
    r = ctr.run("run", "--rm", ctr.image, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    ctr.ok("rm", cid)
    assert no_shims_left(ctr.root)


def proc_state(pid: int) -> str:
    """The process's state letter from /proc/PID/stat ("" once it is reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_shim_is_its_starters_child_in_its_own_session_and_is_reaped(ctr, monkeypatch):
    """No second fork on the way to the container: the shim is the starting process's child,
    in a session of its own (a terminal's signals do not reach it). A caller that lives on
    (the Python API, in this process) collects an exited shim at its next start: no zombie."""
    from toolkit.engine import lifecycle
    from toolkit.engine.containers import Containers
    from toolkit.engine.store import Store

    monkeypatch.setenv("TKE_RUNTIME", ctr.runtime)
    ctrs = Containers(Store(ctr.root))
    first = lifecycle.create(ctrs, ctr.image, {"Cmd": ["sleep", "30"]}, {})["Id"]
    lifecycle.start(ctrs, first)
    shim = ctrs.raw_state(first)["ShimPid"]
    with open(f"/proc/{shim}/stat") as fh:
        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
    assert (ppid, os.getsid(shim)) == (os.getpid(), shim)
    assert os.getsid(shim) != os.getsid(0)
    lifecycle.stop(ctrs, first, timeout=1)
    for _ in range(100):  # its cmdline empties as it exits, a moment before it is a zombie
        if proc_state(shim) == "Z":
            break
        time.sleep(0.05)
    assert proc_state(shim) == "Z"  # exited, ours to collect
    second = lifecycle.create(ctrs, ctr.image, {"Cmd": ["true"]}, {})["Id"]
    lifecycle.start(ctrs, second)
    assert proc_state(shim) == ""
    assert ctrs.state(first)["Status"] == "exited"


def test_run_output_printed_at_once_is_not_lost(ctr):
    """The foreground client is the shim's first attach client before the container starts
    (a connected socket pair, not a connect after the start): nothing is missed."""
    script = "echo out; echo err >&2; exit 7"
    for _ in range(5):
        r = ctr.run("run", "--rm", ctr.image, "sh", "-c", script)
        assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")
    assert no_shims_left(ctr.root)


def exec_in_child(argv: list, sealed: bool) -> str:
    """What argv prints when the shim starts it as it starts the runtime (spawn)."""
    from toolkit.engine import shim

    read_end, write_end = os.pipe()
    pid = shim.spawn(argv, 0, write_end, write_end, sealed=sealed)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        out = fh.read()
    assert shim.wait_pid(pid) == 0, out
    return out


SHOW_EXE = (
    "import fcntl, os; fd = os.open('/proc/self/exe', os.O_RDONLY); "
    "print(fcntl.fcntl(fd, fcntl.F_GET_SEALS), os.readlink('/proc/self/exe'))"
)


def test_runtime_is_executed_from_a_fully_sealed_copy():
    """crun re-executes itself from a sealed copy (CVE-2019-5736) unless /proc/self/exe is a
    memfd with exactly these four seals: the shim hands it one, so the container still cannot
    write the binary it was started by, and crun skips its own copy and second exec."""
    python = os.path.realpath(PYTHON)
    seals, exe = exec_in_child([python, "-I", "-S", "-c", SHOW_EXE], sealed=True).split(" ", 1)
    assert int(seals) == 0xF  # F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
    assert exe.startswith("/memfd:"), exe


def test_sealed_exec_falls_back_to_the_file_for_a_script(tmp_path):
    """A runtime that is a script cannot run from a memfd (its interpreter opens it by name):
    it is executed from its file as before."""
    script = tmp_path / "runtime"
    script.write_text('#!/bin/sh\necho "ran $0 $1"\n')
    script.chmod(0o755)
    assert exec_in_child([str(script), "x"], sealed=True) == f"ran {script} x\n"


def test_the_shim_is_told_to_use_the_sealed_copy_for_crun_only(ctr):
    """crun (490 KB) runs from the shim's sealed copy; runc copies its 9 MB itself faster."""
    from toolkit.engine import lifecycle, runtime
    from toolkit.engine.containers import Containers
    from toolkit.engine.store import Store

    cid = ctr.ok("create", ctr.image, "true").strip()
    ctrs = Containers(Store(ctr.root))
    rec = ctrs.record(cid)
    rt = runtime.from_record(ctrs.run_dir, rec["HostConfig"]["Runtime"])
    assert lifecycle.shim_config(ctrs, rec, rt, None)["sealed_exec"] is (ctr.runtime == "crun")
