"""Less common sources: inventory scripts, vault-encrypted vars files, YAML named like INI."""

import os
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory import Inventory

SCRIPT = Path(__file__).resolve().parents[2] / "fixtures" / "inventory" / "script" / "inventory.py"


def test_script_without_meta_is_asked_per_host(monkeypatch):
    monkeypatch.setenv("NO_META", "1")
    inventory = Inventory.load([str(SCRIPT)])
    assert inventory.select("web") == ["s1", "s2", "s3"]
    assert inventory.host_vars("s2")["asked"] == "s2"
    assert inventory.host_vars("solo")["x"] == 2


def _script(tmp_path, text: str):
    """An executable inventory script `inv.sh` with this text."""
    script = tmp_path / "inv.sh"
    script.write_text(text)
    script.chmod(0o755)
    return script


def test_failing_script_is_one_error(tmp_path):
    script = _script(tmp_path, "#!/bin/sh\necho boom >&2\nexit 3\n")
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(script)])
    assert caught.value.message == f"inventory script '{script} --list' exited 3: boom"
    assert caught.value.location.path == str(script)


def test_script_printing_garbage(tmp_path):
    script = _script(tmp_path, "#!/bin/sh\necho '{not json'\n")
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(script)])
    expected = f"inventory script '{script} --list' printed invalid JSON"
    assert caught.value.message.startswith(expected)
    assert caught.value.location.path == str(script)


def test_script_failing_per_host_names_the_host(tmp_path):
    script = _script(
        tmp_path, '#!/bin/sh\n[ "$1" = --list ] && echo \'{"web": ["w1"]}\' || echo nope\n'
    )
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(script)])
    assert f"inventory script '{script} --host w1' printed invalid JSON" in caught.value.message


def test_executable_ini_without_shebang_is_still_ini(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("[web]\nw1\n")
    path.chmod(0o755)
    assert Inventory.load([str(path)]).select("web") == ["w1"]


def test_vault_encrypted_vars_file_is_refused_clearly(tmp_path):
    (tmp_path / "hosts").write_text("w1\n")
    (tmp_path / "host_vars").mkdir()
    vaulted = tmp_path / "host_vars" / "w1.yml"
    vaulted.write_text("$ANSIBLE_VAULT;1.1;AES256\n6162636465\n")
    inventory = Inventory.load([str(tmp_path / "hosts")])
    with pytest.raises(InventoryError, match="vault-encrypted variables files are not supported"):
        inventory.host_vars("w1")


def test_ini_content_in_a_yml_file(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text("[web]\nw1 x=1\n")
    inventory = Inventory.load([str(path)])
    assert inventory.host_vars("w1")["x"] == 1


def test_group_vars_path_that_is_a_file_warns(tmp_path):
    (tmp_path / "hosts").write_text("w1\n")
    (tmp_path / "group_vars").write_text("oops\n")
    inventory = Inventory.load([str(tmp_path / "hosts")])
    assert inventory.host_vars("w1")["inventory_file"] == str(tmp_path / "hosts")
    assert any("that is not a directory" in w for w in inventory.warnings)


def test_relative_sources_resolve_against_cwd(tmp_path, monkeypatch):
    (tmp_path / "hosts").write_text("w1\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("g: 1\n")
    monkeypatch.chdir(tmp_path)
    inventory = Inventory.load(["hosts"])
    assert inventory.host_vars("w1")["g"] == 1
    assert inventory.host_vars("w1")["inventory_dir"] == os.fspath(tmp_path)


def test_byte_order_mark_is_ignored(tmp_path):
    (tmp_path / "hosts.ini").write_bytes("\ufeff[web]\nw1\n".encode())
    (tmp_path / "hosts.yml").write_bytes("\ufeffdb:\n  hosts:\n    d1:\n".encode())
    inventory = Inventory.load([str(tmp_path / "hosts.ini"), str(tmp_path / "hosts.yml")])
    assert inventory.select("web:db") == ["w1", "d1"]


def test_ten_thousand_hosts_written_out_in_yaml_load_in_reasonable_time(tmp_path):
    import time

    lines = ["web:", "  hosts:"]
    lines += [f"    h{i:05d}:\n      idx: {i}" for i in range(10000)]
    (tmp_path / "hosts.yml").write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    inventory = Inventory.load([str(tmp_path / "hosts.yml")])
    assert len(inventory.select("web")) == 10000
    assert inventory.host_vars("h09999")["idx"] == 9999
    assert time.perf_counter() - start < 5.0  # ~0.6 s with libyaml on an idle core


def test_tilde_in_a_source_is_the_home_directory(tmp_path, monkeypatch):
    (tmp_path / "hosts").write_text("w1\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Inventory.load(["~/hosts"]).select("all") == ["w1"]
