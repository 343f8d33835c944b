"""Benchmark: tke's container half against podman (same run, same machine, same image).

    python bench/engine_run.py [--repeat 10] [--containers 100] [--commits 5] [--quick]

Measured (medians of --repeat runs after warm-up):
1. `tke run --rm --network none busybox true` (tke's default runtime and each other one; tke
   as a user runs it: the installed `tke` script next to this interpreter, else
   `python -m toolkit.engine.cli`; `--tke-module` forces the latter), vs
   `podman run --rm --network none` with runc and with crun (where it runs), vs the floor:
   overlay mount + `crun run` of a prepared bundle + umount (and the same with runc), the
   bundle's config from `crun spec`, and again with the config.json tke writes for the same
   container (docker's seccomp filter as tke passes it once its cache is warm, a cgroup, the
   /etc binds: what isolation costs the runtime, so that tke / that floor is what tke itself
   adds).
2. `tke ps -a` with 200 containers (100 running + 100 created) vs `podman ps -a`.
3. `tke commit` of a container with a 10 MB change vs `podman commit`.
4. Memory per idle running container: PSS of tke's shim vs podman's conmon, with N running.

Stores are private (`/var/tmp/tkt-bench-*`, removed at the end); podman runs rootful with
cgroupfs and file events so it needs no systemd. Results: bench/results/engine_run.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "engine_run.json"
PYTHON = os.path.realpath(sys.executable)  # the real interpreter, never a pyenv shim
sys.path.insert(0, str(REPO))

FLOOR_SCRIPT = r"""
import os, subprocess, sys, time
runtime, bundle, lower = sys.argv[1], sys.argv[2], sys.argv[3]
i = 0
for _ in sys.stdin:  # one timed start per line: the bench interleaves it with the others
    up, wk = f"{bundle}/upper{i}", f"{bundle}/work{i}"  # also the runtime's scratch
    os.makedirs(up); os.makedirs(wk)
    t = time.perf_counter()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={up},workdir={wk}", f"{bundle}/rootfs"], check=True)
    subprocess.run([runtime, "--root", f"{bundle}/state", "run", "-b", bundle, f"floor{i}"],
                   check=True, stdin=subprocess.DEVNULL)
    subprocess.run(["umount", f"{bundle}/rootfs"], check=True)
    print(time.perf_counter() - t, flush=True)
    i += 1
"""


def median_ms(samples: list) -> float:
    return round(statistics.median(samples) * 1000, 1)


def timed(argv: list, env: dict = None, n: int = 10, warm: int = 2) -> dict:
    return summary(interleave({"x": lambda: run_once(argv, env)}, n, warm)["x"])


def run_once(argv: list, env: dict = None) -> float:
    """Seconds one command takes; RuntimeError with its stderr if it fails."""
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace").strip()[-300:])
    return dt


def interleave(cases: dict, n: int, warm: int = 2) -> dict:
    """Round after round, one sample of each case (a callable returning seconds): the machine's
    swings hit every case alike. {name: [seconds...]} or {name: "error"} for a case that
    failed (it is dropped from later rounds)."""
    out = {name: [] for name in cases}
    for i in range(n + warm):
        for name, sample in cases.items():
            if isinstance(out[name], str):
                continue
            try:
                dt = sample()
            except RuntimeError as exc:
                out[name] = str(exc)
                continue
            if i >= warm:
                out[name].append(dt)
    return out


def summary(samples) -> dict:
    if isinstance(samples, str):
        return {"error": samples}
    return {"median_ms": median_ms(samples), "samples_ms": [round(s * 1000, 1) for s in samples]}


def tke_command(module: bool = False) -> list:
    """What a user runs: the `tke` script installed with this interpreter's environment (its
    shebang interpreter, `site` and all), else the module."""
    script = os.path.join(os.path.dirname(sys.executable), "tke")
    if not module and os.access(script, os.X_OK):
        return [script]
    return [PYTHON, "-m", "toolkit.engine.cli"]


class Tke:
    base_command: list = []

    def __init__(self, root: str, runtime: str = None) -> None:
        # TKE_BRIDGE: nothing here may put tke's bridge (and its iptables rules) on this machine
        self.env = dict(os.environ, TKE_ROOT=root, PYTHONPATH=str(REPO), TKE_BRIDGE="none")
        # an installed tke has its bytecode cached; without this every run recompiles
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        if runtime:
            self.env["TKE_RUNTIME"] = runtime
        self.base = list(Tke.base_command or tke_command())

    def argv(self, *args: str) -> list:
        return self.base + list(args)

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"tke {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout


class Podman:
    def __init__(self, root: str, runtime: str) -> None:
        self.base = [
            "podman", "--root", f"{root}/storage", "--runroot", f"{root}/run",
            "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--storage-driver", "overlay", "--tmpdir", f"{root}/tmp",
        ]  # fmt: skip

    def argv(self, *args: str) -> list:
        if args and args[0] in ("run", "create"):
            # podman's default nofile/nproc (1048576) exceed this host's hard limits
            nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            limits = ("--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096")
            args = (args[0], *limits) + tuple(args[1:])
        return self.base + list(args)

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed: {proc.stderr.strip()[-300:]}")
        return proc.stdout


def make_image(work: Path) -> Path:
    from tests.engine.imagebuilder import busybox_layers, write_oci_layout

    layout = work / "layout"
    write_oci_layout(str(layout), busybox_layers(), tag="latest")
    return layout


class Floor:
    """overlay mount + `RUNTIME run` + umount of a prepared bundle, one timed start per
    `sample()` (a helper process in a mount namespace without the hybrid cgroup2 mount): the
    bundle's config from `RUNTIME spec`, or `spec` (the config.json tke writes: tke_spec)."""

    def __init__(self, work: Path, runtime: str, layer_dir: str, spec: dict = None) -> None:
        bundle = work / f"bundle-{runtime}{'-tke' if spec else ''}"
        (bundle / "rootfs").mkdir(parents=True)
        if spec is None:
            subprocess.run([runtime, "spec"], cwd=bundle, check=True, capture_output=True)
            spec = json.loads((bundle / "config.json").read_text())
            spec["process"].update(terminal=False, args=["true"], rlimits=[])
            spec["root"]["readonly"] = False
        else:
            spec = dict(spec, root={"path": str(bundle / "rootfs"), "readonly": False})
            for mount in spec["mounts"]:
                if mount["type"] == "bind":  # tke's /etc/hosts, hostname, resolv.conf
                    mount["source"] = str(bundle / os.path.basename(mount["destination"]))
                    Path(mount["source"]).write_text("\n")
            spec["linux"]["cgroupsPath"] = f"/tke-bench-floor/{runtime}"
        (bundle / "config.json").write_text(json.dumps(spec))
        wrap = [
            "unshare", "--mount", "--propagation", "slave", "--", "sh", "-c",
            'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"',
        ]  # fmt: skip
        argv = wrap + [PYTHON, "-c", FLOOR_SCRIPT, runtime, str(bundle), layer_dir]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def sample(self) -> float:
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self.proc.stderr.read().strip()[-300:])
        return float(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def pss_kb(pids: list) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def bench_run(args, tke_roots: dict, podmans: dict, work: Path, layer_dir: str) -> dict:
    """All cases interleaved, one start of each per round (see interleave)."""
    argv = ("run", "--rm", "--network", "none", "busybox", "true")
    cases = {}
    for name, tke in tke_roots.items():
        cases[name] = lambda tke=tke: run_once(tke.argv(*argv), tke.env)
    for name, pod in podmans.items():
        cases[name] = lambda pod=pod: run_once(pod.argv(*argv))
    floors = {}
    for runtime in ("crun", "runc"):
        if shutil.which(runtime):
            floors[f"floor: overlay + {runtime} run"] = Floor(work, runtime, layer_dir)
    spec = tke_spec(next(iter(tke_roots.values())))
    if shutil.which("crun"):
        same = Floor(work, "crun", layer_dir, spec)
        floors["floor: overlay + crun run, tke's config.json"] = same
    try:
        cases.update({name: floor.sample for name, floor in floors.items()})
        samples = interleave(cases, args.repeat)
    finally:
        for floor in floors.values():
            floor.close()
    return {name: summary(s) for name, s in samples.items()}


def tke_spec(tke: Tke):
    """The config.json tke writes for `run --network none busybox true` (docker's seccomp
    filter as crun's compiled copy of it, a cgroup, the /etc binds): the same container for
    the floor, so that tke / floor is tke's own cost, not the isolation's. Taken from a
    second run, once the first has filled the seccomp cache and its optimizer is done: the
    config of a store's very first run has the profile as JSON, which crun compiles at each
    start (~2 ms), as tke's own runs do not."""
    warm_seccomp_cache(tke)
    cid = tke.run("run", "-d", "--network", "none", "busybox", "sleep", "600").strip()
    try:
        with open(os.path.join(tke.env["TKE_ROOT"], "containers", cid, "config.json")) as fh:
            spec = json.load(fh)
    finally:
        tke.run("rm", "-f", cid, check=False)
    if "seccomp" in spec["linux"]:
        print("warning: tke's config.json still has the seccomp profile as JSON", file=sys.stderr)
    spec["process"].update(args=["true"], terminal=False)
    return spec


def warm_seccomp_cache(tke: Tke, timeout: float = 20.0) -> None:
    """One container run, then wait until the cached program stops changing (the shim copies
    crun's program there, then its optimizer rewrites it, in the background)."""
    from toolkit.engine.containers import run_dir_for

    tke.run("run", "--rm", "--network", "none", "busybox", "true")
    cache = Path(run_dir_for(tke.env["TKE_ROOT"])) / "seccomp-bpf"
    seen, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            now = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in cache.iterdir()]
        except OSError:  # not made yet, or a temporary file renamed while looking
            now = []
        now.sort()
        if now and now == seen and not any(".tmp-" in name for name, _, _ in now):
            return
        seen = now
        time.sleep(1.0)


def start_many(argv_for, n: int, workers: int = 4) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: subprocess.run(argv_for(i), capture_output=True, check=True),
                      range(n)))  # fmt: skip


def bench_scale(args, tke: Tke, pod) -> dict:
    """N running containers (PSS of supervisors), then N created more: `ps -a` over 2N."""
    n = args.containers
    res = {}

    def env_run(i):
        idle = ("--network", "none", "--name", f"idle{i}", "busybox", "sleep", "3600")
        return tke.argv("run", "-d", *idle)

    t = time.perf_counter()
    with_env = lambda argv: lambda i: argv(i)  # noqa: E731
    os.environ.update(TKE_ROOT=tke.env["TKE_ROOT"], PYTHONPATH=str(REPO))
    start_many(with_env(env_run), n)
    res["tke_start_running_s"] = round(time.perf_counter() - t, 1)
    time.sleep(2)
    from tests.engine.ctrhelpers import pids_where, shim_pids

    shims = shim_pids(tke.env["TKE_ROOT"])
    res["tke_shims"] = len(shims)
    res["tke_pss_per_container_kb"] = round(pss_kb(shims) / max(len(shims), 1))
    start_many(
        lambda i: tke.argv("create", "--network", "none", "--name", f"made{i}", "busybox", "true"),
        n,
    )
    res["tke_ps_a"] = timed(tke.argv("ps", "-a"), tke.env, args.repeat, warm=1)
    res["tke_ps_a_rows"] = len(tke.run("ps", "-a", "-q").split())
    if pod is not None:
        start_many(lambda i: pod.argv("run", "-d", "--network", "none", "--name", f"idle{i}",
                                      "busybox", "sleep", "3600"), n)  # fmt: skip
        time.sleep(2)
        conmons = pids_where(lambda c: c and c[0].endswith(b"conmon") and
                            any(pod.base[2].encode() in x for x in c))  # fmt: skip
        res["podman_conmons"] = len(conmons)
        res["podman_pss_per_container_kb"] = round(pss_kb(conmons) / max(len(conmons), 1))
        start_many(lambda i: pod.argv("create", "--network", "none", "--name", f"made{i}",
                                      "busybox", "true"), n)  # fmt: skip
        res["podman_ps_a"] = timed(pod.argv("ps", "-a"), None, args.repeat, warm=1)
    return res


def bench_commit(args, tke: Tke, pod) -> dict:
    res = {"tke": [], "podman": []}
    change = "dd if=/dev/urandom of=/ten bs=1M count=10 2>/dev/null"
    for i in range(args.commits):
        tke.run("run", "--network", "none", "--name", f"c{i}", "busybox", "sh", "-c", change)
        subprocess.run(["sync"])
        time.sleep(1)
        t = time.perf_counter()
        tke.run("commit", f"c{i}", f"committed:{i}")
        res["tke"].append(time.perf_counter() - t)
        if pod is not None:
            pod.run("run", "--network", "none", "--name", f"c{i}", "busybox", "sh", "-c", change)
            subprocess.run(["sync"])
            time.sleep(1)
            t = time.perf_counter()
            pod.run("commit", f"c{i}", f"committed:{i}")
            res["podman"].append(time.perf_counter() - t)
    return {k: {"median_ms": median_ms(v)} for k, v in res.items() if v}


def cleanup(tkes: dict, podmans: dict, dirs: list) -> None:
    from toolkit.engine.containers import run_dir_for

    for tke in tkes.values():
        ids = tke.run("ps", "-a", "-q", check=False).split()
        for i in range(0, len(ids), 50):
            tke.run("rm", "-f", *ids[i : i + 50], check=False)
        shutil.rmtree(run_dir_for(tke.env["TKE_ROOT"]), ignore_errors=True)
    for pod in podmans.values():
        subprocess.run(pod.argv("rm", "-a", "-f"), capture_output=True)
        subprocess.run(pod.argv("system", "reset", "-f"), capture_output=True)
    for path in dirs:
        subprocess.run(["umount", "-R", "-l", path], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
    for hierarchy in Path("/sys/fs/cgroup").iterdir():  # the floor's parent cgroup (Floor)
        with contextlib.suppress(OSError):
            (hierarchy / "tke-bench-floor").rmdir()


def ratio(a: dict, b: dict):
    if "median_ms" in a and "median_ms" in b and a["median_ms"]:
        return round(b["median_ms"] / a["median_ms"], 2)
    return None


def print_table(title: str, rows: list) -> None:
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=None, help="runs per figure (10)")
    ap.add_argument("--containers", type=int, default=None, help="idle containers (100)")
    ap.add_argument("--commits", type=int, default=None, help="commits timed (5)")
    ap.add_argument("--quick", action="store_true", help="--repeat 5 --containers 20 --commits 2")
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--tke-module", action="store_true", help="time `python -m toolkit.engine.cli`")
    ap.add_argument("--no-scale", action="store_true", help="skip the idle-containers part")
    ap.add_argument("--report", default=None, help="only print the tables of a results file")
    args = ap.parse_args()
    if args.report:
        report(json.loads(Path(args.report).read_text()), args)
        return 0
    # --quick's smaller figures, unless given explicitly (`--quick --repeat 10`)
    for name, full, quick in (("repeat", 10, 5), ("containers", 100, 20), ("commits", 5, 2)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if os.geteuid() != 0:
        raise SystemExit("run as root (containers, overlay mounts)")
    Tke.base_command = tke_command(args.tke_module)
    # hex only: podman names an oci: image after its path, and mkdtemp's "_" or upper case
    # letters make that an invalid reference
    work = Path("/var/tmp") / f"tkt-bench-ctr-{os.urandom(5).hex()}"
    work.mkdir(mode=0o700)
    layout = make_image(work)
    from toolkit.engine import runtime as rtmod
    from toolkit.engine.containers import run_dir_for

    default_rt = rtmod.choose(run_dir_for(str(work / "probe")))
    tkes = {f"tke ({default_rt.name}, default)": Tke(str(work / "tke-default"))}
    other = "crun" if default_rt.name == "runc" else "runc"
    if shutil.which(other):
        tkes[f"tke ({other})"] = Tke(str(work / f"tke-{other}"), other)
    podmans = {}
    for rt in ("runc", "crun"):
        if not args.no_podman and shutil.which("podman") and shutil.which(rt):
            podmans[f"podman ({rt})"] = Podman(str(work / f"podman-{rt}"), rt)
    dirs = [str(work)]
    try:
        for tke in tkes.values():
            os.makedirs(tke.env["TKE_ROOT"])
            tke.run("load", "-i", str(layout))
            image_id = tke.run("images", "-q").split()[0]
            tke.run("tag", image_id, "busybox:latest")
        for name, pod in list(podmans.items()):
            try:
                pod.run("pull", "-q", f"oci:{layout}:latest")
                pod.run("tag", pod.run("images", "-q").split()[0], "busybox:latest")
            except RuntimeError as exc:
                print(f"{name}: {exc}", file=sys.stderr)
                podmans.pop(name)
        from toolkit.engine.store import Store

        db = Store(tkes[next(iter(tkes))].env["TKE_ROOT"]).load()
        chain = next(iter(db["layers"]))
        layer_dir = Store(tkes[next(iter(tkes))].env["TKE_ROOT"]).layer_path(chain)
        result = {
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "load": os.getloadavg(),
            },  # fmt: skip
            "runtime_choice": default_rt.to_dict(),
            "tke_command": " ".join(Tke.base_command),
        }
        result["run_rm"] = bench_run(args, tkes, podmans, work, layer_dir)
        default_tke = tkes[next(iter(tkes))]
        pod_runc = podmans.get("podman (runc)") or next(iter(podmans.values()), None)
        result["commit_10mb"] = bench_commit(args, default_tke, pod_runc)
        result["scale"] = {} if args.no_scale else bench_scale(args, default_tke, pod_runc)
    finally:
        cleanup(tkes, podmans, dirs)
    report(result, args)
    return 0


def run_ratios(run: dict) -> dict:
    """For each tke variant: podman time / tke time (target >= 3) and tke / floor (<= 2), as
    ratios of the medians and, "paired", as the median of the ratios round by round."""
    out = {}
    floors = {k: v for k, v in run.items() if k.startswith("floor") and "median_ms" in v}
    pods = {k: v for k, v in run.items() if k.startswith("podman") and "median_ms" in v}
    for name, value in run.items():
        if not name.startswith("tke") or "median_ms" not in value:
            continue
        for pod, pv in pods.items():
            out[f"{pod} / {name}"] = ratio(value, pv)
            out[f"{pod} / {name} (paired)"] = paired(value, pv)
        for floor_name, fv in floors.items():
            out[f"{name} / {floor_name}"] = ratio(fv, value)
            out[f"{name} / {floor_name} (paired)"] = paired(fv, value)
    return out


def paired(a: dict, b: dict):
    """Median over rounds of b's sample / a's sample (interleaved runs: same conditions)."""
    pairs = list(zip(a.get("samples_ms") or [], b.get("samples_ms") or []))
    if not pairs or len(a["samples_ms"]) != len(b["samples_ms"]):
        return None
    return round(statistics.median(y / x for x, y in pairs if x), 2)


def report(result: dict, args) -> None:
    run = result["run_rm"]
    rows = [(k, v.get("median_ms", v.get("error"))) for k, v in run.items()]
    title = "run --rm --network none busybox true (median ms)"
    if result.get("tke_command"):
        title += f"; tke = {result['tke_command']}"
    print_table(title, rows)
    result["ratios"] = run_ratios(run)
    print_table(
        "ratios (podman/tke: >= 3 is the target; tke/floor: <= 2)", list(result["ratios"].items())
    )
    c = result["commit_10mb"]
    print_table("commit of a 10 MB change (median ms)", [(k, v["median_ms"]) for k, v in c.items()])
    s = result["scale"]
    if s:
        rows = [(k, v.get("median_ms") if isinstance(v, dict) else v) for k, v in s.items()]
        n = result.get("args", vars(args))["containers"]
        print_table(f"{n} idle running containers, ps -a over {2 * n}", rows)
    if args is not None and not getattr(args, "report", None):
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        result["args"] = vars(args)
        result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
