"""Key material for lab hosts: ed25519 key pairs in OpenSSH format and known_hosts lines."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def write_keypair(path: str, comment: str) -> str:
    """Write a new ed25519 private key at `path` (0600) and `path.pub`; return the public line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {comment}\n"
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    os.replace(path + ".tmp", path)
    with open(path + ".pub", "w") as fh:
        fh.write(line)
    return line


def ensure_keypair(path: str, comment: str) -> str:
    """The public line of the key pair at `path`, made first if it does not exist."""
    if os.path.exists(path) and os.path.exists(path + ".pub"):
        with open(path + ".pub") as fh:
            return fh.read()
    return write_keypair(path, comment)


def public_key_of(line: str) -> str:
    """'ssh-ed25519 AAAA...' from a public key line (drops the comment)."""
    kind, blob = line.split()[:2]
    return f"{kind} {blob}"
