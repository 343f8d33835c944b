"""docker's default `bridge` network for tke containers (pyroute2).

    live = network.attach(ctrs, rec)     # at start: netns, veth pair, address, ports
    network.detach(ctrs, cid)            # once it is stopped for good (also done by its shim)

The host side is a Linux bridge, `tke0`, with the first /16 of 172.17-172.31 that no
interface or route of the host uses (docker's docker0 takes 172.17.0.0/16 the same way); its
first address is the containers' gateway. Each running container has its own network
namespace, bind-mounted at RUN_DIR/netns/ID so that it outlives the runtime's processes
across restarts, with `eth0` (one end of a veth pair whose other end is on the bridge),
docker's MAC address for its IP (02:42 + the four bytes) and a default route via the bridge.
Where firewalld runs, the bridge goes into firewalld's zone `tke` when it is made
(firewalld.py), as docker's docker0 into its zone `docker`.

Addresses: one file per address in use, STORE/networks/bridge/ips/IP, holding the container's
ID, made and removed under a lock; a file whose container is gone is taken over.

Published ports (`-p`, `-P`): tke binds each host port itself, so that a port in use fails
the start with docker's message, then hands the sockets to a userland proxy process
(portproxy.py, docker's docker-proxy) whose PID is in CTRDIR/proxy.pid.

What the container gets is in CTRDIR/network.json (docker's NetworkSettings fields, its
links' hosts lines and environment); it exists while the container's network does. Its shim
removes all of it (shim.release_network) when the container stops for good; `rm` and the
reconciliation of a dead shim do the same through `detach`.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from toolkit.engine import jsonc
from toolkit.engine.ctxutil import Flock
from toolkit.errors import TkError

BRIDGE = "tke0"
POOL = [f"172.{n}.0.0/16" for n in range(17, 32)]  # docker's default address pool
LIVE = "network.json"
PROXY_PID = "proxy.pid"
ENDPOINT_KEYS = ("Gateway", "IPAddress", "IPPrefixLen", "MacAddress")  # also per network
PORTPROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "portproxy.py")


class NetworkError(TkError):
    exit_code = 125


# --- where things are -----------------------------------------------------------------------
def netns_path(ctrs, cid: str) -> str:
    return os.path.join(ctrs.run_dir, "netns", cid)


def ips_dir(ctrs) -> str:
    return os.path.join(ctrs.store.root, "networks", "bridge", "ips")


def live(ctrs, cid: str) -> Optional[dict]:
    """What a running container's network is (CTRDIR/network.json), or None."""
    try:
        with open(ctrs.path(cid, LIVE)) as fh:
            return jsonc.load(fh)
    except (OSError, ValueError):
        return None


def settings(ctrs, rec: dict) -> dict:
    """docker's NetworkSettings of a container: the record's, with its live network's."""
    out = dict(rec.get("NetworkSettings") or {})
    now = live(ctrs, rec["Id"])
    if now:
        out.update(now["settings"])
        nets = dict(out.get("Networks") or {})
        bridge = dict(nets.get("bridge") or {})
        bridge.update({k: now["settings"][k] for k in ENDPOINT_KEYS})
        nets["bridge"] = bridge
        out["Networks"] = nets
    return out


# --- attach and detach ----------------------------------------------------------------------
def attach(ctrs, rec: dict) -> dict:
    """Give a starting container its network; returns what network.json holds."""
    try:
        from pyroute2 import IPRoute
    except ImportError:
        raise NetworkError(
            "the bridge network needs pyroute2 (pip install pyroute2); or run with "
            '--network none or host, or set "bridge": "none" in the store\'s config.json'
        ) from None

    from toolkit.engine import shim

    cid = rec["Id"]
    detach(ctrs, cid)  # what a start that failed half-way may have left
    links = link_targets(ctrs, rec)
    os.makedirs(os.path.dirname(ips_dir(ctrs)), exist_ok=True)
    with IPRoute() as ipr:
        with Flock(os.path.join(ctrs.store.root, "networks", "lock")):
            net = ensure_bridge(ipr)
            restore_rules(ctrs, str(net.network))
            record_subnet(ctrs.store, net)
            iface = allocate(ctrs, cid, net)
        ip = str(iface.ip)
        release = release_paths(ctrs, cid, ip)
        try:
            path, inner = create_netns(release["netns"])
            mac = mac_for(iface)
            plug(ipr, cid, (path, inner), iface, net, mac)
            ports = publish(ctrs, rec, ip, release)
        except BaseException:
            shim.release_network(release, cid)
            raise
    state = {
        "settings": {
            "Bridge": BRIDGE,
            "SandboxKey": path,
            "Gateway": str(net.ip),
            "IPAddress": ip,
            "IPPrefixLen": net.network.prefixlen,
            "MacAddress": mac,
            "Ports": ports,
        },
        "hosts": [f"{ip}\t{(rec['Config'].get('Hostname') or cid[:12])}"]
        + [f"{t['ip']}\t{t['alias']} {t['id'][:12]} {t['name']}" for t in links],
        "env": link_env(rec, links),
        "release": release,
    }
    with open(ctrs.path(cid, LIVE), "w") as fh:
        fh.write(jsonc.dumps(state))
    return state


def release_paths(ctrs, cid: str, ip: str) -> dict:
    """What shim.release_network undoes: the proxy, the netns mount, the address file (and
    `rules`, the DNAT rules publish adds)."""
    return {
        "proxy_pid": ctrs.path(cid, PROXY_PID),
        "netns": netns_path(ctrs, cid),
        "ip_file": os.path.join(ips_dir(ctrs), ip),
        "live": ctrs.path(cid, LIVE),
    }


def detach(ctrs, cid: str) -> None:
    """Undo `attach` (nothing to do for a container without a network)."""
    from toolkit.engine import shim

    now = live(ctrs, cid)
    paths = now["release"] if now else release_paths(ctrs, cid, "")
    shim.release_network(paths, cid)


# --- what `tke network inspect` shows ----------------------------------------------------
def subnet_file(store) -> str:
    return os.path.join(store.root, "networks", "bridge", "subnet.json")


def record_subnet(store, net) -> None:
    data = {"Subnet": str(net.network), "Gateway": str(net.ip)}
    if recorded_subnet(store) != data:
        with open(subnet_file(store), "w") as fh:
            fh.write(jsonc.dumps(data))


def recorded_subnet(store) -> Optional[dict]:
    """{"Subnet", "Gateway"} of the bridge, once a container has used it."""
    try:
        with open(subnet_file(store)) as fh:
            return jsonc.load(fh)
    except (OSError, ValueError):
        return None


def members(ctrs) -> dict:
    """docker's `Containers` of the bridge network: the running containers on it."""
    out = {}
    for cid in ctrs.ids():
        now = live(ctrs, cid)
        if now is None:
            continue
        rec = ctrs.record(cid) or {}
        s = now["settings"]
        out[cid] = {
            "Name": (rec.get("Name") or "").lstrip("/"),
            "EndpointID": "",
            "MacAddress": s["MacAddress"],
            "IPv4Address": f"{s['IPAddress']}/{s['IPPrefixLen']}",
            "IPv6Address": "",
        }
    return out


# --- the bridge and addresses ---------------------------------------------------------------
def ensure_bridge(ipr):
    """tke0, up, with the gateway address (an ipaddress.IPv4Interface); made on first use."""
    import ipaddress

    found = ipr.link_lookup(ifname=BRIDGE)
    if found:
        for msg in ipr.get_addr(index=found[0], family=2):
            iface = ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
            ipr.link("set", index=found[0], state="up")
            return iface
        raise NetworkError(f"the bridge {BRIDGE} has no IPv4 address: delete it or give it one")
    net = free_subnet(ipr)
    ipr.link("add", ifname=BRIDGE, kind="bridge")
    index = ipr.link_lookup(ifname=BRIDGE)[0]
    ipr.addr("add", index=index, address=str(net[1]), prefixlen=net.prefixlen)
    ipr.link("set", index=index, state="up")
    trust_bridge()
    route_out(str(net))
    return ipaddress.ip_interface(f"{net[1]}/{net.prefixlen}")


def trust_bridge() -> None:
    """Where firewalld runs, the bridge into its zone `tke` (firewalld.py); first, because
    the reload that makes the zone flushes iptables rules. What fails is a warning."""
    from toolkit.engine import firewalld

    problem = firewalld.trust(BRIDGE)
    if problem:
        sys.stderr.write(problem + "\n")


# (how to add it, the rule): appended to nat's POSTROUTING, first in FORWARD (whose later rules
# may reject what is not allowed before them)
OUTBOUND = [
    (["-t", "nat", "-A"], ["POSTROUTING", "-s", "{net}", "!", "-o", BRIDGE, "-j", "MASQUERADE"]),
    (["-I"], ["FORWARD", "-i", BRIDGE, "-j", "ACCEPT"]),
    (["-I"], ["FORWARD", "-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
              "-j", "ACCEPT"]),
]  # fmt: skip


def route_out(net: str) -> None:
    """What docker does for its bridge so that containers reach other networks: IP forwarding
    on, their traffic leaving the host masqueraded, and let through a FORWARD chain whose
    policy may be DROP. Done when the bridge is made (once per boot); without iptables the
    containers reach the host and each other only."""
    import shutil
    import subprocess

    with open("/proc/sys/net/ipv4/ip_forward", "w") as fh:
        fh.write("1\n")
    iptables = shutil.which("iptables")
    if not iptables:
        return
    for add, rule in OUTBOUND:
        rule = [word.replace("{net}", net) for word in rule]
        table = add[:-1]
        check = subprocess.run([iptables, *table, "-C", *rule], capture_output=True)
        if check.returncode != 0:
            subprocess.run([iptables, *add, *rule], capture_output=True, check=True)


def restore_rules(ctrs, net: str) -> None:
    """The bridge's rules and the running containers' published ports again, after something
    flushed iptables' tables since the bridge was made: firewalld does on every reload,
    restart and stop (docker re-adds its rules on firewalld's D-Bus signal; tke at the next start on
    the bridge, and at once where `tke system service --watch` runs: fwwatch.py). Checked by
    the masquerade rule: one `iptables -C`."""
    import shutil
    import subprocess

    iptables = shutil.which("iptables")
    if not iptables:
        return
    add, rule = OUTBOUND[0]
    masquerade = [word.replace("{net}", net) for word in rule]
    check = subprocess.run([iptables, *add[:-1], "-C", *masquerade], capture_output=True)
    if check.returncode != 1:  # 0: in place; 2, 4: a usage or resource problem (the lock)
        return
    route_out(net)
    undos = [
        undo
        for cid in ctrs.ids()
        for undo in ((live(ctrs, cid) or {}).get("release") or {}).get("rules") or []
    ]
    if undos:
        ensure_dnat_chain(iptables)
    for undo in undos:  # [iptables, (-t nat), -D, rule...] as dnat recorded them
        at = undo.index("-D")
        if subprocess.run([*undo[:at], "-C", *undo[at + 1 :]], capture_output=True).returncode:
            subprocess.run([*undo[:at], "-I", *undo[at + 1 :]], capture_output=True)


def restore_bridge(ctrs) -> bool:
    """restore_rules for this store's bridge, if it exists here (fwwatch.py's restore, after
    firewalld reloaded, restarted or stopped); False when there is no bridge to restore."""
    import socket

    subnet = recorded_subnet(ctrs.store)
    try:
        socket.if_nametoindex(BRIDGE)
    except OSError:
        return False
    if subnet is None:
        return False
    with Flock(os.path.join(ctrs.store.root, "networks", "lock")):
        restore_rules(ctrs, subnet["Subnet"])
    return True


def free_subnet(ipr):
    import ipaddress

    used = []
    for msg in ipr.get_addr(family=2):
        used.append(ipaddress.ip_interface(f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}"))
    used = [u.network for u in used]
    for msg in ipr.get_routes(family=2):
        dst = msg.get_attr("RTA_DST")
        if dst and msg["dst_len"]:
            used.append(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False))
    for net in map(ipaddress.ip_network, POOL):
        if not any(net.overlaps(u) for u in used):
            return net
    raise NetworkError("no free address range for the bridge network in 172.17-31.0.0/16")


def allocate(ctrs, cid: str, iface):
    """The first free address of the bridge's subnet (caller holds the networks lock); a
    file whose container no longer exists is taken over."""
    import ipaddress

    where = ips_dir(ctrs)
    os.makedirs(where, exist_ok=True)
    for host in iface.network.hosts():
        if host == iface.ip:
            continue
        path = os.path.join(where, str(host))
        try:
            with open(path) as fh:
                owner = fh.read().strip()
        except FileNotFoundError:
            owner = ""
        if owner and owner != cid and os.path.isdir(ctrs.path(owner)):
            continue
        with open(path, "w") as fh:
            fh.write(cid)
        return ipaddress.ip_interface(f"{host}/{iface.network.prefixlen}")
    raise NetworkError(f"no address left in {iface.network}")


def mac_for(ip) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.ip.packed)


# --- the container's namespace --------------------------------------------------------------
def create_netns(path: str) -> tuple:
    """A new network namespace, bind-mounted at `path` (as `ip netns add` does), and the fd of
    a netlink route socket made in it, for its side of `plug` (pyroute2's `netns=` forks a
    helper process of its own for that: ~14 ms)."""
    import ctypes
    import socket

    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    libc = ctypes.CDLL(None, use_errno=True)
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ok = libc.unshare(0x40000000) == 0  # CLONE_NEWNET
            ok = ok and libc.mount(b"/proc/self/ns/net", path.encode(), None, 4096, None) == 0
            if ok:
                route = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
                socket.send_fds(theirs, [b"1"], [route.fileno()])
            else:
                theirs.sendall(os.strerror(ctypes.get_errno()).encode())
        finally:
            os._exit(0)
    theirs.close()
    try:
        answer, fds, _, _ = socket.recv_fds(ours, 200, 1)  # b"" if the child died first
    finally:
        ours.close()
        os.waitpid(pid, 0)
    if answer != b"1" or not fds:
        for fd in fds:
            os.close(fd)
        os.unlink(path)
        raise NetworkError(f"cannot make a network namespace: {answer.decode() or 'no answer'}")
    return path, fds[0]


def plug(ipr, cid: str, netns: tuple, ip, gateway, mac: str) -> None:
    """veth pair: one end on the bridge, `eth0` in the namespace with the address and route.
    `netns`: (path, the fd of a netlink route socket in it), create_netns's; the fd is
    closed here."""
    from pyroute2 import IPRoute

    path, route_fd = netns
    try:
        inner = IPRoute(fileno=route_fd)  # which closes the fd when it is closed
    except BaseException:
        os.close(route_fd)
        raise
    with inner:
        host_end = "veth" + cid[:11]
        for stale in ipr.link_lookup(ifname=host_end):
            ipr.link("del", index=stale)
        peer = {"ifname": "eth0", "net_ns_fd": path}
        ipr.link("add", ifname=host_end, kind="veth", peer=peer)
        index = ipr.link_lookup(ifname=host_end)[0]
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=BRIDGE)[0], state="up")
        eth0 = inner.link_lookup(ifname="eth0")[0]
        inner.link("set", index=eth0, address=mac)
        inner.addr("add", index=eth0, address=str(ip.ip), prefixlen=ip.network.prefixlen)
        inner.link("set", index=eth0, state="up")
        inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
        inner.route("add", dst="default", gateway=str(gateway.ip))


# --- ports ----------------------------------------------------------------------------------
def wanted_ports(rec: dict) -> dict:
    """{"80/tcp": [{"HostIp", "HostPort"}]}: -p, and with -P every exposed port."""
    host = rec["HostConfig"]
    out = {k: [dict(b) for b in v] for k, v in (host.get("PortBindings") or {}).items()}
    if host.get("PublishAllPorts"):
        for port in rec["Config"].get("ExposedPorts") or {}:
            out.setdefault(port, [{"HostIp": "", "HostPort": ""}])
    return out


def publish(ctrs, rec: dict, ip: str, release: dict) -> dict:
    """Bind the host ports, start the proxy, and DNAT what comes from elsewhere than the
    host's loopback; docker's NetworkSettings.Ports. The DNAT rules go into
    `release["rules"]` as they are made."""
    from toolkit.engine import portproxy

    wanted = wanted_ports(rec)
    ports: dict = {port: None for port in rec["Config"].get("ExposedPorts") or {}}
    listeners, mappings = [], []
    try:
        for port, binds in sorted(wanted.items()):
            number, _, proto = port.partition("/")
            ports[port] = []
            for bind in binds:
                host_ip = bind.get("HostIp") or "0.0.0.0"
                host_port = int(bind.get("HostPort") or 0)
                try:
                    sock = portproxy.open_listener(proto or "tcp", host_ip, host_port)
                except OSError as exc:
                    raise NetworkError(
                        "Error response from daemon: driver failed programming external "
                        f"connectivity on endpoint {rec['Name'].lstrip('/')}: "
                        + portproxy.bind_error(host_ip, host_port, exc, proto or "tcp")
                    ) from None
                listeners.append(sock)
                mappings.append({"fd": sock.fileno(), "proto": proto, "target": [ip, int(number)]})
                actual = str(sock.getsockname()[1])
                ports[port].append({"HostIp": host_ip, "HostPort": actual})
                dnat(release, proto or "tcp", host_ip, actual, ip, number)
        if mappings:
            start_proxy(ctrs.path(rec["Id"], PROXY_PID), mappings)
    finally:
        for sock in listeners:
            sock.close()
    return ports


def dnat(release: dict, proto: str, host_ip: str, host_port: str, ip: str, port: str) -> None:
    """docker's DNAT of a published port (the container sees its clients' addresses; the
    proxy keeps serving the host's loopback, which DNAT cannot reach), and the FORWARD rule
    that lets new connections to that port through. Without iptables: the proxy only."""
    import shutil
    import subprocess

    iptables = shutil.which("iptables")
    if not iptables or host_ip.startswith("127."):
        return
    ensure_dnat_chain(iptables)
    only = [] if host_ip == "0.0.0.0" else ["-d", host_ip]
    rules = [
        ["-t", "nat", "TKE", "-p", proto, *only, "--dport", host_port, "!", "-i", BRIDGE,
         "-j", "DNAT", "--to-destination", f"{ip}:{port}"],
        ["FORWARD", "-d", ip, "!", "-i", BRIDGE, "-o", BRIDGE, "-p", proto, "--dport", port,
         "-j", "ACCEPT"],
    ]  # fmt: skip
    for rule in rules:
        table, rest = (rule[:2], rule[2:]) if rule[0] == "-t" else ([], rule)
        subprocess.run([iptables, *table, "-I", *rest], capture_output=True, check=True)
        release.setdefault("rules", []).append([iptables, *table, "-D", *rest])


def ensure_dnat_chain(iptables: str) -> None:
    """nat's TKE chain, jumped to for local destinations (not the loopback from OUTPUT)."""
    import subprocess

    subprocess.run([iptables, "-t", "nat", "-N", "TKE"], capture_output=True)  # exists: fine
    for chain, extra in (("PREROUTING", []), ("OUTPUT", ["!", "-d", "127.0.0.0/8"])):
        jump = [chain, *extra, "-m", "addrtype", "--dst-type", "LOCAL", "-j", "TKE"]
        if subprocess.run([iptables, "-t", "nat", "-C", *jump], capture_output=True).returncode:
            subprocess.run([iptables, "-t", "nat", "-A", *jump], capture_output=True, check=True)


def start_proxy(pid_file: str, mappings: list) -> None:
    from toolkit.engine.shimproc import inherited_fds

    keep = [m["fd"] for m in mappings]
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in inherited_fds(*keep)]
    python = os.path.realpath(sys.executable)
    argv = [python, "-I", "-S", PORTPROXY, jsonc.dumps(mappings)]
    pid = os.posix_spawn(python, argv, {}, file_actions=actions, setsid=True)
    with open(pid_file, "w") as fh:
        fh.write(str(pid))


# --- links ----------------------------------------------------------------------------------
def link_targets(ctrs, rec: dict) -> list:
    """The running containers `--link NAME[:ALIAS]` names: id, name, alias, ip, record."""
    out = []
    for item in rec["HostConfig"].get("Links") or []:
        name, _, alias = item.partition(":")
        alias = alias or name
        cid = ctrs.name_owner(name.lstrip("/"))
        if cid is None:
            raise NetworkError(
                f"Error response from daemon: could not get container for {name.lstrip('/')}"
            )
        target = live(ctrs, cid)
        if target is None or not ctrs.state(cid)["Running"]:
            raise NetworkError(
                "Error response from daemon: Cannot link to a non running container: "
                f"/{name.lstrip('/')} AS {rec['Name']}/{alias}"
            )
        out.append(
            {
                "id": cid,
                "name": name.lstrip("/"),
                "alias": alias,
                "ip": target["settings"]["IPAddress"],
                "rec": ctrs.record(cid) or {},
            }
        )
    return out


def link_env(rec: dict, links: list) -> list:
    """docker's legacy link variables: ALIAS_NAME, ALIAS_PORT[_N_PROTO[_ADDR|_PORT|_PROTO]],
    ALIAS_ENV_X for the linked container's own environment."""
    env = []
    for link in links:
        prefix = link["alias"].upper().replace("-", "_")
        env.append(f"{prefix}_NAME={rec['Name']}/{link['alias']}")
        exposed = sorted(
            (link["rec"].get("Config") or {}).get("ExposedPorts") or {},
            key=lambda p: (int(p.partition("/")[0]), p),
        )
        for i, port in enumerate(exposed):
            number, _, proto = port.partition("/")
            url = f"{proto}://{link['ip']}:{number}"
            if i == 0:
                env.append(f"{prefix}_PORT={url}")
            key = f"{prefix}_PORT_{number}_{proto.upper()}"
            env += [f"{key}={url}", f"{key}_ADDR={link['ip']}"]
            env += [f"{key}_PORT={number}", f"{key}_PROTO={proto}"]
        for item in (link["rec"].get("Config") or {}).get("Env") or []:
            key, sep, value = item.partition("=")
            if sep and key not in ("HOME", "PATH", "HOSTNAME"):
                env.append(f"{prefix}_ENV_{key}={value}")
    return env
