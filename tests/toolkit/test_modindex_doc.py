"""modindex (FQCN resolution, spec parsed without importing, did-you-mean) and `tk doc`."""

import pytest

from toolkit import modindex
from toolkit.cli.tk import main as tk_main
from toolkit.errors import ModuleNotFound


@pytest.mark.parametrize(
    "name",
    [
        "ping",
        "ansible.builtin.ping",
        "ansible.legacy.ping",
        "ansible.posix.ping",
        "community.general.ping",
        "community.docker.ping",
    ],
)
def test_fqcn_resolution(name):
    info = modindex.find_module(name)
    assert info.name == "ping" and info.path.endswith("modules/ping.py")
    assert info.spec == {"data": {"type": "str", "default": "pong"}} and info.in_process
    assert len(info.digest) == 40


def test_unknown_module_did_you_mean():
    with pytest.raises(ModuleNotFound) as err:
        modindex.find_module("ansible.builtin.comand")
    assert "comand" in err.value.message and err.value.hint == "did you mean 'command'?"
    with pytest.raises(ModuleNotFound):
        modindex.find_module("_utils")


def test_spec_parsed_without_importing(tmp_path):
    (tmp_path / "tkt_boom.py").write_text(
        '"""Doc line."""\nraise SystemExit("imported!")\n'
        'ARGUMENT_SPEC = {"a": {"type": "int", "required": True}}\nFREE_FORM = "a"\n'
    )
    info = modindex.find_module("tkt_boom", extra_dirs=[str(tmp_path)])
    assert info.doc == "Doc line." and info.spec["a"]["required"] and info.free_form == "a"
    assert "tkt_boom" in modindex.list_modules([str(tmp_path)])


def test_utils_sources_include_subpackages():
    sources = modindex.utils_sources()
    assert "module.py" in sources and "facts/__init__.py" in sources


def test_tk_doc(capsys):
    assert tk_main(["doc", "ansible.builtin.command"]) == 0
    out = capsys.readouterr().out
    assert "> COMMAND" in out and "- chdir" in out and "mutually exclusive: cmd|argv" in out
    assert tk_main(["doc", "-l"]) == 0
    listing = capsys.readouterr().out
    assert any(line.startswith("ping ") and "pong" in line for line in listing.splitlines())
    assert tk_main(["doc", "pnig"]) == 5
    assert "did you mean 'ping'?" in capsys.readouterr().err
    assert tk_main(["doc", "-j", "stat"]) == 0
    assert '"in_process": true' in capsys.readouterr().out
