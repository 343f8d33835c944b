"""Container lifecycle: create, start (spawn the shim), stop, kill, restart, pause, rm, wait.

    ctrs = Containers(store)
    rec = create(ctrs, "busybox", config={...}, host_config={...}, name="web")
    start(ctrs, rec["Id"])                      # returns once the container runs
    stop(ctrs, cid, timeout=10); remove(ctrs, cid, force=True)

`config` and `host_config` use docker's field names (Cmd, Entrypoint, Env, Tty, OpenStdin,
WorkingDir, User, Labels, Hostname / RestartPolicy, AutoRemove, Memory, NanoCpus, CpuShares,
PidsLimit, Privileged, CapAdd, CapDrop, ReadonlyRootfs, NetworkMode, PortBindings, Binds, ...).
"""

from __future__ import annotations

import marshal
import os
import select
import sys
import time

from toolkit.engine import bpfcache, cgroups, jsonc, rootfs, runtime, shimproc, spec
from toolkit.engine import images as imagedb
from toolkit.engine.containers import ContainerError, Containers, shim_alive
from toolkit.engine.ctxutil import suppress
from toolkit.engine.store import now_iso, remove_tree
from toolkit.errors import TkError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional


ROOT = (0, 0, [])  # uid, gid, additional gids


class StartError(TkError):
    """The container did not start: 125 (engine), 126 (not executable), 127 (not found)."""

    exit_code = 125


def create(
    ctrs: Containers,
    image: str,
    config: dict,
    host_config: dict,
    name: Optional[str] = None,
    img: Optional[imagedb.ImageInfo] = None,
    cid: str = "",
) -> dict:
    """`img`: `image` resolved already by the caller (resolved here when None). `cid`: the ID
    to give it (one a launched shim started the runtime for: runtimeproc.py), else a new one."""
    img = img or imagedb.resolve(ctrs.store, image)
    icfg = img.config.get("config") or {}
    cfg = _merge_config(icfg, config, image)
    entry = cfg.get("Entrypoint") or []
    cmd = cfg.get("Cmd") or []
    argv = list(entry) + list(cmd)
    if not argv:
        raise StartError("Error response from daemon: No command specified")
    rt = runtime.choose(ctrs.run_dir, host_config.get("Runtime"), ctrs.store.settings())
    host = dict(host_config, Runtime=rt.name)
    host.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if host.get("NetworkMode", "default") in ("default", "bridge"):
        host["NetworkMode"] = default_network(ctrs.store.settings(), host.get("NetworkMode"))
    if host["NetworkMode"].startswith("container:"):  # by ID: it may be renamed
        host["NetworkMode"] = "container:" + ctrs.find(host["NetworkMode"].split(":", 1)[1])
    if host.get("Links") and host["NetworkMode"] != "bridge":
        raise ContainerError(
            "Error response from daemon: conflicting options: --link needs the bridge network"
        )
    host["LogConfig"] = _log_config(host.get("LogConfig"), ctrs.store.settings())
    if host.get("PortBindings"):  # docker: a published port is an exposed one
        cfg["ExposedPorts"] = dict(cfg.get("ExposedPorts") or {})
        cfg["ExposedPorts"].update({port: {} for port in host["PortBindings"]})
    with ctrs.locked():
        ctrs.index_names()
        if name:
            _check_name(name)
            owner = ctrs.name_owner(name)
            if owner is not None:
                raise name_conflict(name, owner)
        mounts = _mounts(ctrs, host, cfg.get("Volumes"))
        cid = cid or ctrs.new_id()
        name = name or ctrs.new_name()
        ctrdir = ctrs.path(cid)
        os.makedirs(ctrdir, 0o700)
        rec = _record(ctrs, cid, name, img, cfg, host, argv)
        rec["Mounts"] = mounts
        try:
            ctrs.claim_name(name, cid)  # before the record, which makes the link count
            rootfs.prepare(ctrdir, img.layer_dirs, os.path.join(ctrs.store.root, "init"))
            # no state.json yet: a container without one is "created"
            _save_new_record(ctrs, rec)
        except BaseException:
            remove_tree(ctrdir)
            ctrs.release_name(name, cid)
            raise
    return rec


def _log_config(conf: Optional[dict], settings: dict) -> dict:
    """The container's LogConfig (docker's default without importing logconfig)."""
    if conf is None and not (settings.get("log-driver") or settings.get("log-opts")):
        return {"Type": "json-file", "Config": {}}
    from toolkit.engine import logconfig

    return logconfig.with_defaults(conf, settings)


def default_network(settings: dict, asked: Optional[str] = None) -> str:
    """docker's default `bridge`, unless the store's config.json says `"bridge": "none"` (as
    dockerd's daemon.json does) or $TKE_BRIDGE does; then asking for it is an error."""
    off = (os.environ.get("TKE_BRIDGE") or settings.get("bridge") or "") == "none"
    if off and asked == "bridge":
        raise ContainerError("Error response from daemon: network bridge not found")
    return "none" if off else "bridge"


def name_conflict(name: str, owner: str) -> ContainerError:
    return ContainerError(
        f'Error response from daemon: Conflict. The container name "/{name}" is already in use '
        f'by container "{owner}". You have to remove (or rename) that container to be able to '
        "reuse that name."
    )


def _save_new_record(ctrs: Containers, rec: dict) -> None:
    """The record holds its image: `rmi` and `image prune` decide under the store lock from the
    container records (images.users), so the image must still be there when it appears."""
    with ctrs.store.locked():
        if rec["Image"] not in ctrs.store.load()["images"]:
            raise imagedb.ImageNotFound(f"No such image: {rec['Config']['Image']}")
        ctrs.save_record(rec)


def _mounts(ctrs: Containers, host: dict, image_volumes: Optional[dict]) -> list:
    """`-v`, `--volumes-from` and the image's VOLUMEs as the container's Mounts (volumes are
    created here, as docker does at create)."""
    if not (host.get("VolumesFrom") or host.get("Binds") or image_volumes):
        return []  # the common case, without importing volumes (~0.2 ms of `tke run`)
    from toolkit.engine import volumes

    sources = []
    for item in host.get("VolumesFrom") or []:
        ref, _, mode = item.partition(":")
        other = ctrs.record(ctrs.find(ref)) or {}
        sources.append((other.get("Mounts") or [], mode))
    return volumes.container_mounts(ctrs.store, host.get("Binds") or [], sources, image_volumes)


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise ContainerError(
            f"Error response from daemon: Invalid container name ({name}), only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )


def _merge_config(icfg: dict, config: dict, image: str) -> dict:
    cfg = {
        "Hostname": "",
        "Domainname": "",
        "User": icfg.get("User") or "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": list(icfg.get("Env") or []),
        "Cmd": icfg.get("Cmd"),
        "Image": image,
        "Volumes": icfg.get("Volumes"),
        "WorkingDir": icfg.get("WorkingDir") or "",
        "Entrypoint": icfg.get("Entrypoint"),
        "OnBuild": None,
        "Labels": dict(icfg.get("Labels") or {}),
        "ExposedPorts": icfg.get("ExposedPorts"),
        "StopSignal": icfg.get("StopSignal") or "",
    }
    if config.get("Entrypoint") is not None:
        cfg["Entrypoint"] = config["Entrypoint"] or None
        cfg["Cmd"] = None
    env = {e.split("=", 1)[0]: e for e in cfg["Env"]}
    for item in config.get("Env") or []:
        env[item.split("=", 1)[0]] = item
    cfg["Env"] = list(env.values())
    cfg["Labels"].update(config.get("Labels") or {})
    for key, value in config.items():
        if key in ("Env", "Labels", "Entrypoint"):
            continue
        if key == "Cmd" and not value:
            continue
        cfg[key] = value
    return cfg


def _record(ctrs, cid, name, img, cfg, host, argv) -> dict:
    ctrdir = ctrs.path(cid)
    return {
        "Id": cid,
        "Created": now_iso(),
        "Path": argv[0],
        "Args": argv[1:],
        "Image": img.id,
        "ResolvConfPath": os.path.join(ctrdir, "resolv.conf"),
        "HostnamePath": os.path.join(ctrdir, "hostname"),
        "HostsPath": os.path.join(ctrdir, "hosts"),
        "LogPath": os.path.join(ctrdir, f"{cid}-json.log"),
        "Name": "/" + name,
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": host,
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(reversed(img.layer_dirs)),
                "UpperDir": os.path.join(ctrdir, "upper"),
                "WorkDir": os.path.join(ctrdir, "work"),
                "MergedDir": os.path.join(ctrdir, "merged"),
            },
        },
        "Mounts": [],
        "Config": cfg,
        "NetworkSettings": _network_settings(host),
    }


def _network_settings(host: dict) -> dict:
    mode = host.get("NetworkMode") or "none"
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "Ports": {},
        "SandboxKey": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "MacAddress": "",
        "Networks": {
            mode: {
                "Links": host.get("Links"),
                "Aliases": None,
                "NetworkID": "",
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "MacAddress": "",
            }
        },
    }


# --- start ----------------------------------------------------------------------------------
def _network_release(ctrs: Containers, cid: str) -> Optional[dict]:
    if not os.path.exists(ctrs.path(cid, "network.json")):
        return None  # the common case, without importing network
    from toolkit.engine import network

    now = network.live(ctrs, cid)
    return now and now["release"]


def _write_etc(ctrdir: str, hostname: str, host: dict, net: Optional[dict] = None) -> None:
    """The container's /etc/hostname, /etc/hosts (its own address, links, --add-host) and
    /etc/resolv.conf (the host's, or --dns, --dns-search, --dns-option)."""
    with open(os.path.join(ctrdir, "hostname"), "w") as fh:
        fh.write(hostname + "\n")
    with open(os.path.join(ctrdir, "hosts"), "w") as fh:
        fh.write(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
            "ff02::2\tip6-allrouters\n"
        )
        fh.writelines(line + "\n" for line in extra_hosts(host, net))
        fh.writelines(line + "\n" for line in (net or {}).get("hosts") or [])
    with open(os.path.join(ctrdir, "resolv.conf"), "w") as fh:
        fh.writelines(resolv_conf(host))


def _joined_netns(ctrs: Containers, rec: dict) -> str:
    """`--network container:X`: the network namespace of running container X."""
    other = rec["HostConfig"]["NetworkMode"].split(":", 1)[1]
    state = ctrs.state(other) if ctrs.record(other) else None
    if state is None or not state["Running"]:
        raise StartError(
            f"Error response from daemon: cannot join network of a non running container: {other}"
        )
    path = ctrs.path(other, "network.json")
    if os.path.exists(path):
        from toolkit.engine import network

        return network.live(ctrs, other)["settings"]["SandboxKey"]
    return f"/proc/{state['Pid']}/ns/net"


def _use_init(conf: dict, settings: dict) -> None:
    from toolkit.engine import initbin

    path = initbin.find(settings)
    if path is None:
        raise StartError(
            'Error response from daemon: exec: "docker-init": executable file not found in '
            '$PATH (a static docker-init, tini-static or catatonit, or "init-path" in the '
            "store's config.json)"
        )
    initbin.use(conf, path)


def extra_hosts(host: dict, net: Optional[dict]) -> list:
    lines = []
    for item in host.get("ExtraHosts") or []:
        name, _, ip = item.partition(":")
        if ip == "host-gateway":
            if net is None:
                raise StartError(
                    "Error response from daemon: --add-host host-gateway needs the bridge network"
                )
            ip = net["settings"]["Gateway"]
        lines.append(f"{ip}\t{name}")
    return lines


def resolv_conf(host: dict) -> list:
    """The host's resolv.conf without loopback nameservers (they are not reachable from the
    container's network), with --dns/--dns-search/--dns-option's in place of its own."""
    lines = []
    with suppress(OSError), open("/etc/resolv.conf") as fh:
        for line in fh:
            words = line.split()
            key = words[0] if words else ""
            loopback = key == "nameserver" and words[1:2] and words[1].startswith("127.")
            replaced = {"nameserver": "Dns", "search": "DnsSearch", "options": "DnsOptions"}
            if loopback or (key in replaced and host.get(replaced[key])):
                continue
            lines.append(line)
    lines += [f"nameserver {ip}\n" for ip in host.get("Dns") or []]
    if host.get("DnsSearch"):
        lines.append("search " + " ".join(host["DnsSearch"]) + "\n")
    if host.get("DnsOptions"):
        lines.append("options " + " ".join(host["DnsOptions"]) + "\n")
    return lines


def mount_rootfs(ctrs: Containers, rec: dict, shim: Optional[shimproc.ShimProc] = None):
    """Begin mounting a container's rootfs (for `start(mounting=)`: `run` begins as soon as
    the container is created, before its start writes the container's files). `shim`: the
    one `run` launched first, which is asked to mount it now (rootfs.ShimMount) if it can be:
    a container without volumes (they are copied up into the mounted rootfs) whose image's
    passwd and group files are found in its layers."""
    volatile = bool(rec["HostConfig"].get("AutoRemove"))
    ctrdir = ctrs.path(rec["Id"])
    if shim is not None and shim.early_id and not rec.get("Mounts"):
        deferred = rootfs.ShimMount.for_container(ctrdir, volatile, spec.USER_FILES)
        if deferred is not None:
            shim.send_mount(deferred.request())
            return deferred
    return rootfs.Mounting(ctrdir, volatile=volatile)


def prepare_start(ctrs: Containers, rec: dict, mounting=None) -> tuple:
    """Mount the rootfs (unless `mounting` does, or leaves it to the shim: ShimMount), write
    config.json and the /etc files. Returns the runtime and what the shim is to put in the
    seccomp cache (bpfcache.apply)."""
    cid = rec["Id"]
    ctrdir = ctrs.path(cid)
    # the overlay is mounted while the files and the spec are made (the user is looked up
    # in the image's /etc/passwd once it is mounted), or by the shim (ShimMount)
    mounting = mounting or mount_rootfs(ctrs, rec)
    net = None
    try:
        if rec["HostConfig"].get("NetworkMode") == "bridge":
            from toolkit.engine import network

            net = network.attach(ctrs, rec)
        _write_etc(ctrdir, rec["Config"].get("Hostname") or cid[:12], rec["HostConfig"], net)
        conf = spec.build(rec, mounting.merged, ctrdir, ROOT, seccomp_filter=False)
        if net is not None:
            spec.join_network(conf, net["settings"]["SandboxKey"], net["env"])
        elif rec["HostConfig"].get("NetworkMode", "").startswith("container:"):
            spec.join_network(conf, _joined_netns(ctrs, rec), [])
        if rec["HostConfig"].get("Init"):
            _use_init(conf, ctrs.store.settings())
        rt = runtime.from_record(ctrs.run_dir, rec["HostConfig"]["Runtime"])
        fill_cache = bpfcache.apply(conf, rec["HostConfig"], rt, ctrs.run_dir, cid)
        merged = mounting.wait()
        if rec.get("Mounts"):
            from toolkit.engine import volumes

            volumes.copy_up(merged, rec["Mounts"])
        spec.set_user(conf, _user_ids(mounting, rec["Config"].get("User") or ""))
        with open(os.path.join(ctrdir, "config.json"), "w") as fh:
            fh.write(jsonc.dumps(conf))
    except BaseException as exc:
        mounting.settle()
        rootfs.unmount_rootfs(ctrdir)
        release_network(ctrs, cid)
        if isinstance(exc, OSError):  # the host's side (mount, files): docker's 125
            where = f": {exc.filename}" if exc.filename else ""
            raise StartError(f"Error response from daemon: {exc.strerror}{where}") from None
        if isinstance(exc, TkError) and exc.exit_code == 125 and not isinstance(exc, StartError):
            # no such user or group in the image, a host port in use, ...
            text = exc.message
            if not text.startswith("Error response from daemon"):
                text = f"Error response from daemon: {text}"
            raise StartError(text) from None
        raise
    return rt, fill_cache


def _user_ids(mounting, user: str) -> tuple:
    """The process's uid, gid and groups from the image's passwd and group files: read from
    the layers (ShimMount.files) when the shim mounts the rootfs."""
    if isinstance(mounting, rootfs.ShimMount):
        return spec.user_ids(user, *(spec.read_table(p) if p else [] for p in mounting.files))
    return spec.resolve_user(mounting.wait(), user)


def shim_config(ctrs: Containers, rec: dict, rt: runtime.Runtime, attach: Optional[dict]) -> dict:
    cid = rec["Id"]
    cfg, host = rec["Config"], rec["HostConfig"]
    return {
        "id": cid,
        "bundle": ctrs.path(cid),
        "runtime": rt.argv(),
        "hide_hybrid_cgroup2": bool(rt.wrap),
        # crun (490 KB) from a sealed copy the shim makes; runc (Go, ~9 MB) makes its own
        # faster, with a read-only bind mount
        "sealed_exec": rt.name == "crun",
        "network": _network_release(ctrs, cid),
        "tty": bool(cfg.get("Tty")),
        "stdin": bool(cfg.get("OpenStdin")),
        "stdin_once": bool(cfg.get("StdinOnce")),
        **_log_limits(rec),
        "sock": ctrs.sock(cid),
        "console_sock": ctrs.sock(cid, "con"),
        "pidfile": ctrs.path(cid, "pidfile"),
        "restart": host.get("RestartPolicy") or {"Name": "no"},
        "autoremove": bool(host.get("AutoRemove")),
        "cleanup": [
            os.path.abspath(sys.executable),
            "-m",
            "toolkit.engine.containers",
            "cleanup",
            ctrs.store.root,
            cid,
        ],
        "merged": ctrs.path(cid, "merged"),
        "attach": attach,
        "tmp_dir": ctrs.store.tmp_dir,
        "runtime_state": os.path.join(rt.state_root, cid),
        "cgroup": cgroups.cgroup_path(cid),
        "rm_paths": removal_paths(ctrs, rec) if attach and attach.get("claim_rm") else None,
    }


def _log_limits(rec: dict) -> dict:
    """The shim's log file (/dev/null for the `none` driver) and its rotation."""
    conf = rec["HostConfig"].get("LogConfig") or {"Type": "json-file"}
    if conf["Type"] == "none":
        return {"log": os.devnull}
    if not conf.get("Config"):
        return {"log": rec["LogPath"]}
    from toolkit.engine import logconfig

    max_size, max_files = logconfig.limits(conf)
    return {"log": rec["LogPath"], "log_max_size": max_size, "log_max_files": max_files}


def removal_paths(ctrs: Containers, rec: dict) -> Optional[dict]:
    """For a foreground `run --rm` of a container without network or volumes: what its shim
    needs to remove it before it sends the exit frame (shim.remove_claimed), which takes the
    removal (~0.5 ms of Python here) off the way to the command's end. None otherwise: the
    client removes it (`remove`), as it does if the shim could not."""
    host = rec["HostConfig"]
    if rec.get("Mounts") or host.get("NetworkMode") not in ("none", "host"):
        return None
    cid = rec["Id"]
    return {
        "lock": os.path.join(ctrs.dir, "lock"),
        "merged": ctrs.path(cid, "merged"),
        "sockets": [ctrs.sock(cid), ctrs.sock(cid, "con")],
        "dir": ctrs.path(cid),
        "name_link": ctrs.name_link(rec["Name"].lstrip("/")),
    }


def start(
    ctrs: Containers,
    cid: str,
    attach: Optional[dict] = None,
    on_attached=None,
    shim: Optional[shimproc.ShimProc] = None,
    on_sent=None,
    mounting=None,
) -> int:
    """Start a created or exited container; returns the container's pid.

    `attach`: what the caller wants as an attach client (stdin, stdout, stderr, claim_rm,
    rows, cols; attach.py): the shim's first client, connected before the container starts
    (nothing it prints is missed); `on_attached(sock)` gets the socket as soon as the shim has
    its instructions. `shim`: one from `launch_shim` (started earlier to overlap its
    start-up); used or abandoned here. `on_sent()`: called once the shim has its
    instructions, while it starts the container (work done there is off the start path).
    `mounting`: the rootfs mount `mount_rootfs` began (or left to the shim) for a container
    just created."""
    try:
        with ctrs.locked_one(cid):
            rec = ctrs.record(cid)
            if rec is None:
                raise ContainerError(f"Error response from daemon: No such container: {cid}")
            state = ctrs.state(cid)
            if state["Running"] or state["Restarting"]:
                return state["Pid"]
            launched, shim = shim, None
            hooks = (on_attached, on_sent)
            early, mounting = mounting, None
            return _start_locked(ctrs, cid, rec, attach, hooks, launched, early)
    finally:
        abandon_shim(shim)
        if mounting is not None:
            mounting.settle()


def _start_locked(ctrs, cid, rec, attach, hooks, shim, mounting=None) -> int:
    try:
        # the previous shim may still be deleting the runtime state and unmounting the rootfs
        wait_shim_gone(ctrs, cid, 10)
        with suppress(FileNotFoundError):
            os.unlink(ctrs.path(cid, "stopped"))
        # the shim's interpreter starts (if not yet) while the rootfs is mounted and
        # config.json written; it then reads its instructions from its stdin
        shim = shim or launch_shim(ctrs)
        rt, fill_cache = prepare_start(ctrs, rec, mounting)
        mounting = None  # prepare_start's now, undone there if it fails
        runtime.favor_dynmods(ctrs.store.settings())
        os.makedirs(ctrs.run_dir, exist_ok=True)  # the shim's sockets
        conf = shim_config(ctrs, rec, rt, attach)
        conf["bpf_cache"] = fill_cache
        conf["restart_count"] = ctrs.raw_state(cid).get("RestartCount", 0)
    except BaseException:
        abandon_shim(shim)
        if mounting is not None:
            mounting.settle()
            with suppress(OSError):
                rootfs.unmount_rootfs(ctrs.path(cid))
        release_network(ctrs, cid)
        raise
    try:
        return _run_shim(ctrs, cid, shim, conf, *hooks)
    except StartError:
        with suppress(OSError):
            rootfs.unmount_rootfs(ctrs.path(cid))
        release_network(ctrs, cid)
        raise


def remember_runtime(ctrs: Containers, conf: dict) -> None:
    """The runtime command line that the next `tke run`'s shim starts before it has its
    instructions (runtimeproc.start_early): this start's, if it is crun (runc has no
    `--config`); on a hybrid host only with a kernel that can show the rootfs to crun's
    private namespace (open_tree, 5.2). Rewritten only when it changes. (Called once the
    instructions are sent: off the start's way.)"""
    path = os.path.join(ctrs.store.root, shimproc.RUNTIME_CACHE)
    known = {
        "runtime": conf["runtime"],
        "hide": conf["hide_hybrid_cgroup2"],
        "sealed": conf["sealed_exec"],
    }
    data = marshal.dumps(known) if conf["sealed_exec"] else b""
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return
    except FileNotFoundError:
        if not data:
            return
    if data and known["hide"]:
        from toolkit.engine.seccomp import kernel_at_least

        data = data if kernel_at_least("5.2") else b""
    if not data:
        with suppress(FileNotFoundError):
            os.unlink(path)
        return
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def release_network(ctrs: Containers, cid: str) -> None:
    """network.detach for a container that has a network (no import for one without)."""
    if os.path.exists(ctrs.path(cid, "network.json")):
        from toolkit.engine import network

        network.detach(ctrs, cid)


def launch_shim(ctrs: Containers) -> shimproc.ShimProc:
    """Start a shim process that waits for its instructions on stdin (`start(..., shim=)`):
    its interpreter starts while tke creates the container and mounts its rootfs. Until it
    has them its stderr is a pipe; then it appends to CTRDIR/shim.err."""
    return shimproc.launch(ctrs.store.root)


def abandon_shim(proc: Optional[shimproc.ShimProc]) -> None:
    """A launched shim that will get no container: without instructions it exits."""
    if proc is not None:
        proc.abandon()


def _run_shim(ctrs, cid: str, proc: shimproc.ShimProc, conf: dict, on_attached, on_sent) -> int:
    """Hand the shim its instructions, then follow its status lines until the container runs."""
    sock = proc.attach_socket() if conf.get("attach") is not None else None
    proc.send(marshal.dumps(conf))  # shim.py: read by the same interpreter
    with suppress(OSError):  # for the next run; this one's runtime is under way
        remember_runtime(ctrs, conf)
    if sock is not None:
        on_attached(sock)
    if on_sent is not None:
        on_sent()
    reader = os.fdopen(proc.status_r, "rb")
    proc.status_r = -1
    try:
        for line in reader:
            msg = jsonc.loads(line)
            if "started" in msg:
                return int(msg["started"])
            if "error" in msg:
                raise start_error(msg["error"], msg.get("code"))
        proc.wait()  # the shim died: its pipe ends are closed
        early = proc.read_stderr()
    finally:
        reader.close()
        proc.release()
    detail = early.decode(errors="replace").strip().splitlines()[-1:]
    with suppress(OSError), open(ctrs.path(cid, "shim.err"), "rb") as fh:
        detail = detail or fh.read().decode(errors="replace").strip().splitlines()[-1:]
    if detail:
        raise StartError("the container supervisor failed: " + " ".join(detail))
    raise StartError("the container supervisor failed")


def start_error(message: str, code: Optional[int] = None) -> StartError:
    """docker's exit codes: 127 command not found, 126 not executable, 125 otherwise; `code`
    125: the host's side failed (the shim could not mount the rootfs), said as tke would."""
    if code == 125:
        return StartError(f"Error response from daemon: {message}")
    text = message.lower()
    err = StartError(f"Error response from daemon: failed to create task for container: {message}")
    if "no such file" in text or "not found" in text:
        err.exit_code = 127
    elif (
        "permission denied" in text
        or "is a directory" in text
        or ("executable" in text and "not permitted" in text)
    ):
        err.exit_code = 126
    return err


# --- stop, kill, pause --------------------------------------------------------------------
def runtime_of(ctrs: Containers, cid: str) -> runtime.Runtime:
    """The runtime a container was created with."""
    rec = ctrs.record(cid) or {}
    return runtime.from_record(ctrs.run_dir, rec.get("HostConfig", {}).get("Runtime", "runc"))


def _mark_stopped(ctrs: Containers, cid: str) -> None:
    with open(ctrs.path(cid, "stopped"), "w"):
        pass


def wait_exit(ctrs: Containers, cid: str, timeout: Optional[float]) -> bool:
    """Poll until the container is neither running nor restarting. True if it stopped."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        state = ctrs.state(cid)
        if not state["Running"] and not state["Restarting"]:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def wait_shim_gone(ctrs: Containers, cid: str, timeout: float = 10) -> None:
    """Block until the container's shim has exited (a pidfd: no polling), at most `timeout`."""
    pid = ctrs.raw_state(cid).get("ShimPid")
    if not shim_alive(pid):
        return
    try:
        pidfd = os.pidfd_open(int(pid))
    except (AttributeError, OSError):  # gone already, or a kernel without pidfds
        _poll_shim_gone(ctrs, cid, timeout)
        return
    try:
        if shim_alive(pid):  # still the shim (not a reused pid) now that the fd pins it
            select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)


def _poll_shim_gone(ctrs: Containers, cid: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline:
        if not shim_alive(ctrs.raw_state(cid).get("ShimPid")):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def stop(ctrs: Containers, cid: str, timeout: Optional[int] = None, signal: str = "") -> None:
    state = ctrs.state(cid)
    _mark_stopped(ctrs, cid)
    if not state["Running"] and not state["Restarting"]:
        return
    rt = runtime_of(ctrs, cid)
    rec = ctrs.record(cid) or {}
    config = rec.get("Config", {})
    sig = signal or config.get("StopSignal") or "TERM"
    if state["Paused"]:
        unpause(ctrs, cid)
    if timeout is None:  # docker: the container's --stop-timeout, else 10 s
        timeout = config.get("StopTimeout")
    grace = 10 if timeout is None else timeout
    if grace > 0 or timeout is None:
        rt.kill(cid, signal_name(sig))
        if wait_exit(ctrs, cid, grace):
            return
    rt.kill(cid, "KILL", all_procs=True)
    wait_exit(ctrs, cid, 10)


def signal_name(sig: str) -> str:
    """A signal as the runtime takes it (KILL, 9, RTMIN+3); docker's error for one the host
    does not have (crun would take an unknown name as signal 0 and say nothing)."""
    import signal as signals

    name = str(sig).upper()
    name = name[3:] if name.startswith("SIG") else name
    if name.isdigit():
        known = 0 < int(name) < signals.NSIG
    elif name.startswith(("RTMIN+", "RTMAX-")) and name[6:].isdigit():
        known = int(name[6:]) <= signals.SIGRTMAX - signals.SIGRTMIN
    else:
        known = name in {s.name[3:] for s in signals.Signals if not s.name.startswith("SIG_")}
    if not known:
        raise ContainerError(f"Error response from daemon: Invalid signal: {sig}")
    return name


def kill(ctrs: Containers, cid: str, signal: str = "KILL") -> None:
    state = ctrs.state(cid)
    if not state["Running"]:
        raise ContainerError(
            f"Error response from daemon: Cannot kill container: {cid[:12]}: Container "
            f"{cid} is not running"
        )
    sig = signal_name(signal)
    if sig in ("KILL", "9", "TERM", "15", "INT", "2"):
        _mark_stopped(ctrs, cid)
    if not runtime_of(ctrs, cid).kill(cid, sig):
        raise ContainerError(f"Error response from daemon: Cannot kill container {cid[:12]}")


def pause(ctrs: Containers, cid: str) -> None:
    state = ctrs.state(cid)
    if not state["Running"]:
        raise ContainerError(f"Error response from daemon: Container {cid} is not running")
    if state["Paused"]:
        raise ContainerError(f"Error response from daemon: Container {cid} is already paused")
    runtime_of(ctrs, cid).run("pause", cid)
    with open(ctrs.path(cid, "paused"), "w"):
        pass


def unpause(ctrs: Containers, cid: str) -> None:
    state = ctrs.state(cid)
    if not state["Paused"]:
        raise ContainerError(f"Error response from daemon: Container {cid} is not paused")
    runtime_of(ctrs, cid).run("resume", cid)
    with suppress(FileNotFoundError):
        os.unlink(ctrs.path(cid, "paused"))


# --- remove ---------------------------------------------------------------------------------
def remove(
    ctrs: Containers,
    cid: str,
    force: bool = False,
    quiet: bool = False,
    shim_deletes=False,
    volumes: bool = False,
) -> None:
    """docker rm. `shim_deletes`: a foreground `tke run --rm` that claimed the removal has
    the container's exit frame (its shim sends it before it records the exit) and the shim
    runs the runtime's `delete` itself: not waited for here. `volumes` (`rm -v`, and
    `run --rm`): also remove its anonymous volumes no other container uses."""
    if shim_deletes and not os.path.lexists(ctrs.path(cid)):
        return  # its shim removed it before the exit frame (removal_paths)
    state = ctrs.state(cid)
    if (state["Running"] or state["Restarting"]) and not shim_deletes:
        if not force:
            raise ContainerError(
                f"Error response from daemon: You cannot remove a running container {cid}. "
                "Stop the container before attempting removal or force remove"
            )
        _mark_stopped(ctrs, cid)
        rt = runtime_of(ctrs, cid)
        if state["Paused"]:
            rt.kill(cid, "KILL", all_procs=True)
            rt.run("resume", cid, check=False)
        rt.kill(cid, "KILL", all_procs=True)
        wait_exit(ctrs, cid, 10)
    rec = ctrs.record(cid)
    if rec is None:
        wait_shim_gone(ctrs, cid, 5)
        return
    shim_pid = state["ShimPid"]
    # the runtime's delete runs while the shim winds down and the rootfs is unmounted
    deleter = None if shim_deletes else runtime_of(ctrs, cid).start_delete(cid)
    try:
        if deleter is not None:
            wait_shim_gone(ctrs, cid, 5)
        with ctrs.locked():
            if ctrs.record(cid) is None:
                return
            rootfs.unmount_rootfs(ctrs.path(cid))
            release_network(ctrs, cid)
            if deleter is not None:
                deleter.wait()
            alive = shim_deletes and shim_alive(shim_pid)
            ctrs.remove_dir(cid, shim_pid if alive else 0)
            ctrs.release_name(rec.get("Name", "").lstrip("/"), cid)
            if volumes:
                _remove_anonymous_volumes(ctrs, rec)
    finally:
        if deleter is not None:
            deleter.wait()
    if shim_deletes and not shim_alive(shim_pid):
        _delete_runtime_leftover(ctrs, rec)
    db = ctrs.store.load()
    if db["holds"]:  # holds in db.json: containers made before records held their image
        if cid in db["holds"].get(rec["Image"], []):
            with suppress(TkError):
                imagedb.release(ctrs.store, rec["Image"], cid)
        release_stale_holds(ctrs, db)


def volume_users(ctrs: Containers, name: str) -> list:
    """Names of the containers that mount volume `name`."""
    users = []
    for cid in ctrs.ids():
        rec = ctrs.record(cid) or {}
        if any(m.get("Name") == name for m in rec.get("Mounts") or []):
            users.append(rec.get("Name", "/" + cid).lstrip("/"))
    return users


def _remove_anonymous_volumes(ctrs: Containers, rec: dict) -> None:
    if not rec.get("Mounts"):
        return
    from toolkit.engine import volumes

    for name in volumes.anonymous_of(ctrs.store, rec.get("Mounts") or []):
        if not volume_users(ctrs, name):
            with suppress(TkError, OSError):
                volumes.remove(ctrs.store, name, [])


def _delete_runtime_leftover(ctrs: Containers, rec: dict) -> None:
    """The shim that was to delete the runtime's state died first: delete what it left."""
    rt = runtime.from_record(ctrs.run_dir, rec["HostConfig"].get("Runtime", "runc"))
    if os.path.isdir(os.path.join(rt.state_root, rec["Id"])):
        rt.delete(rec["Id"])


def release_stale_holds(ctrs: Containers, db: Optional[dict] = None) -> int:
    """Drop image holds (in db.json) of containers that no longer exist (a removal interrupted
    between deleting the container and releasing its image). Returns how many were dropped."""
    holds = (db or ctrs.store.load()).get("holds", {})
    existing = set(ctrs.ids())
    stale = [(i, h) for i, hs in holds.items() for h in hs if len(h) == 64 and h not in existing]
    for image_id, holder in stale:
        with suppress(TkError):
            imagedb.release(ctrs.store, image_id, holder)
    return len(stale)


def wait(ctrs: Containers, cid: str) -> int:
    wait_exit(ctrs, cid, None)
    return int(ctrs.state(cid)["ExitCode"])


def restart(ctrs: Containers, cid: str, timeout: Optional[int] = None) -> None:
    stop(ctrs, cid, timeout)
    start(ctrs, cid)
