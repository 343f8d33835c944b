"""Helpers for the SSH transport tests: connections to lab hosts and a tiny test module."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from toolkit.lab import Lab
from toolkit.transport.ssh import SSHConnection

WHOAMI = '''"""Test module: where am I and who am I."""
import os
import socket

ARGUMENT_SPEC = {}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True


def main(module):
    return {"changed": False, "hostname": socket.gethostname(), "uid": os.getuid(),
            "ssh_client": os.environ.get("SSH_CLIENT", "")}
'''


def module_dir(tmp_path) -> str:
    directory = tmp_path / "testmodules"
    directory.mkdir(exist_ok=True)
    (directory / "tkt_whoami.py").write_text(WHOAMI)
    return str(directory)


class Connections:
    """Opens SSHConnections to lab hosts and closes them all at the end of a test."""

    def __init__(self, modules: str) -> None:
        self.modules = modules
        self.opened: List[SSHConnection] = []

    def make(self, lab: Lab, host: str, **variables: Any) -> SSHConnection:
        names = [h.name for h in lab.hosts]
        merged: Dict[str, Any] = dict(lab.host_vars(host)) if host in names else {}
        merged.update(variables)
        conn = SSHConnection.from_vars(host, {k: v for k, v in merged.items() if v is not None})
        conn.module_dirs = (self.modules,)
        self.opened.append(conn)
        return conn

    def open(self, lab: Lab, host: str, **variables: Any) -> SSHConnection:
        conn = self.make(lab, host, **variables)
        conn.open()
        return conn

    def close_all(self) -> None:
        for conn in reversed(self.opened):
            conn.close()


def target_processes(conn: SSHConnection) -> str:
    """`ps` of the target host, read through an exec channel of the connection's client."""
    assert conn.ssh is not None
    chan = conn.ssh.exec("ps -eo user,args")
    out = b"".join(iter(lambda: chan.recv(65536), b""))
    chan.close()
    return out.decode()


def key_pair(path: str) -> str:
    from toolkit.lab.keys import write_keypair

    write_keypair(path, "test")
    return path if os.path.exists(path) else ""
