"""A template task that fails names the line inside the .j2 file (undefined variable, Jinja
syntax error), also with a `#jinja2:` header and with task-level Jinja options."""

from __future__ import annotations

import pytest
from test_executor_play import play

TEMPLATES = {
    "undefined.j2": ("line one\nvalue={{ missing_var }}\n", 2),
    "syntax.j2": ("a\n{% for x in [1] %}\n{{ x }}\n", 3),
    "header.j2": ("#jinja2: trim_blocks: False\nline one\nvalue={{ missing_var }}\n", 3),
}


@pytest.mark.parametrize("options", ["", " lstrip_blocks=true"])
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_error_names_the_line(tmp_path, name, options):
    text, line = TEMPLATES[name]
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / name).write_text(text)
    code, stats, rec = play(
        tmp_path,
        f"""
        - hosts: localhost
          gather_facts: false
          tasks:
            - template: src={name} dest={tmp_path}/out{options}
        """,
        connection="local",
    )
    assert code == 2
    msg = rec.events[0].result["msg"]
    assert f"{tmp_path / 'templates' / name}:{line})" in msg, msg
    assert not (tmp_path / "out").exists()
    assert not [p for p in (tmp_path / "templates").iterdir() if p.name != name]  # no copy left
