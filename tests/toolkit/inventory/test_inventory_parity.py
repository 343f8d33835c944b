"""`tk inventory` prints what ansible-inventory prints, for every case in cases.json.

The expected outputs in tests/fixtures/inventory/expected/ were produced by ansible-core
2.19.14's `ansible-inventory` on the same fixtures (see regen.py there).
"""

import json
import os
from pathlib import Path

import pytest

from toolkit.cli.tk import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inventory"
CASES = json.loads((FIXTURES / "cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_output_matches_ansible_inventory(case, capsys, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    assert main(["inventory", *case["args"]]) == 0
    expected = (FIXTURES / "expected" / (case["name"] + ".out")).read_text()
    assert capsys.readouterr().out == expected


def test_output_file_and_warnings(tmp_path, capsys):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("web:\n  hosts:\n    w1:\n  host:\n    typo:\n")
    out = tmp_path / "out.json"
    assert main(["inventory", "-i", str(inventory), "--list", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["web"] == {"hosts": ["w1"]}
    assert data["all"] == {"children": ["ungrouped", "web"]}
    err = capsys.readouterr().err
    assert "[WARNING]: Skipping unexpected key (host) in group (web)" in err


def test_cli_errors_are_one_message_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.ini"
    bad.write_text("[web]\nw1\n[web:child]\nx\n")
    assert main(["inventory", "-i", str(bad), "--list"]) == 5
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("ERROR! section [web:child] has unknown type 'child'")
    assert f"in {bad}:3:6" in err
    assert main(["inventory", "--list"]) == 5
    assert "no inventory given" in capsys.readouterr().err
    assert main(["inventory", "-i", str(FIXTURES / "order/hosts.ini"), "--host", "web"]) == 5
    assert "exactly one host" in capsys.readouterr().err
    assert main(["inventory", "-i", os.devnull, "--graph", "nosuch"]) == 5
    assert "no group 'nosuch'" in capsys.readouterr().err
