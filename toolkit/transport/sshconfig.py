"""Where and how to connect to a host: inventory variables + ssh options + OpenSSH config.

`resolve(name, variables)` gives an `SSHTarget`. Precedence, as with Ansible driving OpenSSH:
inventory variables (`ansible_host`, `ansible_port`, `ansible_user`,
`ansible_ssh_private_key_file`, `ansible_password`), then options in `ansible_ssh_common_args` /
`ansible_ssh_extra_args` (`-o Key=Value`, `-F`, `-J`, `-i`, `-p`, `-l`), then the ssh config file
(`-F FILE`, `ansible_ssh_config_file` / `tk_ssh_config`, $TK_SSH_CONFIG, else ~/.ssh/config):
HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump, ProxyCommand, ConnectTimeout,
UserKnownHostsFile, StrictHostKeyChecking, ServerAliveInterval and ServerAliveCountMax (their
product is the dead-peer timeout unless `tk_dead_peer_timeout` is set). The config is matched
against `ansible_host` when set, else the inventory name.
"""

from __future__ import annotations

import getpass
import os
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from toolkit.errors import UsageError
from toolkit.transport.sshlib import paramiko

DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_DEAD_PEER_TIMEOUT = 15.0  # a host silent this long mid-run is unreachable (0: never)
MAX_JUMPS = 8


@dataclass
class SSHTarget:
    """Everything needed to open one SSH connection (jumps first, in order)."""

    name: str  # what messages call the host (the inventory name)
    hostname: str
    port: int = 22
    user: str = ""
    key_files: List[str] = field(default_factory=list)
    password: Optional[str] = None
    identities_only: bool = False
    jumps: List[SSHTarget] = field(default_factory=list)
    proxy_command: Optional[str] = None
    known_hosts: Optional[str] = None
    host_key_checking: Optional[str] = None  # None: the run's default
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    dead_peer_timeout: float = DEFAULT_DEAD_PEER_TIMEOUT

    def cache_key(self) -> Tuple[Any, ...]:
        """Connections with equal keys can share one SSH client."""
        jumps = tuple(j.cache_key() for j in self.jumps)
        return (self.hostname, self.port, self.user, tuple(self.key_files), self.password,
                jumps, self.proxy_command, self.known_hosts, self.host_key_checking)  # fmt: skip

    def describe(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def parse_ssh_args(text: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """Options from ssh command-line arguments: ({lowercase option: value}, -F file)."""
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise UsageError(f"cannot parse ssh arguments {text!r}: {exc}") from None
    options: Dict[str, Any] = {}
    config_file = None
    flags = {"-J": "proxyjump", "-i": "identityfile", "-p": "port", "-l": "user"}
    i = 0
    while i < len(words):
        word = words[i]
        flag, inline = word[:2], word[2:]
        if flag in ("-o", "-F", *flags) and word.startswith("-"):
            value = inline or (words[i + 1] if i + 1 < len(words) else "")
            i += 1 if inline else 2
            if flag == "-o":
                key, _, val = value.replace("=", " ", 1).partition(" ")
                _set_option(options, key.strip().lower(), val.strip())
            elif flag == "-F":
                config_file = value
            else:
                _set_option(options, flags[flag], value)
            continue
        i += 1
    return options, config_file


def _set_option(options: Dict[str, Any], key: str, value: str) -> None:
    if key == "identityfile":
        options.setdefault("identityfile", []).append(os.path.expanduser(value))
    else:
        options.setdefault(key, value)  # like ssh: the first value given wins


def load_config(path: Optional[str]) -> paramiko.SSHConfig:
    """The ssh config file to use (empty if there is none)."""
    explicit = path or os.environ.get("TK_SSH_CONFIG")
    path = os.path.expanduser(explicit or "~/.ssh/config")
    if not os.path.exists(path):
        if explicit:
            raise UsageError(f"ssh config file {path} does not exist")
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(path)
    except Exception as exc:  # noqa: BLE001 - paramiko raises several kinds for bad files
        raise UsageError(f"cannot read ssh config {path}: {exc}") from None


def resolve(
    name: str, variables: Mapping[str, Any], config_file: Optional[str] = None
) -> SSHTarget:
    """The SSHTarget of an inventory host from its variables."""
    args = " ".join(
        str(variables.get(k) or "") for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args")
    )
    cli, cli_config = parse_ssh_args(args)
    config_path = (
        cli_config
        or config_file
        or variables.get("ansible_ssh_config_file")
        or variables.get("tk_ssh_config")
    )
    config = load_config(config_path)
    host = str(variables.get("ansible_host") or variables.get("ansible_ssh_host") or name)
    opts = _merged(config, host, cli)
    user = _first(variables, "ansible_user", "ansible_ssh_user", "remote_user")
    port = _first(variables, "ansible_port", "ansible_ssh_port")
    key = _first(variables, "ansible_ssh_private_key_file", "ansible_private_key_file")
    target = _target(name, opts, user=user, port=port)
    if key:
        target.key_files.insert(0, os.path.expanduser(str(key)))
    target.password = _first(
        variables, "ansible_password", "ansible_ssh_pass", "ansible_ssh_password"
    )
    timeout = _first(variables, "ansible_timeout", "ansible_ssh_timeout")
    if timeout:
        target.connect_timeout = _seconds(timeout, "ansible_timeout", name)
    dead = _first(variables, "tk_dead_peer_timeout")
    if dead is not None:
        target.dead_peer_timeout = _seconds(dead, "tk_dead_peer_timeout", name)
    target.jumps = _jumps(opts.get("proxyjump"), config, target.key_files, depth=0)
    for jump in target.jumps:  # the target's known_hosts settings cover its jump hosts too
        jump.known_hosts = jump.known_hosts or target.known_hosts
        jump.host_key_checking = jump.host_key_checking or target.host_key_checking
    return target


def _merged(config: paramiko.SSHConfig, host: str, cli: Mapping[str, Any]) -> Dict[str, Any]:
    opts = dict(config.lookup(host))
    for key, value in cli.items():
        if key == "identityfile":
            opts["identityfile"] = list(value) + list(opts.get("identityfile", []))
        else:
            opts[key] = value
    opts.setdefault("hostname", host)
    return opts


def _first(variables: Mapping[str, Any], *names: str) -> Optional[str]:
    for name in names:
        if variables.get(name) not in (None, ""):
            return str(variables[name])
    return None


def _target(name: str, opts: Mapping[str, Any], user=None, port=None) -> SSHTarget:
    try:
        port_number = int(port or opts.get("port") or 22)
    except ValueError:
        raise UsageError(f"bad ssh port {port or opts.get('port')!r} for host {name}") from None
    known = opts.get("userknownhostsfile")
    checking = opts.get("stricthostkeychecking")
    target = SSHTarget(
        name=name,
        hostname=str(opts.get("hostname") or name),
        port=port_number,
        user=str(user or opts.get("user") or getpass.getuser()),
        key_files=[os.path.expanduser(p) for p in opts.get("identityfile", [])],
        identities_only=str(opts.get("identitiesonly", "no")).lower() == "yes",
        proxy_command=opts.get("proxycommand") if opts.get("proxycommand") != "none" else None,
        known_hosts=os.path.expanduser(known.split()[0]) if known else None,
    )
    if checking:
        from toolkit.transport.hostkeys import parse_mode

        target.host_key_checking = parse_mode(checking, "StrictHostKeyChecking", ssh_option=True)
    if opts.get("connecttimeout"):
        target.connect_timeout = _seconds(opts["connecttimeout"], "ConnectTimeout", name)
    alive = opts.get("serveraliveinterval")
    if alive:
        interval = _seconds(alive, "ServerAliveInterval", name)
        count = _seconds(opts.get("serveralivecountmax") or 3, "ServerAliveCountMax", name)
        target.dead_peer_timeout = interval * count
    return target


def _seconds(value: Any, what: str, host: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0:
        raise UsageError(f"{what} for host {host} must be a number of seconds, got {value!r}")
    return number


def _jumps(spec: Optional[str], config, keys: List[str], depth: int) -> List[SSHTarget]:
    """The jump hosts of a ProxyJump value, each resolved through the ssh config."""
    if not spec or spec.strip().lower() == "none":
        return []
    if depth > MAX_JUMPS:
        raise UsageError(f"ProxyJump chain longer than {MAX_JUMPS} hops (a loop?)")
    chain: List[SSHTarget] = []
    for i, hop in enumerate(spec.split(",")):
        user, _, rest = hop.strip().rpartition("@")
        host, port = _split_host_port(rest)
        opts = dict(config.lookup(host))
        opts.setdefault("hostname", host)
        jump = _target(host, opts, user=user or None, port=port)
        jump.key_files += [k for k in keys if k not in jump.key_files]
        if i == 0:
            chain += _jumps(opts.get("proxyjump"), config, keys, depth + 1)
        chain.append(jump)
    return chain


def _split_host_port(text: str) -> Tuple[str, Optional[str]]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.lstrip(":") or None
    host, _, port = text.partition(":")
    return host, port or None
