"""tke's command line: help, references, Go templates, TTY progress, human sizes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from toolkit.engine import gotemplate, humanize
from toolkit.engine.reference import parse
from toolkit.errors import UsageError

REFERENCES = [
    ("nginx", "docker.io/library/nginx:latest", "nginx:latest"),
    ("user/app:1.2", "docker.io/user/app:1.2", "user/app:1.2"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest", "127.0.0.1:5000/team/app:latest"),
    ("localhost/app:dev", "localhost/app:dev", "localhost/app:dev"),
    (
        "quay.io/org/img@sha256:" + "a" * 64,
        "quay.io/org/img@sha256:" + "a" * 64,
        "quay.io/org/img@sha256:" + "a" * 64,
    ),
    ("reg.example:443/a/b/c:t", "reg.example:443/a/b/c:t", "reg.example:443/a/b/c:t"),
]


@pytest.mark.parametrize("text,full,familiar", REFERENCES)
def test_reference_normalisation(text, full, familiar):
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar


@pytest.mark.parametrize("bad", ["", "Nginx", "a//b", "a:", "a@sha256:12", "-a", "a/..", "x y"])
def test_bad_references(bad):
    with pytest.raises(UsageError, match="invalid reference format"):
        parse(bad)


def test_help_and_version():
    env = dict(os.environ, TKE_ROOT="/nonexistent-tkt-img")
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0
    for verb in (
        "pull",
        "push",
        "images",
        "rmi",
        "tag",
        "history",
        "search",
        "save",
        "load",
        "import",
        "login",
        "logout",
        "image",
        "system",
    ):
        assert f"    {verb} " in proc.stdout or f"    {verb}\n" in proc.stdout, verb
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "image", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "prune" in proc.stdout and "inspect" in proc.stdout and "ls" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "pull"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and "the following arguments are required" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["-v"], ["--root", "/elsewhere", "-D", "--version"], ["--version", "ps"]],
)
def test_version_flag(argv):
    from toolkit import __version__

    env = dict(os.environ, TKE_ROOT="/nonexistent-tkt-img")
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", *argv], capture_output=True, text=True,
        env=env,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"tke version {__version__}\n", "")


def test_version_flag_with_a_bad_flag_is_a_usage_error():
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "--version", "--bogus"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 125 and "unknown flag: --bogus" in proc.stderr


def test_go_templates():
    data = {
        "Id": "sha256:abc",
        "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v"}},
        "RepoTags": [],
        "Size": 10,
    }
    rendered = {
        "{{.Id}}": "sha256:abc",
        "{{json .Config.Env}}": '["A=1","B=2"]',
        '{{index .Config.Labels "k"}}': "v",
        # as Go: a missing key is the zero value (docker prints an empty line for labels)
        '[{{index .Config.Labels "nope"}}]': "[]",
        '{{join .Config.Env ","}}': "A=1,B=2",
        "{{range .Config.Env}}[{{.}}]{{end}}": "[A=1][B=2]",
        "{{range $i, $e := .Config.Env}}{{$i}}{{$e}};{{end}}": "0A=1;1B=2;",
        "{{if .RepoTags}}tagged{{else}}none{{end}}": "none",
        "{{.Missing}}": "<no value>",
        "{{.Config.Env | json}}": '["A=1","B=2"]',
        "{{$x := .Size}}{{$x}} {{$.Id}}": "10 sha256:abc",
        "{{with $c := .Config}}{{len $c.Env}}{{end}}": "2",
        '{{if eq .Size 10 11}}y{{end}}{{if ne .Id "x"}}n{{end}}': "yn",
        "{{if and .Size (not .RepoTags)}}ok{{end}}": "ok",
        '{{or .Missing "default"}} {{lt 1 2}}': "default true",
        '{{.Id | printf "<%s>"}} {{split .Id ":"}}': "<sha256:abc> [sha256 abc]",
    }
    assert {t: gotemplate.render(t, data) for t in rendered} == rendered
    assert gotemplate.render('[{{index .Labels "nope"}}]', {"Labels": None}) == "[]"
    ports = {"Ports": {"80/tcp": [{"HostPort": "8080"}], "443/tcp": [{"HostPort": "8443"}]}}
    assert gotemplate.render('{{index .Ports "82/tcp"}}', ports) == "[]"
    assert gotemplate.render('{{(index (index .Ports "80/tcp") 0).HostPort}}', ports) == "8080"
    each = "{{range $p, $c := .Ports}}{{$p}}>{{(index $c 0).HostPort}} {{end}}"
    assert gotemplate.render(each, ports) == "443/tcp>8443 80/tcp>8080 "  # a map: sorted keys
    errors = {
        "{{range .X}}": "missing",
        "{{bogus .X}}": "not defined",
        "{{.Config.Env}} and {{": "unclosed action",
        "{{$nope}}": "undefined variable",
        "{{(index .Config.Env 0}}": "unclosed left paren",
        '{{.Id "x"}}': "non-function",
        "{{index .Config.Env 5}}": "error calling index: index out of range: 5",
        '{{index (index .Config.Labels "k") 0 1}}': "error calling index",
        "{{index .Nothing 0}}": "index of untyped nil",
    }
    for template, message in errors.items():
        with pytest.raises(UsageError, match=message):
            gotemplate.render(template, data)


def test_human_units():
    assert humanize.size(4261550) == "4.26MB"
    assert humanize.size(1240) == "1.24kB"
    assert humanize.size(999) == "999B"
    assert humanize.duration(90) == "About a minute"
    assert humanize.duration(3 * 86400) == "3 days"


@pytest.mark.engine
def test_pull_progress_on_a_tty(registry, tke_root):
    pexpect = pytest.importorskip("pexpect")
    env = dict(os.environ, TKE_ROOT=str(tke_root))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "toolkit.engine.cli", "pull", f"{registry.host}/multi"],
        env=env,
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.decode()
    assert child.exitstatus == 0, out
    assert "\x1b[2K" in out and "Pull complete" in out
    assert f"Status: Downloaded newer image for {registry.host}/multi:latest" in out


def test_unknown_flag_exits_125_as_docker(tmp_path):
    env = dict(os.environ, TKE_ROOT=str(tmp_path))
    for argv in (["run", "--bogus", "busybox"], ["ps", "--no-such-flag"]):
        proc = subprocess.run(
            [sys.executable, "-m", "toolkit.engine.cli", *argv],
            capture_output=True,
            text=True,
            env=env,
        )
        assert proc.returncode == 125, (argv, proc.stderr)
        assert "unknown flag: --" in proc.stderr and "Traceback" not in proc.stderr
        if argv[0] == "run":  # as docker's: the flag, then where the help is (once)
            assert proc.stderr == (
                "tke: unknown flag: --bogus\n\nRun 'tke run --help' for more information\n"
            )


def test_unknown_verb_is_docker_s_message_with_the_closest_verb(tmp_path):
    env = dict(os.environ, TKE_ROOT=str(tmp_path))
    tke = [sys.executable, "-m", "toolkit.engine.cli"]
    # the seed primer spells `exec` as `extc` once
    proc = subprocess.run([*tke, "extc", "-it", "c", "sh"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "'extc' is not a tke command" in proc.stderr
    assert "did you mean 'exec'?" in proc.stderr and "choose from" not in proc.stderr
    proc = subprocess.run([*tke, "container", "lss"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "did you mean 'ls'?" in proc.stderr


def _subparsers(parser):
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _options(parser) -> dict:
    return {a.dest: (tuple(a.option_strings), a.nargs, a.default) for a in parser._actions}


def test_group_fast_paths_build_the_same_verb_as_the_full_parser():
    from toolkit.engine.cli import GROUP_VERBS, build_parser

    full, _ = build_parser()
    groups = _subparsers(full).choices
    for group, verbs in GROUP_VERBS.items():
        full_group = _subparsers(groups[group]).choices
        assert sorted(full_group) == sorted(verbs), group  # the table lists every verb
        for verb, module in verbs.items():
            wanted = "ls" if verb == "list" else verb
            lean, _ = build_parser(module, wanted, group)
            lean_group = _subparsers(_subparsers(lean).choices[group]).choices
            assert wanted in lean_group, (group, verb, module)
            assert _options(lean_group[wanted]) == _options(full_group[wanted]), (group, verb)
            assert _subparsers(lean).choices.keys() == {group}  # nothing else was built


def test_inspect_fast_paths_have_the_inspectors_they_need():
    from toolkit.engine.cli import INSPECT_TYPES, build_parser

    _, full = build_parser()
    kinds = [kind for kind, _ in full.inspectors]
    assert sorted(kinds) == sorted(INSPECT_TYPES)
    _, untyped = build_parser(None, "inspect")
    assert [kind for kind, _ in untyped.inspectors] == kinds  # the same order: same answers
    for kind, module in INSPECT_TYPES.items():
        parser, reg = build_parser(module, "inspect")
        assert kind in [k for k, _ in reg.inspectors]
        assert list(_subparsers(parser).choices) == ["inspect"]


E = "toolkit.engine."


@pytest.mark.parametrize(
    "argv, target",
    [
        (["volume", "ls"], (E + "cli_volumes", "ls", "volume")),
        (["--root", "/r", "container", "list", "-a"], (E + "cli_containers", "ls", "container")),
        (["container", "update", "x"], (E + "cli_update", "update", "container")),
        (["system", "df"], (E + "cli_images", "df", "system")),
        (["inspect", "--type=volume", "v"], (E + "cli_volumes", "inspect", None)),
        (["inspect", "x"], (None, "inspect", None)),
        (["volume"], (None, None, None)),
        (["volume", "lss"], (None, None, None)),
        (["volume", "--help"], (None, None, None)),
        (["--help", "volume", "ls"], (None, None, None)),
        (["-h", "inspect", "x"], (None, None, None)),
    ],
)  # fmt: skip
def test_fast_target(argv, target):
    from toolkit.engine.cli import _fast_target

    assert _fast_target(argv) == target


def test_group_verb_typo_still_gets_docker_s_hint(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.engine.cli", "--root", str(tmp_path), "volume", "lss"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "'lss' is not a tke command" in proc.stderr and "did you mean 'ls'?" in proc.stderr
