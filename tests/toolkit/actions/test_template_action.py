"""The template action end to end: render with the host's variables, copy through the agent."""

import os
import stat

import pytest

from tests.toolkit.actions.conftest import context
from toolkit.actions import template as template_action
from toolkit.templating import Templar


@pytest.fixture
def run(conn, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()

    def runner(args, variables=None, check=False, diff=False):
        variables = dict(variables or {}, inventory_hostname="web1")
        ctx = context(
            "template", args, conn, tmp_path, "web1", variables, Templar(variables), check, diff
        )
        return template_action.run(ctx)

    runner.templates = templates
    return runner


def test_render_write_idempotent_and_diff(run, tmp_path):
    (run.templates / "nginx.conf.j2").write_text(
        "# {{ ansible_managed }}\nserver_name {{ inventory_hostname }};\n"
        "{% for p in ports %}\nlisten {{ p }};\n{% endfor %}\n"
    )
    dest = tmp_path / "nginx.conf"
    args = {"src": "nginx.conf.j2", "dest": str(dest), "mode": "0600"}
    first = run(args, {"ports": [80, 443]})
    assert first["changed"] is True, first
    assert dest.read_text() == ("# Ansible managed\nserver_name web1;\nlisten 80;\nlisten 443;\n")
    assert stat.S_IMODE(os.stat(str(dest)).st_mode) == 0o600
    assert run(args, {"ports": [80, 443]})["changed"] is False
    changed = run(args, {"ports": [8080]}, check=True, diff=True)
    assert changed["changed"] is True and "listen 443;" in changed["diff"]["before"]
    assert changed["diff"]["after"].endswith("listen 8080;\n")
    assert "listen 443;" in dest.read_text()


def test_dest_directory_uses_template_basename(run, tmp_path):
    (run.templates / "motd").write_text("hello {{ who }}\n")
    out = tmp_path / "etc"
    out.mkdir()
    result = run({"src": "motd", "dest": str(out)}, {"who": "world"})
    assert result["changed"] and (out / "motd").read_text() == "hello world\n"


def test_template_variables_and_options(run, tmp_path):
    (run.templates / "t.j2").write_text(
        "{{ template_destpath }} {{ template_host | length > 0 }}\n"
        "  {% if true %}\nx\n  {% endif %}\n"
    )
    dest = tmp_path / "t"
    run({"src": "t.j2", "dest": str(dest), "lstrip_blocks": True, "newline_sequence": "\r\n"})
    assert dest.read_bytes() == f"{dest} True\r\nx\r\n".encode()
    assert sorted(os.listdir(str(run.templates))) == ["t.j2"]


def test_undefined_variable_is_a_clear_failure(run, tmp_path):
    (run.templates / "bad.j2").write_text("{{ missing_var }}\n")
    result = run({"src": "bad.j2", "dest": str(tmp_path / "bad")})
    assert result["failed"] and "missing_var" in result["msg"]
    assert not (tmp_path / "bad").exists()


def test_bad_arguments(run, tmp_path):
    typo = run({"src": "x.j2", "dest": str(tmp_path / "x"), "trim_block": False})
    assert typo["failed"] and "trim_blocks" in typo["msg"]
    content = run({"content": "x", "dest": str(tmp_path / "x")})
    assert content["failed"] and "content" in content["msg"]
