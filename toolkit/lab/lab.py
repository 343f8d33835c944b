"""A lab: N throw-away SSH hosts on this machine, made and removed idempotently.

`Lab(name).up(n)` reconciles the lab to n running hosts (keeps live ones, restarts dead ones,
removes extra ones); `down()` removes every process, netns, link and file it made and checks
that nothing is left. State lives in `<root>/<name>/state.json`.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from typing import Callable, Dict, List, Mapping, Optional

from toolkit.errors import UsageError
from toolkit.lab import engine_sweep, hostproc, inventory_writer, keys, netns
from toolkit.lab.netns import LabError
from toolkit.lab.state import (
    MAX_HOSTS,
    HostState,
    LabState,
    allocate_octet,
    check_name,
    lab_root,
    root_lock,
)


class Lab:
    """One named lab under a lab root (default /run/tk-lab, or $TK_LAB_ROOT)."""

    def __init__(self, name: str = "lab", root: Optional[str] = None) -> None:
        self.name = check_name(name)
        self.root = lab_root(root)
        self.directory = os.path.join(self.root, name)

    # Paths users and tools need.
    @property
    def inventory(self) -> str:
        return os.path.join(self.directory, "inventory.ini")

    @property
    def ssh_config(self) -> str:
        return os.path.join(self.directory, "ssh_config")

    @property
    def known_hosts(self) -> str:
        return os.path.join(self.directory, "known_hosts")

    @property
    def key_file(self) -> str:
        return os.path.join(self.directory, "id_ed25519")

    @property
    def state(self) -> Optional[LabState]:
        return LabState.load(self.directory)

    @property
    def hosts(self) -> List[HostState]:
        state = self.state
        return list(state.hosts) if state else []

    def host(self, name: str) -> HostState:
        return self._host_in(self.hosts, name)

    def running(self, host: HostState) -> bool:
        return _running(host)

    def up(
        self, count: int, setup: Optional[Mapping[str, str]] = None, timeout: float = 60.0
    ) -> LabState:
        """Make the lab have `count` running hosts; `setup` maps host name -> sh run on its root."""
        _check_count(count)
        _require_root()
        with root_lock(self.root):
            state = self._load_or_create()
            fresh = self._reconcile(state, count, setup or {})
            _wait_ssh(state, fresh, timeout)
            self._write_files(state)
            return state

    def down(self) -> None:
        """Remove the lab; raise LabError naming anything that could not be removed."""
        with root_lock(self.root):
            state = self.state
            names = netns.list_netns(f"tkl-{self.name}-")
            hosts = state.hosts if state else []
            self._stop(hosts, extra_netns=names)
            if state and netns.link_exists(state.bridge):
                netns.ip_batch([f"link del {state.bridge}"], force=True)
            shutil.rmtree(self.directory, ignore_errors=True)
            left = self.leftovers(state)
            if left:
                raise LabError(f"lab {self.name!r} not fully removed: {', '.join(left)}")

    def restart_host(
        self, name: str, new_host_key: bool = False, setup: Optional[str] = None
    ) -> HostState:
        """Stop one host and start it again (optionally with a new host key or setup script)."""
        with root_lock(self.root):
            state = self.state
            if state is None:
                raise UsageError(f"lab {self.name!r} is not up")
            host = self._host_in(state.hosts, name)
            self._stop([host])
            if new_host_key:
                os.unlink(os.path.join(state.host_dir(name), "ssh_host_ed25519_key"))
            self._start(state, [host], self._user_key(), {name: setup} if setup else {})
            state.save()
            self._wait_restarted(state, [host])
            return host

    def host_vars(self, name: str) -> Dict[str, str]:
        """The inventory variables of one host, as `inventory.ini` gives them."""
        host = self.host(name)
        return {
            "ansible_host": host.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.key_file,
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts}"
            " -o StrictHostKeyChecking=yes",
        }

    def status(self) -> List[Dict[str, object]]:
        return [
            {"name": h.name, "address": h.address, "running": _running(h), "pid": h.pid1}
            for h in self.hosts
        ]

    def leftovers(self, state: Optional[LabState] = None) -> List[str]:
        """Anything of this lab still on the machine: netns, links, processes, directory."""
        left = [f"netns {n}" for n in netns.list_netns(f"tkl-{self.name}-")]
        if state is not None:
            if netns.link_exists(state.bridge):
                left.append(f"bridge {state.bridge}")
            for host in state.hosts:
                if netns.link_exists(host.veth):
                    left.append(f"link {host.veth}")
                left += [f"process {p}" for p in (host.pid, host.pid1) if hostproc.alive(p)]
        if os.path.exists(self.directory):
            left.append(f"directory {self.directory}")
        return left

    # Internals.
    def _host_in(self, hosts: List[HostState], name: str) -> HostState:
        for host in hosts:
            if host.name == name:
                return host
        raise UsageError(f"no host {name!r} in lab {self.name!r}")

    def _user_key(self) -> str:
        """The lab's client public key (made on first use)."""
        return keys.ensure_keypair(self.key_file, f"tk-lab-{self.name}")

    def _reconcile(self, state: LabState, count: int, setup: Mapping[str, str]) -> List[HostState]:
        """Keep running hosts 1..count, remove the rest, start the missing ones; return those."""
        pub = self._user_key()
        if not netns.link_exists(state.bridge):
            netns.ip_batch(netns.bridge_commands(state.bridge, state.gateway, state.octet))
        keep = [h for h in state.hosts if h.index <= count and self.running(h)]
        self._stop([h for h in state.hosts if h not in keep])
        kept = {h.index for h in keep}
        fresh = [state.new_host(i) for i in range(1, count + 1) if i not in kept]
        state.hosts = sorted(keep + fresh, key=lambda h: h.index)
        state.save()
        self._start(state, fresh, pub, setup)
        state.save()
        return fresh

    def _wait_restarted(self, state: LabState, hosts: List[HostState]) -> None:
        _wait_ssh(state, hosts, 30.0)
        self._write_files(state)

    def _load_or_create(self) -> LabState:
        state = self.state
        if state is None:
            os.makedirs(self.directory, exist_ok=True)
            state = LabState(self.name, self.directory, allocate_octet(self.root))
            state.save()
        return state

    def _start(
        self, state: LabState, hosts: List[HostState], pub: str, setup: Mapping[str, str]
    ) -> None:
        script = os.path.join(self.directory, "hostinit.sh")
        with open(script, "w") as fh:
            fh.write(hostproc.INIT_SCRIPT)
        commands: List[str] = []
        for host in hosts:
            self._prepare_host_dir(state, host, pub, setup.get(host.name))
            mac = netns.mac(state.octet, host.index)
            commands += netns.host_commands(host.netns, host.veth, state.bridge, mac)
        netns.ip_batch(commands)
        for host in hosts:
            host_dir = state.host_dir(host.name)
            host.pid = hostproc.start(
                host.name, host_dir, host.netns, host.address, state.gateway, script
            )
            host.pid1 = 0

    def _prepare_host_dir(
        self, state: LabState, host: HostState, pub: str, setup: Optional[str]
    ) -> None:
        host_dir = state.host_dir(host.name)
        os.makedirs(os.path.join(host_dir, "rw"), exist_ok=True)
        keys.ensure_keypair(os.path.join(host_dir, "ssh_host_ed25519_key"), host.name)
        with open(os.path.join(host_dir, "sshd_config"), "w") as fh:
            fh.write(hostproc.SSHD_CONFIG.format(address=host.address))
        with open(os.path.join(host_dir, "authorized_keys"), "w") as fh:
            fh.write(pub)
        setup_path = os.path.join(host_dir, "setup.sh")
        if setup:
            with open(setup_path, "w") as fh:
                fh.write(setup)
        elif os.path.exists(setup_path):
            os.unlink(setup_path)

    def _stop(self, hosts: List[HostState], extra_netns: Optional[List[str]] = None) -> None:
        names = sorted({h.netns for h in hosts} | set(extra_netns or []))
        pids = [p for h in hosts for p in (h.pid, h.pid1)]
        containers = [cid for h in hosts if h.pid1 for cid in engine_sweep.container_ids(h.pid1)]
        for found in netns.netns_pids(names).values():
            pids += found
        left = hostproc.kill_all(pids)
        if left:
            raise LabError(f"lab processes would not die: {left}")
        busy = engine_sweep.remove_cgroups(containers)
        if busy:
            raise LabError(f"cgroups of the hosts' containers still busy: {', '.join(busy)}")
        commands = [f"link del {h.veth}" for h in hosts if netns.link_exists(h.veth)]
        commands += [f"netns del {n}" for n in names if netns.netns_exists(n)]
        netns.ip_batch(commands, force=True)

    def _write_files(self, state: LabState) -> None:
        host_keys = {}
        for host in state.hosts:
            with open(os.path.join(state.host_dir(host.name), "ssh_host_ed25519_key.pub")) as fh:
                host_keys[host.name] = keys.public_key_of(fh.read())
        inventory_writer.write_all(state, self.key_file, host_keys)


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_HOSTS:
        raise UsageError(f"a lab has 1 to {MAX_HOSTS} hosts, not {count}")


def _require_root() -> None:
    if os.geteuid() != 0:
        raise UsageError("tk lab needs root (it makes network namespaces and mounts)")


def _running(host: HostState) -> bool:
    return hostproc.alive(host.pid) and hostproc.alive(host.pid1)


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=0.5) as sock:
            sock.settimeout(1.0)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _wait_ssh(state: LabState, hosts: List[HostState], timeout: float) -> None:
    """Wait until every host's sshd answers; a host whose init died fails with its log."""

    def ready(host: HostState) -> bool:
        if not host.pid1:
            host.pid1 = hostproc.child_of(host.pid)
        if not hostproc.alive(host.pid):
            log = hostproc.tail(os.path.join(state.host_dir(host.name), "host.log"), 5)
            raise LabError(f"lab host {host.name} failed to start: {log}")
        return hostproc.is_sshd(host.pid1) and _banner(host.address)

    _wait_hosts(hosts, ready, timeout, "lab hosts not answering on port 22", 0.02)
    state.save()


def _wait_hosts(
    hosts: List[HostState],
    ready: Callable[[HostState], bool],
    timeout: float,
    what: str,
    interval: float,
) -> None:
    """Poll `ready(host)` (which raises LabError for a host that died) until all are ready;
    past `timeout`, a LabError "<what> after <timeout>s: <names>"."""
    pending = list(hosts)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [host for host in pending if not ready(host)]
        if pending and time.monotonic() > deadline:
            names = ", ".join(h.name for h in pending)
            raise LabError(f"{what} after {timeout:.0f}s: {names}")
        if pending:
            time.sleep(interval)
