"""`--log-driver` and `--log-opt` (logconfig.py, the shim's rotate_log, logs.py): docker's
json-file rotation by max-size and max-file, `tke logs` (and `-f`) across the rotated files,
the `none` driver, the store's defaults (dockerd's daemon.json keys) and docker's errors."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time

import pytest

from tests.engine.ctrhelpers import PYTHON, ctr_fixture  # noqa: F401 - provides `ctr`

pytestmark = [pytest.mark.engine]
PRINT_300 = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; sleep 60"


def log_files(ctr, cid: str) -> list:
    return sorted(glob.glob(os.path.join(ctr.root, "containers", cid, "*-json.log*")))


def wait_logged(ctr, cid: str, last: str, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = ctr.ok("logs", cid).splitlines()
        if lines and lines[-1] == last:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{last} not logged: {lines[-3:]}")


def numbers(lines: list) -> list:
    return [int(line.split("-")[1]) for line in lines]


def test_json_file_rotates_by_size_and_count(ctr):
    opts = ("--log-opt", "max-size=2k", "--log-opt", "max-file=3")
    cid = ctr.ok("run", "-d", *opts, ctr.image, "sh", "-c", PRINT_300).strip()
    lines = wait_logged(ctr, cid, "line-299")
    files = log_files(ctr, cid)
    assert [f.rsplit("-json.log", 1)[1] for f in files] == ["", ".1", ".2"]
    assert all(os.path.getsize(f) < 2048 + 100 for f in files)  # one entry past the limit
    got = numbers(lines)
    assert got == list(range(got[0], 300)) and got[0] > 0  # the oldest rotated away, in order
    assert numbers(ctr.ok("logs", "--tail", "3", cid).splitlines()) == [297, 298, 299]
    conf = json.loads(ctr.ok("inspect", "-f", "{{json .HostConfig.LogConfig}}", cid))
    assert conf == {"Type": "json-file", "Config": {"max-size": "2k", "max-file": "3"}}
    ctr.ok("rm", "-f", cid)


def test_one_file_starts_again_empty(ctr):
    opts = ("--log-opt", "max-size=1k", "--log-opt", "max-file=1")
    cid = ctr.ok("run", "-d", *opts, ctr.image, "sh", "-c", PRINT_300).strip()
    lines = wait_logged(ctr, cid, "line-299")
    assert len(log_files(ctr, cid)) == 1
    assert 0 < len(lines) < 20 and numbers(lines) == list(range(300 - len(lines), 300))
    ctr.ok("rm", "-f", cid)


def test_follow_reads_on_across_rotations(ctr):
    slow = "sleep 1; i=0; while [ $i -lt 60 ]; do echo line-$i; i=$((i+1)); sleep 0.02; done"
    opts = ("--log-opt", "max-size=1k", "--log-opt", "max-file=3")
    cid = ctr.ok("run", "-d", *opts, ctr.image, "sh", "-c", slow).strip()
    follow = subprocess.run(
        [*ctr.wrap, PYTHON, "-m", "toolkit.engine.cli", "logs", "-f", cid],
        capture_output=True, text=True, env=ctr.env, timeout=60,
    )  # fmt: skip
    assert follow.returncode == 0, follow.stderr
    assert numbers(follow.stdout.splitlines()) == list(range(60))  # every line, in order
    assert len(log_files(ctr, cid)) == 3
    ctr.ok("rm", "-f", cid)


def test_none_driver_keeps_nothing(ctr):
    cid = ctr.ok("create", "--log-driver", "none", ctr.image, "echo", "hi").strip()
    assert ctr.ok("start", "-a", cid) == "hi\n"  # attached output still flows
    assert log_files(ctr, cid) == []
    logs = ctr.run("logs", cid)
    assert logs.returncode == 1
    assert "configured logging driver does not support reading" in logs.stderr
    ctr.ok("rm", cid)


def test_store_defaults_and_flags_over_them(ctr):
    with open(os.path.join(ctr.root, "config.json"), "w") as fh:
        json.dump({"log-opts": {"max-size": "1k", "max-file": "2"}}, fh)
    try:
        cid = ctr.ok("create", ctr.image, "true").strip()
        shown = json.loads(ctr.ok("inspect", "-f", "{{json .HostConfig.LogConfig}}", cid))
        assert shown == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}
        own = ctr.ok("create", "--log-opt", "max-size=5m", ctr.image, "true").strip()
        shown = json.loads(ctr.ok("inspect", "-f", "{{json .HostConfig.LogConfig}}", own))
        assert shown == {"Type": "json-file", "Config": {"max-size": "5m"}}
        ctr.ok("rm", cid, own)
    finally:
        os.unlink(os.path.join(ctr.root, "config.json"))


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--log-driver", "syslog"], "logger: no log driver named 'syslog' is registered"),
        (["--log-opt", "max-size=abc"], "invalid max-size: 'abc'"),
        (["--log-opt", "labels=x"], "unknown log opt 'labels' for json-file log driver"),
        (["--log-opt", "max-file=3"], "max-file cannot be set without max-size"),
        (["--log-opt", "max-size=1m", "--log-opt", "max-file=0"], "max-file must be a positive"),
        (["--log-driver", "none", "--log-opt", "max-size=1m"], "unknown log opt 'max-size'"),
    ],
)
def test_bad_log_options_as_docker(ctr, flags, message):
    proc = ctr.run("run", "--rm", *flags, ctr.image, "true")
    assert proc.returncode == 125
    assert message in proc.stderr
    assert ctr.ok("ps", "-a", "-q") == ""  # nothing was created
