"""Ansible Vault 1.1/1.2 (AES256) encryption and decryption, compatible with `ansible-vault`.

Format: a header line `$ANSIBLE_VAULT;1.1;AES256` (1.2 adds `;vault-id`), then the hex of
`hex(salt) \\n hex(hmac) \\n hex(ciphertext)` in 80-column lines. Keys come from
PBKDF2-HMAC-SHA256 (10000 rounds, 80 bytes: AES key, HMAC key, CTR nonce); the plaintext is
PKCS#7-padded and AES-256-CTR encrypted; the HMAC-SHA256 covers the ciphertext.
"""

from __future__ import annotations

import binascii
import hmac
import os
from hashlib import sha256
from typing import Iterable, Optional, Union

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from toolkit.errors import TkError

HEADER = "$ANSIBLE_VAULT"
_ITERATIONS = 10000


class VaultError(TkError):
    """Vault data that cannot be decrypted (wrong password, damaged text) or encrypted."""


def is_encrypted(data: Union[str, bytes]) -> bool:
    """True when `data` starts with the vault header."""
    if isinstance(data, bytes):
        return data.lstrip().startswith(HEADER.encode())
    return isinstance(data, str) and data.lstrip().startswith(HEADER)


def _keys(secret: bytes, salt: bytes) -> tuple:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=_ITERATIONS)
    derived = kdf.derive(secret)
    return derived[:32], derived[32:64], derived[64:80]


def _as_bytes(value: Union[str, bytes]) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def encrypt(
    plaintext: Union[str, bytes],
    secret: Union[str, bytes],
    vault_id: Optional[str] = None,
    salt: Optional[bytes] = None,
) -> str:
    """Vault text for `plaintext` (1.2 format with `vault_id`, else 1.1)."""
    secret = _as_bytes(secret)
    if not secret:
        raise VaultError("a vault password must not be empty")
    salt = salt or os.urandom(32)
    key, hmac_key, nonce = _keys(secret, salt)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(_as_bytes(plaintext)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(hmac_key, ciphertext, sha256).hexdigest().encode()
    body = binascii.hexlify(
        b"\n".join([binascii.hexlify(salt), mac, binascii.hexlify(ciphertext)])
    ).decode()
    header = f"{HEADER};1.2;AES256;{vault_id}" if vault_id else f"{HEADER};1.1;AES256"
    lines = [body[i : i + 80] for i in range(0, len(body), 80)]
    return "\n".join([header, *lines]) + "\n"


def _parse(text: str) -> tuple:
    lines = text.strip().splitlines()
    fields = lines[0].strip().split(";") if lines else []
    if len(fields) < 3 or fields[0] != HEADER:
        raise VaultError("not vault-encrypted data (no $ANSIBLE_VAULT header)")
    if fields[1] not in ("1.1", "1.2") or fields[2].strip() != "AES256":
        raise VaultError(f"unsupported vault format {';'.join(fields[1:3])}")
    try:
        inner = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac, cipher_hex = inner.split(b"\n", 2)
        return binascii.unhexlify(salt_hex), mac, binascii.unhexlify(cipher_hex)
    except (binascii.Error, ValueError):
        raise VaultError("vault data is damaged (bad hex encoding)") from None


def decrypt(text: Union[str, bytes], secrets: Iterable[Union[str, bytes]]) -> bytes:
    """The plaintext of vault `text`, trying each secret; VaultError when none fits."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    salt, mac, ciphertext = _parse(text)
    tried = False
    for secret in secrets:
        tried = True
        key, hmac_key, nonce = _keys(_as_bytes(secret), salt)
        expected = hmac.new(hmac_key, ciphertext, sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, mac):
            continue
        decryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise VaultError("vault data is damaged (bad padding)") from None
    if not tried:
        raise VaultError("encrypted data found but no vault password was given")
    raise VaultError("decryption failed: no vault password matches")


def read_password_file(path: str) -> bytes:
    """A vault password file's first line (as ansible-vault reads it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise VaultError(f"cannot read vault password file {path}: {exc.strerror}") from None
    secret = data.splitlines()[0].strip() if data.strip() else b""
    if not secret:
        raise VaultError(f"vault password file {path} is empty")
    return secret
