"""`tke run`'s fast path: the lean parser (runargs.py) against argparse, the engine's `_json`
wrapper, the imports of a whole `run --rm`, and its trash deleted by the shim.

The lean parser must either give exactly argparse's Namespace or step aside (None), so that
argparse reports docker's errors; `tke run` itself must not import argparse, re, typing or json
(their imports were a third of a `tke run --rm`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.engine.ctrhelpers import ctr_fixture, ctr_runc_fixture  # noqa: F401
from toolkit.engine import jsonc, runargs
from toolkit.engine.cli import build_parser
from toolkit.engine.containers import run_dir_for

TAKEN = [
    ["run", "busybox"],
    ["run", "--rm", "--network", "none", "busybox", "true"],
    ["--root", "/tmp/x", "run", "-d", "busybox", "sleep", "1"],
    ["--root=/tmp/x", "-D", "run", "busybox"],
    ["run", "-it", "--rm", "busybox", "sh"],
    ["run", "-dit", "--name", "web", "busybox"],
    ["run", "-ti", "-e", "A=1", "-e", "B", "--env=C=3", "busybox", "env"],
    ["run", "-eA=1", "-l", "k=v", "--label", "x", "busybox"],
    ["run", "-dp", "8080:80", "-P", "busybox"],
    ["run", "-h", "myhost", "-w", "/tmp", "-u", "1000:1000", "busybox", "id"],
    ["run", "--entrypoint", "", "busybox", "echo", "hi"],
    ["run", "--net", "host", "busybox"],
    ["run", "-c", "512", "--pids-limit", "10", "-m", "64m", "--cpus", "0.5", "busybox"],
    ["run", "--rm", "busybox", "ls", "-l", "--rm", "-d", "--", "x"],
    ["run", "-a", "stdout", "-a", "STDERR", "--sig-proxy=false", "busybox"],
    ["run", "-v", "/a:/b:ro", "-v", "vol:/data", "--volumes-from", "c1", "busybox"],
    ["run", "--cap-add", "ALL", "--cap-drop", "NET_RAW", "--privileged", "busybox"],
    ["run", "--security-opt", "no-new-privileges", "--read-only", "busybox"],
    ["run", "--restart", "on-failure:3", "--runtime", "runc", "busybox"],
    ["run", "--detach-keys", "ctrl-a,a", "-i", "busybox"],
    ["run", "-e", "X Y", "busybox"],
    ["run", "-e X", "busybox"],
    ["run", "-eFOO=bar=baz", "busybox"],
]
LEFT_TO_ARGPARSE = [
    ["run"],
    ["run", "--rm"],
    ["run", "--help", "busybox"],
    ["--help", "run", "busybox"],
    ["-v", "run", "busybox"],
    ["run", "--bogus", "busybox"],
    ["run", "--netw", "none", "busybox"],  # an abbreviation: argparse's call
    ["run", "-c", "lots", "busybox"],
    ["run", "-c", "-5", "busybox"],
    ["run", "--name"],
    ["run", "--name", "--rm", "busybox"],
    ["run", "--rm=yes", "busybox"],
    ["run", "-e=A", "busybox"],
    ["run", "-x", "busybox"],
    ["run", "--", "busybox"],
    ["run", "-", "busybox"],
    ["--root", "run", "busybox"],
    ["ps", "-a"],
]


def _argparse(argv: list) -> dict:
    parser, _ = build_parser("toolkit.engine.cli_containers", "run")
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_lean_parser_gives_argparse_namespace(argv):
    lean = runargs.parse(argv)
    assert lean is not None, "the lean parser should take this line"
    assert vars(lean) == _argparse(argv)


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_lean_parser_leaves_the_rest_to_argparse(argv):
    assert runargs.parse(argv) is None


def test_defaults_are_not_shared_between_parses():
    first = runargs.parse(["run", "-e", "A=1", "busybox"])
    second = runargs.parse(["run", "busybox"])
    assert first.env == ["A=1"] and second.env == []


def test_bad_run_flags_still_get_dockers_errors(tmp_path):
    env = dict(os.environ, TKE_ROOT=str(tmp_path / "root"))
    cases = [
        (["run", "--bogus", "busybox"], 125, "unknown flag: --bogus"),
        (["run", "-c", "lots", "busybox"], 125, "invalid int value"),
        (["run"], 1, "the following arguments are required"),
    ]
    for argv, code, text in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "toolkit.engine.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
        )
        assert proc.returncode == code, (argv, proc.stderr)
        assert text in proc.stderr
        assert "Traceback" not in proc.stderr


def test_run_help_is_argparses(tmp_path):
    env = dict(os.environ, TKE_ROOT=str(tmp_path / "root"))
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "run", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0
    assert "--volumes-from" in proc.stdout and "usage: tke run" in proc.stdout


@pytest.mark.engine
def test_run_path_imports_none_of_the_heavy_modules(ctr_runc):
    """A whole `tke run --rm` (create, start, attach, remove) imports none of argparse, re,
    typing, json, shutil, contextlib, threading, subprocess, enum."""
    probe = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from toolkit.engine import cli\n"
        "code = cli.main(['run', '--rm', '--network', 'none', sys.argv[2], 'true'])\n"
        "heavy = [m for m in ('argparse', 're', 'typing', 'json', 'shutil', 'contextlib',\n"
        "         'threading', 'subprocess', 'enum') if m in sys.modules]\n"
        "print(code, heavy)\n"
    )
    # -I -S: no site (Debian's sitecustomize imports some of these itself)
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, os.getcwd(), ctr_runc.image],
        capture_output=True,
        text=True,
        env=ctr_runc.env,
        timeout=60,
    )
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr
    assert ctr_runc.ids() == []


JSON_SAMPLES = [
    {"a": [1, 2.5, None, True, False, 'é\n\t"x"'], "b": {"z": 1, "a": {}}},
    [],
    {},
    [[], [{}], "", 0, -1, 1e100],
    {"nan": float("inf")},
]


@pytest.mark.parametrize("value", JSON_SAMPLES)
def test_jsonc_matches_json(value):
    assert jsonc.dumps(value) == json.dumps(value)
    assert jsonc.dumps(value, compact=True, sort_keys=True) == json.dumps(
        value, separators=(",", ":"), sort_keys=True
    )
    text = json.dumps(value, indent=2)
    assert repr(jsonc.loads(text)) == repr(json.loads(text))
    assert repr(jsonc.loads(text.encode())) == repr(json.loads(text.encode()))


@pytest.mark.parametrize("bad", ["", "   ", "{", "{} x", "[1,]", "{'a': 1}", "nul"])
def test_jsonc_errors_are_jsons(bad):
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(bad)
    with pytest.raises(json.JSONDecodeError) as got:
        jsonc.loads(bad)
    assert got.value.pos == want.value.pos


def test_jsonc_refuses_what_json_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonc.dumps({"a": object()})


def _no_trash(root: str, seconds: float = 5) -> list:
    deadline = time.monotonic() + seconds
    while True:
        left = [n for n in os.listdir(os.path.join(root, "tmp")) if n.startswith("trash-")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.engine
def test_foreground_run_rm_directory_is_deleted_by_its_shim(ctr_runc):
    """The client moves the container to tmp/trash-SHIMPID-ID and the shim deletes it (files,
    nested dirs, the overlay's work dir): nothing is left, in ps, containers/ or tmp/."""
    ctr = ctr_runc
    script = "mkdir -p /a/b/c && echo x > /a/b/c/f && ln -s /a /l && echo done"
    for _ in range(3):
        assert ctr.ok("run", "--rm", ctr.image, "sh", "-c", script) == "done\n"
    assert ctr.ids() == []
    assert os.listdir(os.path.join(ctr.root, "containers")) == ["lock"]
    assert _no_trash(ctr.root) == []


@pytest.mark.engine
def test_trash_of_a_dead_shim_is_cleaned_up(ctr_runc):
    """A shim killed before it deleted the trash it was handed: the store's stale-tmp cleanup
    (run by pull and gc) finishes the job, as the name carries the dead shim's pid."""
    from toolkit.engine.containers import trash_for_shim
    from toolkit.engine.store import Store

    ctr = ctr_runc
    dead = os.path.join(ctr.root, "tmp", "probe")
    os.makedirs(os.path.join(dead, "upper", "x"))
    # above pid_max (at most 2**22): no live process has this pid
    path = trash_for_shim(os.path.join(ctr.root, "tmp"), 2**22 + 7, "f" * 64)
    os.rename(dead, path)
    Store(ctr.root).clean_stale_tmp()
    assert not os.path.exists(path)


@pytest.mark.engine
def test_run_rm_leaves_no_cgroup_nor_runtime_state(ctr):
    """The shim removes an exited container's cgroups and runtime state itself (no `crun
    delete` process): nothing of either is left, with crun and with runc."""
    from toolkit.engine import cgroups

    for argv in (["cat", "/proc/self/cgroup"], ["sh", "-c", "sleep 0.2 & cat /proc/self/cgroup"]):
        out = ctr.ok("run", "--rm", ctr.image, *argv)
        cid = out.split("/tke/")[1].split()[0]
        assert len(cid) == 64
        deadline = time.monotonic() + 5
        while cgroups.leftover(cid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cgroups.leftover(cid) == []
        state = os.path.join(run_dir_for(ctr.root), ctr.runtime, cid)
        while os.path.exists(state) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(state)
