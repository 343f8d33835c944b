"""PID 1 of the throw-away VM (vm.py): set up one cgroup layout, run tke on it, print the
findings as one `TKVM-RESULT {json}` line on the console, power off.

Kernel command line: tkvm.mode=v1|v2 (the layout to mount), tkvm.image=PATH (an OCI archive
of busybox on the host's read-only root). Every check's outcome goes into the JSON, so the
host-side test asserts on what happened here; an exception prints its traceback instead.
"""

import json
import os
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = "/bin/busybox"
ROOT = "/var/tmp/tke"
V1_CONTROLLERS = ["cpu,cpuacct", "memory", "pids", "freezer", "devices", "blkio", "cpuset"]


def sh(*argv: str) -> None:
    subprocess.run([BUSYBOX, *argv], check=True)


def mount(fstype: str, target: str, options: str = "") -> None:
    os.makedirs(target, exist_ok=True)
    sh("mount", "-t", fstype, *(["-o", options] if options else []), fstype, target)


def base_mounts() -> None:
    mount("proc", "/proc")
    mount("sysfs", "/sys")
    mount("devtmpfs", "/dev")
    mount("devpts", "/dev/pts", "newinstance,ptmxmode=0666")
    mount("tmpfs", "/dev/shm")
    mount("tmpfs", "/run")
    mount("tmpfs", "/var/tmp")


def cgroup_layout(mode: str) -> None:
    if mode == "v2":
        mount("cgroup2", "/sys/fs/cgroup")
        with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as fh:
            fh.write("+cpu +memory +pids")
        return
    mount("tmpfs", "/sys/fs/cgroup", "mode=755")
    for ctrl in V1_CONTROLLERS:
        mount("cgroup", os.path.join("/sys/fs/cgroup", ctrl), ctrl)
    for name in ("cpu", "cpuacct"):  # as systemd links them
        os.symlink("cpu,cpuacct", os.path.join("/sys/fs/cgroup", name))


def tke(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": REPO,
        "TKE_ROOT": ROOT,
        "TKE_BRIDGE": "none",
        "HOME": "/root",
        "TMPDIR": "/run",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "toolkit.engine.cli", *argv],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise RuntimeError(f"tke {' '.join(argv)} -> {proc.returncode}: {proc.stderr}")
    return proc


def read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError as exc:
        return f"<{exc.strerror}>"


def cgroup_files(mode: str, cid: str) -> dict:
    rel = f"tke/{cid}"
    if mode == "v2":
        base = f"/sys/fs/cgroup/{rel}"
        return {k: read(f"{base}/{k}") for k in ("memory.max", "cpu.max", "pids.max", "cpu.weight")}
    return {
        "memory.limit_in_bytes": read(f"/sys/fs/cgroup/memory/{rel}/memory.limit_in_bytes"),
        "cpu.cfs_quota_us": read(f"/sys/fs/cgroup/cpu,cpuacct/{rel}/cpu.cfs_quota_us"),
        "cpu.cfs_period_us": read(f"/sys/fs/cgroup/cpu,cpuacct/{rel}/cpu.cfs_period_us"),
        "cpu.shares": read(f"/sys/fs/cgroup/cpu,cpuacct/{rel}/cpu.shares"),
        "pids.max": read(f"/sys/fs/cgroup/pids/{rel}/pids.max"),
    }


def check_runtime(mode: str, runtime: str) -> dict:
    out = {}
    flags = ["--runtime", runtime, "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20",
             "--cpu-shares", "512"]  # fmt: skip
    cid = tke("run", "-d", *flags, "busybox", "sleep", "60").stdout.strip()
    out["limits"] = cgroup_files(mode, cid)
    out["stats"] = tke("stats", "--no-stream", "--format", "{{.MemUsage}}", cid).stdout.strip()
    tke("pause", cid)
    out["paused"] = tke("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()
    tke("unpause", cid)
    out["unpaused"] = tke("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()
    tke("rm", "-f", cid)
    time.sleep(0.2)
    out["cgroup_left"] = os.path.exists(f"/sys/fs/cgroup/tke/{cid}") or any(
        os.path.exists(f"/sys/fs/cgroup/{c}/tke/{cid}") for c in V1_CONTROLLERS
    )
    # the pids limit holds inside: of 30 background sleeps only some start (a fork fails and
    # ends the subshell that starts them; the shell then counts its cgroup's processes)
    bomb = (
        "(for i in $(seq 30); do sleep 2 & done) 2>/dev/null; "
        "f=/sys/fs/cgroup/pids.current; [ -e $f ] || f=/sys/fs/cgroup/pids/pids.current; "
        "read n < $f; echo $n"
    )
    proc = tke("run", "--rm", "--runtime", runtime, "--pids-limit", "20", "busybox", "sh", "-c",
               bomb, check=False)  # fmt: skip
    out["pids_bomb"] = {"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr[-300:]}
    # and the memory limit: a shell that holds 40 MB under 16 MB is killed (137)
    hog = "x=$(head -c 41943040 /dev/zero | tr '\\0' a); echo ${#x}"
    proc = tke("run", "--rm", "--runtime", runtime, "--memory", "16m", "busybox", "sh", "-c",
               hog, check=False)  # fmt: skip
    out["memory_hog"] = {"rc": proc.returncode, "out": proc.stdout}
    return out


def main() -> dict:
    cmdline = read("/proc/cmdline")
    args = dict(a.split("=", 1) for a in cmdline.split() if a.startswith("tkvm."))
    if "tkvm.mode" not in args:
        raise SystemExit(f"no tkvm.mode= on the kernel command line: {cmdline}")
    mode = args["tkvm.mode"]
    cgroup_layout(mode)
    result = {"mode": mode}
    info = json.loads(tke("info", "-f", "{{json .}}").stdout)
    result["info"] = {k: info[k] for k in ("CgroupLayout", "DefaultRuntime", "RuntimeWrapped")}
    result["info"]["RuntimeReason"] = info["RuntimeReason"]
    tke("load", "-i", args["tkvm.image"])
    image_id = tke("images", "-q").stdout.split()[0]
    tke("tag", image_id, "busybox:latest")
    for runtime in ("crun", "runc"):
        if os.path.exists(f"/usr/bin/{runtime}"):
            result[runtime] = check_runtime(mode, runtime)
    return result


if __name__ == "__main__":
    try:
        base_mounts()
        line = "TKVM-RESULT " + json.dumps(main())
    except BaseException:
        line = "TKVM-ERROR " + json.dumps(traceback.format_exc())
    with open("/dev/console", "w") as console:
        console.write("\n" + line + "\n")
    os.sync()
    subprocess.run([BUSYBOX, "poweroff", "-f"])
