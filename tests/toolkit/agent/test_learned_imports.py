"""The agent learns what a forked module imported lazily and pre-imports it on the second use,
so that later children inherit it (a real agent subprocess, a real module directory)."""

import sys
import textwrap

import pytest

from toolkit.transport.local import LocalConnection

LAZY = """
    import sys
    ARGUMENT_SPEC = {}
    def main(module):
        inherited = "tkt_lazy_dep" in sys.modules
        import tkt_lazy_dep
        return {"inherited": inherited, "value": tkt_lazy_dep.VALUE}
"""


@pytest.fixture
def conn(tmp_path, monkeypatch):
    library = tmp_path / "library"
    library.mkdir()
    (library / "tkt_lazy.py").write_text(textwrap.dedent(LAZY))
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "tkt_lazy_dep.py").write_text("VALUE = 42\n")
    monkeypatch.setenv("PYTHONPATH", str(deps))
    with LocalConnection(python=sys.executable, module_dirs=(str(library),)) as connection:
        yield connection


def test_second_and_later_runs_inherit_lazy_imports(conn):
    first = conn.run_module("tkt_lazy", {})
    assert first["inherited"] is False and first["value"] == 42
    assert not any(key.startswith("_tk") for key in first)  # agent-internal: not shown
    later = [conn.run_module("tkt_lazy", {}) for _ in range(3)]
    assert [r["inherited"] for r in later] == [True, True, True]
    assert all(r["value"] == 42 and not r["failed"] for r in later)
