"""`tk play` end to end, as a user runs it: playbooks/examples/everything.yml in local mode
against a scratch directory, and small playbooks for -e forms, tags and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.tkrun import TK, recap

REPO = Path(__file__).resolve().parents[2]
EVERYTHING = REPO / "playbooks" / "examples" / "everything.yml"
FIRST_RUN = {"ok": 39, "changed": 9, "unreachable": 0, "failed": 0, "skipped": 2, "rescued": 1,
             "ignored": 1}  # fmt: skip  # ok: one per included file, as Ansible


def tk(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TK_FORCE_COLOR")}
    return subprocess.run(
        [str(TK), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def play(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return tk("play", "-c", "local", "-i", "localhost,", *args, cwd=cwd)


@pytest.fixture
def scratch(tmp_path):
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def test_first_run_then_idempotent(tmp_path, scratch):
    first = play(str(EVERYTHING), "-e", f"scratch={scratch}", cwd=tmp_path)
    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    assert recap(out)["localhost"] == FIRST_RUN
    assert recap(out)["extra-host"]["ok"] == 1
    # handlers fired once each, after the role handler, in definition order
    handlers = re.findall(r"^RUNNING HANDLER \[(.+?)\]", out, re.M)
    assert handlers == ["webapp : webapp restarted", "restart app", "reload config"]
    assert (scratch / "restarted.txt").read_text() == "restarted\n"
    # block/rescue/always
    assert 'fatal: [localhost]: FAILED! => {"changed": false, "msg": "deliberate failure"}' in out
    assert (scratch / "rescued.txt").read_text() == "deliberate failure\n"
    assert '"msg": "cleanup done"' in out
    assert "Never reached" not in out
    # loops: per-item lines, labels, when per item
    assert "changed: [localhost] => (item=alpha)" in out
    assert "skipping: [localhost] => (item=gamma)" in out
    assert (scratch / "pkg-beta.txt").read_text() == "1 beta hello\n"
    assert not (scratch / "pkg-gamma.txt").exists()
    # until retried twice before succeeding
    assert "TASK [Gathering Facts]" in out
    assert out.count("FAILED - RETRYING: [localhost]: Count until three") == 2
    assert "(4 retries left)" in out
    # ignore_errors, no_log, includes, delegation, dynamic inventory
    assert "...ignoring" in out
    assert "s3cr3t" not in out
    assert '"msg": "included two!"' in out
    assert "changed: [localhost -> localhost]" in out
    assert '"msg": "extra-host in extra-host, blue"' in out
    assert "Never runs" not in out  # meta: end_play
    assert not (scratch / "never-written.txt").exists()
    assert "port = 9090" in (scratch / "app.conf").read_text()
    assert "name=demo\nport=9090\nuser=tk\n" == (scratch / "webapp-demo.conf").read_text()

    second = play(str(EVERYTHING), "-e", f"scratch={scratch}", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert recap(second.stdout)["localhost"]["changed"] == 0
    assert "RUNNING HANDLER" not in second.stdout


def test_check_mode_predicts_and_changes_nothing(tmp_path, scratch):
    result = play(str(EVERYTHING), "--check", "-e", f"scratch={scratch}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert recap(result.stdout)["localhost"]["changed"] == FIRST_RUN["changed"]
    assert list(scratch.iterdir()) == []


def test_diff_shows_unified_diffs(tmp_path, scratch):
    play(str(EVERYTHING), "-e", f"scratch={scratch}", cwd=tmp_path)
    (scratch / "lines.txt").write_text("port=1\n")
    result = play(str(EVERYTHING), "--diff", "-e", f"scratch={scratch}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^--- .*\n\+\+\+ .*\n@@ ", result.stdout, re.M), result.stdout
    assert "\n+port=9090\n" in result.stdout
    assert recap(result.stdout)["localhost"]["changed"] == 1


def test_json_is_one_document(tmp_path, scratch):
    result = play(str(EVERYTHING), "--json", "-e", f"scratch={scratch}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stats"]["localhost"]["changed"] == FIRST_RUN["changed"]
    assert doc["stats"]["localhost"]["rescued"] == 1
    names = [t["task"]["name"] for t in doc["plays"][0]["tasks"]]
    assert "Copy a static file" in names
    failed = [t for t in doc["plays"][0]["tasks"] if t["task"]["name"] == "This fails on purpose"]
    assert failed[0]["hosts"]["localhost"]["failed"] is True


def test_listings_and_syntax_check(tmp_path):
    tasks = play(str(EVERYTHING), "--list-tasks", cwd=tmp_path)
    assert tasks.returncode == 0, tasks.stderr
    assert "play #1 (localhost): Everything against a scratch directory" in tasks.stdout
    assert re.search(r"^\s+webapp : Role config\tTAGS: \[webapp\]$", tasks.stdout, re.M)
    assert "Only with --tags debug" not in tasks.stdout  # tagged never
    tagged = play(str(EVERYTHING), "--list-tasks", "--tags", "debug", cwd=tmp_path)
    assert "Only with --tags debug" in tagged.stdout
    assert "Copy a static file" not in tagged.stdout
    hosts = play(str(EVERYTHING), "--list-hosts", cwd=tmp_path)
    assert "    hosts (1):\n      localhost" in hosts.stdout
    tags = play(str(EVERYTHING), "--list-tags", cwd=tmp_path)
    assert "TASK TAGS: [always, debug, never, webapp]" in tags.stdout
    syntax = play(str(EVERYTHING), "--syntax-check", cwd=tmp_path)
    assert syntax.returncode == 0 and "playbook:" in syntax.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("- hosts: localhost\n  tasks:\n    - debugg: msg=x\n")
    broken = play(str(bad), "--syntax-check", cwd=tmp_path)
    assert broken.returncode == 5
    assert f"{bad}:3" in broken.stderr and "Traceback" not in broken.stderr


SMALL = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - debug: msg="a={{ a | default('-') }} b={{ b | default('-') }} c={{ c | default('-') }}"
    - {debug: {msg: web}, tags: [web]}
    - {debug: {msg: db}, tags: [db]}
    - {debug: {msg: always}, tags: [always]}
"""


def test_extra_vars_forms_and_tags(tmp_path):
    book = tmp_path / "small.yml"
    book.write_text(SMALL)
    (tmp_path / "vars.yml").write_text("c: from_file\n")
    result = play(str(book), "-e", "a=1 b=two", "-e", '{"b": [1, 2]}', "-e", "@vars.yml",
                  cwd=tmp_path)  # fmt: skip
    assert '"msg": "a=1 b=[1, 2] c=from_file"' in result.stdout, result.stdout + result.stderr
    only = play(str(book), "-t", "web", cwd=tmp_path)
    assert re.findall(r'"msg": "(\w+)"', only.stdout) == ["web", "always"]
    skip = play(str(book), "--skip-tags", "web,always", cwd=tmp_path)
    assert re.findall(r'"msg": "(\w+)"', skip.stdout) == ["a", "db"] or "db" in skip.stdout
    assert "web" not in re.findall(r'"msg": "(\w+)"', skip.stdout)
    missing = play(str(book), "-e", "@nope.yml", cwd=tmp_path)
    assert missing.returncode == 5 and "nope.yml" in missing.stderr


def test_exit_codes(tmp_path):
    failing = tmp_path / "fail.yml"
    failing.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: msg=no\n")
    result = play(str(failing), cwd=tmp_path)
    assert result.returncode == 2
    assert "failed=1" in result.stdout
    no_scratch = play(str(EVERYTHING), cwd=tmp_path)
    assert no_scratch.returncode == 2
    assert "run with -e scratch=/some/empty/dir" in no_scratch.stdout


def test_adhoc_run(tmp_path):
    result = tk("run", "-c", "local", "-i", "localhost,", "all", "-m", "ping", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('localhost | SUCCESS => {\n    "changed": false,')
    target = tmp_path / "touched"
    one = tk("run", "-c", "local", "-i", "localhost,", "localhost", "-m", "file",
             "-a", f"path={target} state=touch", "-o", cwd=tmp_path)  # fmt: skip
    assert one.stdout.startswith("localhost | CHANGED => {") and one.stdout.count("\n") == 1
    assert target.exists()
