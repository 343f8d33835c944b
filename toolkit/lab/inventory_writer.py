"""Files that let tools reach a lab: inventory.ini, ssh_config and known_hosts in the lab dir.

The inventory works for tk and for Ansible alike: known_hosts and strict checking are passed as
`-o` options in `ansible_ssh_common_args`, which both honour.
"""

from __future__ import annotations

import os
from typing import Dict, List

from toolkit.lab.state import HostState, LabState


def _write(path: str, text: str, mode: int = 0o644) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def inventory_text(state: LabState, key_file: str, known_hosts: str) -> str:
    lines = [f"# tk lab {state.name!r}: written by `tk lab up`, removed by `tk lab down`", "[lab]"]
    lines += [f"{h.name} ansible_host={h.address}" for h in state.hosts]
    common = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    lines += [
        "",
        "[lab:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={key_file}",
        f"ansible_ssh_common_args='{common}'",
        "",
    ]
    return "\n".join(lines)


def ssh_config_text(state: LabState, key_file: str, known_hosts: str) -> str:
    blocks = [f"# tk lab {state.name!r}: use with `ssh -F {state.directory}/ssh_config HOST`"]
    for host in state.hosts:
        blocks.append(
            f"Host {host.name}\n"
            f"  HostName {host.address}\n"
            "  User root\n"
            f"  IdentityFile {key_file}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known_hosts}\n"
            "  StrictHostKeyChecking yes\n"
        )
    return "\n".join(blocks)


def known_hosts_text(hosts: List[HostState], host_keys: Dict[str, str]) -> str:
    """One line per host, under both its name and its address."""
    return "".join(f"{h.name},{h.address} {host_keys[h.name]}\n" for h in hosts)


def write_all(state: LabState, key_file: str, host_keys: Dict[str, str]) -> None:
    known_hosts = os.path.join(state.directory, "known_hosts")
    _write(known_hosts, known_hosts_text(state.hosts, host_keys))
    _write(
        os.path.join(state.directory, "inventory.ini"), inventory_text(state, key_file, known_hosts)
    )
    _write(
        os.path.join(state.directory, "ssh_config"), ssh_config_text(state, key_file, known_hosts)
    )
