"""docker's default bridge network: addresses on tke0, published ports through the userland
proxy, `port`, legacy links (hosts lines and variables), and the release of all of it when a
container stops or is removed.

Every test runs tke in a network namespace of its own (`nsenter --net`), so the bridge, the
veth pairs and the published ports live there and the machine's own network is not touched;
the namespace is deleted at the end with everything in it. Traffic goes only to addresses in
that namespace.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.engine.ctrhelpers import PYTHON, RUNTIMES, Ctr, make_ctr, require_engine, teardown
from toolkit.engine.containers import run_dir_for

pytestmark = [pytest.mark.engine]


class NetCtr(Ctr):
    """tke run in the test's network namespace, with the default bridge on."""

    netns: str = ""

    def inside(self, code: str) -> str:
        """Python run in the namespace (a client of the published ports)."""
        argv = ["nsenter", f"--net={self.netns}", PYTHON, "-c", code]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout

    def ip(self, *argv: str) -> str:
        return subprocess.run(
            ["ip", "-n", os.path.basename(self.netns), *argv],
            capture_output=True,
            text=True,
            check=True,
        ).stdout


@pytest.fixture(params=RUNTIMES, name="net")
def net_fixture(request, registry, tmp_path):
    require_engine()
    name = f"tkt-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        root = str(tmp_path / "tke")
        os.makedirs(root)
        base = make_ctr(registry, root, request.param)  # pulls in this namespace
        env = {k: v for k, v in base.env.items() if k != "TKE_BRIDGE"}
        ctr = NetCtr(
            base.root, base.image, base.runtime, env, ("nsenter", f"--net=/run/netns/{name}")
        )
        ctr.netns = f"/run/netns/{name}"
        yield ctr
        leaks = teardown(ctr)
        leaks += network_leftovers(ctr)
        assert not leaks, f"leaked: {leaks}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def network_leftovers(ctr: NetCtr) -> list:
    """What a removed container's network must not leave: netns mounts, addresses held,
    proxies, veth pairs (their deletion follows the namespace's, asynchronously)."""
    out = []
    for _ in range(50):
        netns_dir = os.path.join(run_dir_for(ctr.root), "netns")
        ips = os.path.join(ctr.root, "networks", "bridge", "ips")
        out = [f"netns {n}" for n in os.listdir(netns_dir)] if os.path.isdir(netns_dir) else []
        out += [f"address {n}" for n in os.listdir(ips)] if os.path.isdir(ips) else []
        out += [f"proxy {pid}" for pid in proxy_pids()]
        out += [f"link {line}" for line in ctr.ip("-br", "link").splitlines() if "veth" in line]
        if not out:
            break
        time.sleep(0.1)
    return out


def proxy_pids() -> list:
    """tke's port proxies (tests run one at a time, so all of them are the test's)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if b"portproxy.py\0" in cmd and b"-I\0-S" in cmd:
            found.append(int(pid))
    return found


HTTPD = "mkdir -p /www && echo hello from $(hostname) > /www/index.html && httpd -f -p 80 -h /www"
FETCH = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen(sys.argv[1] if len(sys.argv) > 1 else '{url}', timeout=5)"
    ".read().decode(), end='')"
)


def fetch(ctr: NetCtr, url: str) -> str:
    """GET url from the namespace, retried while the container's server starts."""
    for _ in range(50):
        try:
            return ctr.inside(FETCH.format(url=url))
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    return ctr.inside(FETCH.format(url=url))


def test_bridge_address_published_port_and_port_verb(net):
    cid = net.ok(
        "run", "-d", "--name", "web", "-h", "webhost", "-p", "127.0.0.1:8080:80",
        "--expose", "9000", net.image, "sh", "-c", HTTPD,
    ).strip()  # fmt: skip
    settings = json.loads(net.ok("inspect", "-f", "{{json .NetworkSettings}}", "web"))
    ip = ipaddress.ip_address(settings["IPAddress"])
    assert ip in ipaddress.ip_network("172.17.0.0/16") and settings["IPPrefixLen"] == 16
    assert settings["Gateway"] == "172.17.0.1"
    assert settings["MacAddress"] == "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)
    assert settings["Ports"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "9000/tcp": None,
    }
    assert settings["Networks"]["bridge"]["IPAddress"] == str(ip)
    assert net.ok("inspect", "-f", "{{ .NetworkSettings.IPAddress }}", "web") == f"{ip}\n"
    assert net.ok("port", "web") == "80/tcp -> 127.0.0.1:8080\n"
    assert net.ok("port", "web", "80") == "127.0.0.1:8080\n"
    assert "127.0.0.1:8080->80/tcp" in net.ok("ps", "--format", "{{.Ports}}")
    assert fetch(net, "http://127.0.0.1:8080/index.html") == "hello from webhost\n"
    # what the container sees: eth0 with that address and MAC, a default route, its name
    inside = net.ok("exec", "web", "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/hosts")
    assert f"inet {ip}/16" in inside and "default via 172.17.0.1 dev eth0" in inside
    assert f"{ip}\twebhost" in inside
    mac = net.ok("exec", "web", "cat", "/sys/class/net/eth0/address").strip()
    assert mac == settings["MacAddress"]
    assert len(cid) == 64


def test_links_give_hosts_entries_and_dockers_variables(net):
    db = net.ok("run", "-d", "--name", "db", "-e", "SECRET_LEVEL=3", net.image, "sh", "-c", HTTPD)
    db_ip = net.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db").strip()
    script = "grep dbalias /etc/hosts; env | grep ^DBALIAS_ | sort; wget -qO- http://dbalias/"
    for _ in range(50):  # until db's server listens
        r = net.run(
            "run", "--rm", "--name", "app", "--link", "db:dbalias", net.image, "sh", "-c", script
        )
        if "hello from" in r.stdout:
            break
        time.sleep(0.1)
    lines = r.stdout.splitlines()
    assert f"{db_ip}\tdbalias {db.strip()[:12]} db" in lines, r.stdout + r.stderr
    assert "DBALIAS_NAME=/app/dbalias" in lines
    assert f"DBALIAS_PORT=tcp://{db_ip}:80" not in lines  # db exposes no port
    assert "DBALIAS_ENV_SECRET_LEVEL=3" in lines
    assert lines[-1].startswith("hello from ")
    net.ok("stop", "-t", "1", "db")
    r = net.run("run", "--rm", "--link", "db:dbalias", net.image, "true")
    assert r.returncode == 125 and "Cannot link to a non running container: /db AS" in r.stderr
    r = net.run("run", "--rm", "--network", "none", "--link", "db", net.image, "true")
    assert r.returncode == 125 and "--link needs the bridge network" in r.stderr


def test_link_variables_for_exposed_ports(net):
    net.ok(
        "run", "-d", "--name", "svc", "--expose", "6379", "--expose", "80", net.image, "sleep", "60"
    )
    svc_ip = net.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "svc").strip()
    out = net.ok("run", "--rm", "--link", "svc", net.image, "sh", "-c", "env | grep ^SVC_ | sort")
    lines = out.splitlines()
    assert f"SVC_PORT=tcp://{svc_ip}:80" in lines  # the lowest exposed port
    assert f"SVC_PORT_6379_TCP=tcp://{svc_ip}:6379" in lines
    assert f"SVC_PORT_6379_TCP_ADDR={svc_ip}" in lines and "SVC_PORT_6379_TCP_PORT=6379" in lines
    assert "SVC_PORT_80_TCP_PROTO=tcp" in lines


def test_publish_all_picks_free_host_ports_and_a_port_in_use_fails_the_start(net):
    net.ok("run", "-d", "--name", "a", "-P", "--expose", "80", net.image, "sh", "-c", HTTPD)
    host_port = net.ok("port", "a", "80").strip().rsplit(":", 1)[1]
    assert int(host_port) > 1024
    assert fetch(net, f"http://127.0.0.1:{host_port}/").startswith("hello from ")
    before = net.ids()
    r = net.run("run", "--rm", "-p", f"{host_port}:80", net.image, "true")
    assert r.returncode == 125
    assert f"Bind for 0.0.0.0:{host_port} failed: port is already allocated" in r.stderr
    assert net.ids() == before  # the --rm container that could not start is gone
    r = net.run("run", "-d", "--name", "b", "-p", f"{host_port}:80", net.image, "true")
    assert r.returncode == 125 and "port is already allocated" in r.stderr
    assert net.ok("inspect", "-f", "{{.State.Status}}", "b") == "created\n"


def test_stop_releases_the_network_and_start_gives_it_back(net):
    net.ok("run", "-d", "--name", "web", "-p", "127.0.0.1:8081:80", net.image, "sh", "-c", HTTPD)
    assert fetch(net, "http://127.0.0.1:8081/").startswith("hello from ")
    net.ok("stop", "-t", "1", "web")
    assert (
        net.ok(
            "inspect", "-f", "{{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}", "web"
        )
        == "|{}\n"
    )
    assert net.ok("port", "web") == ""
    leftovers = []
    for _ in range(50):
        leftovers = network_leftovers(net)
        if not leftovers:
            break
        time.sleep(0.1)
    assert not leftovers  # the proxy, the namespace, the address and the veth pair
    net.ok("start", "web")
    assert fetch(net, "http://127.0.0.1:8081/").startswith("hello from ")
    net.ok("rm", "-f", "web")
    assert not network_leftovers(net)


def test_none_and_host_networks_have_no_bridge_address(net):
    out = net.ok("run", "--rm", "--network", "none", net.image, "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    assert "tke0" not in net.ip("-br", "link")  # no container on the bridge: never made
    out = net.ok("run", "--rm", "--network", "host", net.image, "ip", "-o", "link")
    assert "lo" in out


SEEN_FROM = (
    "import socket, sys\n"
    "srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "srv.bind(('10.99.0.2', 7070)); srv.listen(4); print('up', flush=True)\n"
    "while True:\n"
    "    conn, peer = srv.accept()\n"
    "    conn.sendall(f'seen from {peer[0]}\\n'.encode()); conn.close()\n"
)


class Outside:
    """A second namespace behind a veth "uplink" from the test's (10.99.0.1 <-> 10.99.0.2):
    another network, for traffic that leaves the host or comes from elsewhere."""

    def __init__(self, net: NetCtr) -> None:
        self.name = f"tkt-out-{uuid.uuid4().hex[:8]}"
        self.procs: list = []
        ours = os.path.basename(net.netns)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for cmd in (
            ["ip", "-n", ours, "link", "add", "up0", "type", "veth", "peer", "name", "up1",
             "netns", self.name],
            ["ip", "-n", ours, "addr", "add", "10.99.0.1/24", "dev", "up0"],
            ["ip", "-n", ours, "link", "set", "up0", "up"],
            ["ip", "-n", self.name, "addr", "add", "10.99.0.2/24", "dev", "up1"],
            ["ip", "-n", self.name, "link", "set", "up1", "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
        ):  # fmt: skip
            subprocess.run(cmd, check=True)

    def python(self, code: str, **kw) -> subprocess.Popen:
        argv = ["nsenter", f"--net=/run/netns/{self.name}", PYTHON, "-c", code]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **kw)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@pytest.fixture(name="outside")
def outside_fixture(net):
    place = Outside(net)
    yield place
    place.close()


def iptables(net: NetCtr, *argv: str) -> str:
    cmd = ["nsenter", f"--net={net.netns}", "iptables", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_containers_reach_another_network_masqueraded(net, outside):
    """Outbound traffic as docker's: forwarded off the bridge and masqueraded. A server in the
    other network sees the uplink's address, not the container's (it has no route back)."""
    server = outside.python(SEEN_FROM)
    assert server.stdout.readline() == "up\n"
    out = net.ok("run", "--rm", net.image, "sh", "-c", "nc -w 5 10.99.0.2 7070 </dev/null")
    assert out == "seen from 10.99.0.1\n"
    rules = iptables(net, "-t", "nat", "-S", "POSTROUTING")
    assert "-s 172.17.0.0/16 ! -o tke0 -j MASQUERADE" in rules


CGI_REMOTE = (
    "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
    "echo $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && "
    "httpd -f -p 80 -h /www"
)
GET_FROM_OUTSIDE = (
    "import sys, time, urllib.request\n"
    "for _ in range(50):\n"
    "    try:\n"
    "        print(urllib.request.urlopen('http://10.99.0.1:8086/cgi-bin/ip', timeout=5)"
    ".read().decode(), end='')\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.1)\n"
)


def test_published_port_is_dnat_for_other_networks_and_proxied_on_loopback(net, outside):
    """docker's publishing: a client from another network reaches the container by DNAT (the
    container sees the client's address), the host's loopback through the proxy; the rules go
    with the container."""
    net.ok("run", "-d", "--name", "web", "-p", "8086:80", net.image, "sh", "-c", CGI_REMOTE)
    client = outside.python(GET_FROM_OUTSIDE)
    # busybox httpd writes IPv4 peers as [::ffff:A.B.C.D]
    assert client.communicate(timeout=30)[0].strip().endswith(":10.99.0.2]")
    assert fetch(net, "http://127.0.0.1:8086/cgi-bin/ip").strip().endswith(":172.17.0.1]")
    ip = net.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").strip()
    assert f"--to-destination {ip}:80" in iptables(net, "-t", "nat", "-S", "TKE")
    net.ok("rm", "-f", "web")
    for _ in range(50):
        left = [r for r in iptables(net, "-t", "nat", "-S", "TKE").splitlines() if ip in r]
        left += [r for r in iptables(net, "-S", "FORWARD").splitlines() if ip in r]
        if not left:
            break
        time.sleep(0.1)
    assert not left


def test_rules_flushed_by_a_firewall_reload_come_back_at_the_next_start(net, outside):
    """firewalld flushes iptables' tables on every reload or restart (seen on firewalld 1.3.3,
    tests/engine/test_network_firewalld.py), as `iptables -F` does here: the next start on
    the bridge puts back the outbound rules and the published ports of the containers that
    still run, once (no duplicates)."""
    net.ok("run", "-d", "--name", "web", "-p", "8086:80", net.image, "sh", "-c", CGI_REMOTE)
    before = iptables(net, "-t", "nat", "-S") + iptables(net, "-S")
    for argv in (["-t", "nat", "-F"], ["-t", "nat", "-X"], ["-F"]):
        iptables(net, *argv)
    server = outside.python(SEEN_FROM)
    assert server.stdout.readline() == "up\n"
    out = net.ok("run", "--rm", net.image, "sh", "-c", "nc -w 5 10.99.0.2 7070 </dev/null")
    assert out == "seen from 10.99.0.1\n"  # masqueraded again
    client = outside.python(GET_FROM_OUTSIDE)
    assert client.communicate(timeout=30)[0].strip().endswith(":10.99.0.2]")  # DNAT again
    after = iptables(net, "-t", "nat", "-S") + iptables(net, "-S")
    assert sorted(after.splitlines()) == sorted(before.splitlines())
    net.ok("rm", "-f", "web")


def test_network_ls_and_inspect_show_the_bridge_and_its_containers(net):
    rows = [line.split() for line in net.ok("network", "ls").splitlines()]
    assert rows[0] == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert sorted((r[1], r[2]) for r in rows[1:]) == [
        ("bridge", "bridge"), ("host", "host"), ("none", "null"),
    ]  # fmt: skip
    cid = net.ok("run", "-d", "--name", "member", net.image, "sleep", "60").strip()
    ip = net.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid).strip()
    bridge = json.loads(net.ok("network", "inspect", "bridge"))[0]
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert bridge["Containers"][cid]["Name"] == "member"
    assert bridge["Containers"][cid]["IPv4Address"] == f"{ip}/16"
    assert bridge["Options"]["com.docker.network.bridge.name"] == "tke0"
    fmt = "{{range .IPAM.Config}}{{.Subnet}}{{end}}"
    assert net.ok("network", "inspect", "-f", fmt, "bridge") == "172.17.0.0/16\n"
    net.ok("stop", "-t", "1", "member")
    assert json.loads(net.ok("network", "inspect", "bridge"))[0]["Containers"] == {}
    r = net.run("network", "inspect", "nosuch")
    assert r.returncode == 1 and "Error: No such network: nosuch" in r.stderr


def test_add_host_gateway_is_the_bridges_address(net):
    out = net.ok("run", "--rm", "--add-host", "host.docker.internal:host-gateway", net.image,
                 "grep", "host.docker.internal", "/etc/hosts")  # fmt: skip
    assert out == "172.17.0.1\thost.docker.internal\n"


def test_bridge_without_pyroute2_fails_clearly_and_leaves_nothing(net, tmp_path):
    """A host without pyroute2 (shadowed here by a package that cannot be imported)."""
    shadow = tmp_path / "shadow" / "pyroute2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named pyroute2')\n")
    env = dict(net.env, PYTHONPATH=f"{shadow.parent}:{net.env['PYTHONPATH']}")
    proc = subprocess.run(
        [*net.wrap, PYTHON, "-m", "toolkit.engine.cli", "run", "--rm", net.image, "true"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 125 and "the bridge network needs pyroute2" in proc.stderr
    assert "Traceback" not in proc.stderr and net.ids() == []
    assert net.ok("run", "--rm", "--network", "none", net.image, "echo", "ok") == "ok\n"


def test_udp_port_is_published_as_the_primer_shows(net):
    """`docker run -d -p 127.0.0.1:5000:5000/udp ...` and `docker port`: the host's UDP port
    is held by the container's proxy until the container stops."""
    net.ok("run", "-d", "--name", "u", "-p", "127.0.0.1:5000:5000/udp", net.image, "sleep", "60")
    assert net.ok("port", "u") == "5000/udp -> 127.0.0.1:5000\n"
    assert net.ok("port", "u", "5000/udp") == "127.0.0.1:5000\n"
    r = net.run("port", "u", "5000")  # docker's default protocol is tcp
    assert r.returncode == 1 and "No public port '5000/tcp' published" in r.stderr
    bind = (
        "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('127.0.0.1', 5000))"
    )
    with pytest.raises(subprocess.CalledProcessError):
        net.inside(bind)  # in use: the proxy holds it
    net.ok("stop", "-t", "1", "u")
    for _ in range(50):
        try:
            net.inside(bind)
            break
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    net.inside(bind)  # free again once the container stopped


def test_network_container_mode_shares_the_other_containers_network(net):
    """`--network container:NAME` (a sidecar): same addresses, same loopback."""
    net.ok(
        "run",
        "-d",
        "--name",
        "web",
        net.image,
        "sh",
        "-c",
        HTTPD.replace("-p 80", "-p 127.0.0.1:80"),
    )
    ip = net.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web").strip()
    script = (
        "ip -o -4 addr show eth0 | cut -d' ' -f7; "
        "for i in 1 2 3 4 5; do wget -qO- http://127.0.0.1/ && break; sleep 0.2; done"
    )
    out = net.ok("run", "--rm", "--network", "container:web", net.image, "sh", "-c", script)
    lines = out.splitlines()
    assert lines[0] == f"{ip}/16" and lines[-1].startswith("hello from ")
    mode = net.ok("create", "--network", "container:web", net.image).strip()
    assert net.ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", mode).startswith("container:")
    r = net.run("run", "--rm", "--network", "container:web", "-p", "80", net.image, "true")
    assert r.returncode == 125 and "port publishing and the container type network mode" in r.stderr
    net.ok("stop", "-t", "1", "web")
    r = net.run("start", mode)
    assert r.returncode == 1 and "cannot join network of a non running container" in r.stderr


def test_ps_filters_network_publish_expose(net):
    net.ok("run", "-d", "--name", "pub", "-p", "127.0.0.1:8085:80", "--expose", "9000", net.image,
           "sleep", "60")  # fmt: skip
    net.ok("run", "-d", "--name", "alone", "--network", "none", net.image, "sleep", "60")

    def names(*filters: str) -> list:
        argv = ["ps", "--format", "{{.Names}}"] + [f"--filter={f}" for f in filters]
        return sorted(net.ok(*argv).split())

    assert names("network=bridge") == ["pub"] and names("network=none") == ["alone"]
    assert names("publish=80") == ["pub"] and names("publish=80/udp") == []
    assert names("expose=9000/tcp") == ["pub"] and names("expose=9001") == []
