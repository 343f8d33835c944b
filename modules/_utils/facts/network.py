"""Network facts: interfaces, their IPv4 addresses (ioctl) and the default route (/proc)."""

import fcntl
import os
import socket
import struct

SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR = 0x8915, 0x891B, 0x8919
SYS_NET = "/sys/class/net"


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return ""


def _ioctl_addr(sock, name, request):
    try:
        packed = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except (IOError, OSError):
        return None
    return socket.inet_ntoa(packed[20:24])


def default_route():
    """(interface, gateway) of the lowest-metric default route, or (None, None)."""
    best = None
    for line in _read("/proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 7 or fields[1] != "00000000" or not int(fields[3], 16) & 1:
            continue
        metric = int(fields[6])
        if best is None or metric < best[0]:
            gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
            best = (metric, fields[0], gateway)
    return (best[1], best[2]) if best else (None, None)


def _kind(name):
    if name == "lo":
        return "loopback"
    if os.path.isdir(os.path.join(SYS_NET, name, "bridge")):
        return "bridge"
    if os.path.exists(os.path.join(SYS_NET, name, "device")):
        return "ether"
    return "ether" if _read(os.path.join(SYS_NET, name, "type")) == "1" else "unknown"


def interface(sock, name):
    info = {
        "device": name,
        "type": _kind(name),
        "active": "up" in _read(os.path.join(SYS_NET, name, "operstate"))
        or name == "lo"
        or bool(int(_read(os.path.join(SYS_NET, name, "flags")) or "0", 16) & 1),
    }
    mac = _read(os.path.join(SYS_NET, name, "address"))
    if mac and name != "lo":
        info["macaddress"] = mac
    mtu = _read(os.path.join(SYS_NET, name, "mtu"))
    if mtu.isdigit():
        info["mtu"] = int(mtu)
    address = _ioctl_addr(sock, name, SIOCGIFADDR)
    if address:
        netmask = _ioctl_addr(sock, name, SIOCGIFNETMASK) or "255.255.255.255"
        network = socket.inet_ntoa(
            struct.pack(
                "!I",
                struct.unpack("!I", socket.inet_aton(address))[0]
                & struct.unpack("!I", socket.inet_aton(netmask))[0],
            )
        )
        ipv4 = {
            "address": address,
            "netmask": netmask,
            "network": network,
            "prefix": str(bin(struct.unpack("!I", socket.inet_aton(netmask))[0]).count("1")),
        }
        broadcast = _ioctl_addr(sock, name, SIOCGIFBRDADDR)
        if broadcast and broadcast != "0.0.0.0":
            ipv4["broadcast"] = broadcast
        info["ipv4"] = ipv4
    return info


def interfaces(facts):
    names = sorted(os.listdir(SYS_NET)) if os.path.isdir(SYS_NET) else []
    result = {"ansible_interfaces": names}
    addresses = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        details = dict((name, interface(sock, name)) for name in names)
    finally:
        sock.close()
    for name, info in details.items():
        result["ansible_" + name.replace("-", "_").replace(":", "_").replace(".", "_")] = info
        if "ipv4" in info and not info["ipv4"]["address"].startswith("127."):
            addresses.append(info["ipv4"]["address"])
    result["ansible_all_ipv4_addresses"] = addresses
    dev, gateway = default_route()
    default = {}
    if dev and dev in details:
        info = details[dev]
        default = dict(
            info.get("ipv4", {}), interface=dev, gateway=gateway, alias=dev, type=info["type"]
        )
        for key in ("macaddress", "mtu"):
            if key in info:
                default[key] = info[key]
    result["ansible_default_ipv4"] = default
    result["ansible_default_ipv6"] = {}
    return result


COLLECTORS = [interfaces]
