"""Ansible Vault: compatibility with ansible-vault's output, `!vault` variables, filters."""

from __future__ import annotations

import pytest

from toolkit.errors import TemplateError
from toolkit.templating import LazyVars, Templar
from toolkit.vault import VaultError, decrypt, encrypt, is_encrypted, read_password_file
from toolkit.yamlfile import loads

# Made by ansible-core 2.19: `ansible-vault encrypt_string --vault-password-file pw 'hello vault'`
# with the password "pw123".
ANSIBLE_MADE = """x: !vault |
          $ANSIBLE_VAULT;1.1;AES256
          66343632363630323561343036623233663834396631653537303230636661616632376136333766
          3537396239386561663238313836663764643962386438380a333564373462303839373635613361
          39343562383662333764626131356630366435333837383230633634633034333934376364356538
          3530666633383864370a336439383164616339346232306430613135623061616261626231623033
          3533
"""


def test_decrypts_ansible_vault_output():
    text = loads(ANSIBLE_MADE, "vars.yml")["x"]
    assert is_encrypted(text)
    assert decrypt(text, [b"wrong", "pw123"]) == b"hello vault"


@pytest.mark.parametrize("vault_id", [None, "prod"])
def test_encrypt_round_trip_and_format(vault_id):
    text = encrypt("multi\nline é\n", "s3cret", vault_id=vault_id)
    header, *body = text.splitlines()
    assert header == ("$ANSIBLE_VAULT;1.2;AES256;prod" if vault_id else "$ANSIBLE_VAULT;1.1;AES256")
    assert all(len(line) <= 80 for line in body)
    assert decrypt(text, ["s3cret"]).decode() == "multi\nline é\n"
    assert encrypt("x", "k") != encrypt("x", "k")  # random salt


@pytest.mark.parametrize(
    "text, secrets, message",
    [
        ("plain text", ["pw"], "not vault-encrypted data"),
        ("$ANSIBLE_VAULT;9.9;AES256\n00", ["pw"], "unsupported vault format"),
        ("$ANSIBLE_VAULT;1.1;AES256\nzz", ["pw"], "damaged"),
        (encrypt("x", "right"), ["wrong"], "no vault password matches"),
        (encrypt("x", "right"), [], "no vault password was given"),
    ],
)
def test_decrypt_errors(text, secrets, message):
    with pytest.raises(VaultError, match=message):
        decrypt(text, secrets)


def test_vault_variables_in_lazy_vars():
    layer = loads(ANSIBLE_MADE + "y: 'says {{ x }}'\n", "vars.yml")
    t = Templar(LazyVars(layer, vault_secrets=[b"pw123"]))
    assert t.render("{{ y }}") == "says hello vault"
    assert t.copy_with({"i": 1}).render("{{ x | upper }}") == "HELLO VAULT"
    with pytest.raises(TemplateError) as info:
        Templar(LazyVars(layer)).render("{{ y }}")
    assert "cannot decrypt variable 'x': encrypted data found but no vault password" in str(
        info.value.message
    )
    assert info.value.hint == "give --vault-password-file"
    with pytest.raises(TemplateError, match="no vault password matches"):
        Templar(LazyVars(layer, vault_secrets=[b"nope"])).render("{{ x }}")


def test_vault_and_unvault_filters():
    t = Templar({"secret": "pw"})
    text = t.render("{{ 'data' | vault(secret) }}")
    assert isinstance(text, str) and text.startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert t.copy_with({"v": text}).render("{{ v | unvault('pw') }}") == "data"
    with pytest.raises(TemplateError, match="unvault: decryption failed"):
        t.copy_with({"v": text}).render("{{ v | unvault('bad') }}")


def test_password_file(tmp_path):
    path = tmp_path / "pw"
    path.write_bytes(b"pw123\nignored\n")
    assert read_password_file(str(path)) == b"pw123"
    path.write_bytes(b"\n")
    with pytest.raises(VaultError, match="is empty"):
        read_password_file(str(path))
    with pytest.raises(VaultError, match="cannot read vault password file"):
        read_password_file(str(tmp_path / "missing"))
