"""Benchmark: `tke pull` against `podman pull` and `skopeo copy` (docker too if its daemon runs).

One local docker-registry (distribution 2.8, plain HTTP on 127.0.0.1) holds two images built
offline: busybox (one layer) and a ~100 MB image of 5 layers (busybox + 4 × 25 MB of files, half
random bytes, half text). Each tool pulls each image `--repeat` times into a store that is
emptied before every run; the median wall time is reported, and ratios against the peers
measured in the same run. skopeo copies to a `dir:` (download + verify only, no extraction).

    python bench/engine_pull.py [--repeat 5] [--layers 5] [--mb-per-layer 25]
                                [--install venv|tree] [--before GIT-REV]

How tke is installed matters for a sub-second command: by default (`--install venv`) the
benchmark makes bench/.venvs/tke-pull with a regular (non-editable) `pip install --no-deps .`
(byte-compiled, no editable-install finder) and runs its `tke` script, as a user would;
`--install tree` runs `python -m toolkit.engine.cli` from the source tree with the project's
.venv interpreter (editable finder, and no .pyc files when PYTHONDONTWRITEBYTECODE is set).
`--before REV` also installs git revision REV (bench/.venvs/tke-before) and times it as
"tke@REV" in the same run, for before/after figures. Every timed run is preceded by
`sync; sleep 3` (the root fs is mounted with `discard`), and the load average is recorded:
the machine is shared, so only ratios measured in the same run mean much.

Results: a table on stdout and bench/results/engine_pull.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "engine_pull.json"
sys.path.insert(0, str(REPO))

from tests.engine.imagebuilder import (  # noqa: E402
    busybox_layers,
    fat_layers,
    skopeo_copy,
    write_oci_layout,
)
from tests.engine.regserver import RegistryServer  # noqa: E402


def settle() -> None:
    """The root fs is mounted with `discard`: let big deletes finish before timing writes."""
    subprocess.run(["sync"], check=False)
    time.sleep(3)
    LOADS.append(os.getloadavg()[0])


LOADS: List[float] = []  # 1-minute load average just before each timed run
VENVS = HERE / ".venvs"


def install(name: str, source: Path) -> Path:
    """A fresh venv with a regular (non-editable, byte-compiled) install of `source`."""
    venv = VENVS / name
    wipe(venv)
    python = os.path.realpath(sys.executable)  # the real interpreter, not a pyenv shim
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(source)],
        check=True,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    return venv / "bin" / "tke"


def export_rev(rev: str, dest: Path) -> Path:
    wipe(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


CPU: List[float] = []  # user+sys seconds of the last timed command (children's rusage)


def run(argv: List[str], env: Optional[Dict[str, str]] = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:4])} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        )
    return elapsed


def wipe(path: Path) -> None:
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)


class Tools:
    def __init__(self, work: Path) -> None:
        self.work = work

    def tke_command(self, install_kind: str) -> List[str]:
        if install_kind == "tree":
            return [str(REPO / ".venv" / "bin" / "python"), "-m", "toolkit.engine.cli"]
        return [str(install("tke-pull", REPO))]

    def tke(self, argv0: List[str], ref: str, tree: bool = False) -> float:
        root = self.work / "tke-root"
        wipe(root)
        settle()
        env = dict(os.environ, DOCKER_CONFIG=str(self.work / "dcfg"))
        env.pop("PYTHONPATH", None)
        if tree:
            env["PYTHONPATH"] = str(REPO)
        return run(argv0 + ["--root", str(root), "pull", "-q", ref], env)

    def podman(self, ref: str) -> float:
        root, runroot = self.work / "podman-root", self.work / "podman-run"
        podman = ["podman", "--root", str(root), "--runroot", str(runroot)]
        podman += ["--storage-driver", "overlay"]
        if root.exists():
            subprocess.run(podman + ["system", "reset", "-f"], capture_output=True)
        wipe(root)
        wipe(runroot)
        settle()
        return run(
            podman
            + [
                "--events-backend",
                "file",
                "pull",
                "-q",
                "--tls-verify=false",
                ref,
            ]
        )

    def skopeo(self, ref: str) -> float:
        dest = self.work / "skopeo-dir"
        wipe(dest)
        settle()
        return run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "-q",
                "--src-tls-verify=false",
                f"docker://{ref}",
                f"dir:{dest}",
            ]
        )

    def docker(self, ref: str) -> float:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True)
        settle()
        return run(["docker", "pull", "-q", ref])


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--mb-per-layer", type=int, default=25)
    parser.add_argument("--install", choices=("venv", "tree"), default="venv")
    parser.add_argument("--before", default=None, metavar="GIT-REV")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tkt-img-bench-"))
    reg = None
    try:
        (work / "reg").mkdir()
        reg = RegistryServer(str(work / "reg")).start()
        write_oci_layout(str(work / "bb"), busybox_layers())
        write_oci_layout(str(work / "fat"), fat_layers(args.layers, args.mb_per_layer))
        skopeo_copy(f"oci:{work / 'bb'}:latest", f"docker://{reg.host}/busybox:latest")
        skopeo_copy(f"oci:{work / 'fat'}:latest", f"docker://{reg.host}/fat:latest")
        sizes = {"busybox": _size(work / "bb"), "fat": _size(work / "fat")}
        tools = Tools(work)
        tke_argv = tools.tke_command(args.install)
        tree = args.install == "tree"
        peers: Dict[str, Callable[[str], float]] = {
            "tke": lambda ref: tools.tke(tke_argv, ref, tree)
        }
        if args.before:
            old_tke = [str(install("tke-before", export_rev(args.before, work / "before-src")))]
            peers[f"tke@{args.before}"] = lambda ref: tools.tke(old_tke, ref)
        if shutil.which("podman"):
            peers["podman"] = tools.podman
        if shutil.which("skopeo"):
            peers["skopeo (download only)"] = tools.skopeo
        if docker_available():
            peers["docker"] = tools.docker
        results: Dict[str, Dict[str, List[float]]] = {}
        cpu: Dict[str, Dict[str, List[float]]] = {}
        for image in ("busybox", "fat"):
            ref = f"{reg.host}/{image}:latest"
            for _ in range(args.repeat):  # interleaved, so machine load hits every tool alike
                for name, fn in peers.items():
                    results.setdefault(image, {}).setdefault(name, []).append(fn(ref))
                    cpu.setdefault(image, {}).setdefault(name, []).append(CPU[-1])
        report(results, cpu, sizes, args)
    finally:
        if reg is not None:
            reg.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


def _git_head() -> str:
    proc = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip()


def _size(layout: Path) -> int:
    return sum(f.stat().st_size for f in (layout / "blobs" / "sha256").iterdir())


def report(results: dict, cpu: dict, sizes: dict, args) -> None:
    rows = []
    out = {
        "machine": platform.node(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "load_before_runs": {
            "min": min(LOADS),
            "median": statistics.median(LOADS),
            "max": max(LOADS),
        },
        "cores": os.cpu_count(),
        "tke_install": (
            "non-editable pip install in bench/.venvs/tke-pull, its tke script"
            if args.install == "venv"
            else "source tree: .venv/bin/python -m toolkit.engine.cli (editable install)"
        ),
        "tke_commit": _git_head(),
        "before": args.before,
        "repeat": args.repeat,
        "compressed_bytes": sizes,
        "median_seconds": {},
        "median_cpu_seconds": {},
        "ratios": {},
        "runs": results,
    }
    for image, by_tool in results.items():
        medians = {tool: statistics.median(times) for tool, times in by_tool.items()}
        cpus = {tool: statistics.median(times) for tool, times in cpu[image].items()}
        out["median_seconds"][image] = medians
        out["median_cpu_seconds"][image] = cpus
        out["ratios"][image] = {
            f"tke/{tool}": round(medians["tke"] / t, 3)
            for tool, t in medians.items()
            if tool != "tke" and t > 0
        }
        out.setdefault("paired_ratio_medians", {})[image] = {
            f"tke/{tool}": round(
                statistics.median(a / b for a, b in zip(by_tool["tke"], times) if b > 0), 3
            )
            for tool, times in by_tool.items()
            if tool != "tke"
        }
        for tool, median in medians.items():
            ratio = medians["tke"] / median if tool != "tke" else 1.0
            rows.append((image, tool, median, min(by_tool[tool]), ratio, cpus[tool]))
    print(f"{'image':<8} {'tool':<24} {'median s':>9} {'best s':>8} {'tke/tool':>9} {'cpu s':>7}")
    for image, tool, median, best, ratio, cpu_s in rows:
        print(f"{image:<8} {tool:<24} {median:>9.2f} {best:>8.2f} {ratio:>9.2f} {cpu_s:>7.2f}")
    print(
        f"load average before the timed runs: median {statistics.median(LOADS):.1f} "
        f"(min {min(LOADS):.1f}, max {max(LOADS):.1f}) on {os.cpu_count()} cores; "
        f"tke install: {args.install}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"\nwritten {RESULTS}; compressed sizes: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items())
    )


if __name__ == "__main__":
    sys.exit(main())
