"""Manage a tke container (a subset of community.docker.docker_container).

The container called `name` is made to match the task: its compared configuration (the image
ID of `image`, command, entrypoint, env, ports, volumes, links, network mode, restart policy,
labels and the other options the task gives, read from `tke inspect`) is left alone when it
matches and removed and created again when it differs; then `state` decides whether it runs.
Options the task leaves out are not compared. Removal is forced (`tke rm -f`), after a graceful
`tke stop` when `stop_timeout` is given. With `detach: false` the module waits for the
container to exit and returns its exit code in `status` and its output in `container.Output`.
"""

import shlex

from modules._utils.tke import Tke, parse_size

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "image": {"type": "str"},
    "state": {
        "type": "str",
        "default": "started",
        "choices": ["absent", "present", "stopped", "started"],
    },
    "command": {"type": "raw"},
    "entrypoint": {"type": "list", "elements": "str"},
    "env": {"type": "dict"},
    "published_ports": {"type": "list", "elements": "str", "aliases": ["ports"]},
    "exposed_ports": {"type": "list", "elements": "str", "aliases": ["exposed", "expose"]},
    "volumes": {"type": "list", "elements": "str"},
    "volumes_from": {"type": "list", "elements": "str"},
    "links": {"type": "list", "elements": "str"},
    "network_mode": {"type": "str"},
    "restart_policy": {
        "type": "str",
        "choices": ["no", "on-failure", "always", "unless-stopped"],
    },
    "restart_retries": {"type": "int"},
    "hostname": {"type": "str"},
    "user": {"type": "str"},
    "working_dir": {"type": "str"},
    "labels": {"type": "dict"},
    "memory": {"type": "str"},
    "cpus": {"type": "float"},
    "cpu_shares": {"type": "int"},
    "pids_limit": {"type": "int"},
    "privileged": {"type": "bool"},
    "read_only": {"type": "bool"},
    "capabilities": {"type": "list", "elements": "str"},
    "cap_drop": {"type": "list", "elements": "str"},
    "detach": {"type": "bool", "default": True},
    "cleanup": {"type": "bool", "default": False},
    "recreate": {"type": "bool", "default": False},
    "restart": {"type": "bool", "default": False},
    "pull": {"type": "bool", "default": False},
    "stop_timeout": {"type": "int"},
    "keep_volumes": {"type": "bool", "default": True},
    "force_kill": {"type": "bool", "default": False, "aliases": ["forcekill"]},
    "init": {"type": "bool"},
    "etc_hosts": {"type": "dict"},
    "dns_servers": {"type": "list", "elements": "str"},
    "dns_search_domains": {"type": "list", "elements": "str"},
    "log_driver": {"type": "str"},
    "log_options": {"type": "dict", "aliases": ["log_opt"]},
    "tke_path": {"type": "path"},
    "_tke_engine": {"type": "dict"},
}
SUPPORTS_CHECK_MODE = True


# --- the configuration the task asks for ----------------------------------------------------
def strings(mapping, option):
    """A dict option's values as strings (booleans are ambiguous, as Ansible says)."""
    out = {}
    for key, value in (mapping or {}).items():
        if isinstance(value, bool):
            raise ValueError(
                "Non-string value found for %s option. Ambiguous %s options must be wrapped "
                "in quotes to avoid them being interpreted. Key: %s" % (option, option, key)
            )
        out[str(key)] = "" if value is None else str(value)
    return out


def command_list(command):
    if command is None:
        return None
    if isinstance(command, (list, tuple)):
        return [str(part) for part in command]
    return shlex.split(str(command))


def argv_parts(params):
    """(Entrypoint, Cmd) as tke records them: its --entrypoint takes one word, as docker's
    does, so the rest of a longer entrypoint goes before the command. None: not asked for."""
    entry, cmd = params["entrypoint"], command_list(params["command"])
    if entry is None:
        return None, cmd
    return entry[:1], entry[1:] + (cmd or [])


def env_dict(items):
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in items or [])


def port_bindings(items):
    """docker -p items (`[ip:][hostPort:]containerPort[/proto]`) as `ip:hostPort:port/proto`."""
    out = []
    for item in items:
        parts = item.split(":")
        target = parts[-1] if "/" in parts[-1] else parts[-1] + "/tcp"
        host_ip = parts[0] if len(parts) == 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        out.append("%s:%s:%s" % (host_ip, host_port, target))
    return sorted(out)


def expose_keys(items):
    """--expose items (`80`, `7000-7002/udp`) as Config.ExposedPorts keys."""
    out = set()
    for item in items:
        port, _, proto = item.partition("/")
        first, _, last = port.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError("invalid range format for exposed_ports: %s" % item)
        for number in range(int(first), int(last or first) + 1):
            out.add("%d/%s" % (number, proto or "tcp"))
    return out


def link_list(items):
    return sorted(item if ":" in item else "%s:%s" % (item, item) for item in items or [])


def cap_set(items):
    caps = (c.upper() for c in items or [])
    return sorted(set(c[4:] if c.startswith("CAP_") else c for c in caps))


def wanted(params, image):
    """The compared configuration the task asks for: only the options it gives."""
    icfg = (image or {}).get("Config") or {}
    want = {}
    if params["image"] is not None:
        want["image"] = image["Id"] if image else None  # None: to be pulled (check mode)
    entry, cmd = argv_parts(params)
    if entry is not None:
        want["entrypoint"] = entry
    if cmd is not None:
        want["command"] = cmd
    if params["env"] is not None:
        want["env"] = dict(env_dict(icfg.get("Env")), **strings(params["env"], "env"))
    if params["labels"] is not None:
        want["labels"] = dict(icfg.get("Labels") or {}, **strings(params["labels"], "labels"))
    want.update(_host_wanted(params, icfg))
    return want


def _host_wanted(params, icfg):
    want = {}
    published = params["published_ports"]
    if published is not None:
        want["published_ports"] = port_bindings(published)
    if params["exposed_ports"] is not None:
        keys = set(icfg.get("ExposedPorts") or {}) | expose_keys(params["exposed_ports"])
        keys |= set(p.rsplit(":", 1)[-1] for p in port_bindings(published or []))
        want["exposed_ports"] = sorted(keys)
    for key in ("volumes", "volumes_from"):
        if params[key] is not None:
            want[key] = sorted(params[key])
    if params["links"] is not None:
        want["links"] = link_list(params["links"])
    for key in ("capabilities", "cap_drop"):
        if params[key] is not None:
            want[key] = cap_set(params[key])
    if params["etc_hosts"] is not None:
        want["etc_hosts"] = host_list(params["etc_hosts"])
    for key in ("dns_servers", "dns_search_domains"):
        if params[key] is not None:
            want[key] = list(params[key])
    if params["network_mode"] not in (None, "default"):
        want["network_mode"] = params["network_mode"]
    if params["memory"] is not None:
        want["memory"] = parse_size(params["memory"])
    if params["cpus"] is not None:
        want["cpus"] = int(params["cpus"] * 1e9) / 1e9
    if params["log_options"] is not None:
        want["log_options"] = strings(params["log_options"], "log_options")
    if params["pids_limit"] is not None:  # 0 and -1 both mean no limit, as docker's
        want["pids_limit"] = max(params["pids_limit"], 0)
    for key in PLAIN:
        if params[key] is not None:
            want[key] = params[key]
    return want


def host_list(mapping):
    """etc_hosts ({name: ip}) as tke's ExtraHosts entries."""
    return sorted("%s:%s" % (name, ip) for name, ip in strings(mapping, "etc_hosts").items())


PLAIN = (
    "init",
    "restart_policy",
    "restart_retries",
    "hostname",
    "user",
    "working_dir",
    "privileged",
    "read_only",
    "log_driver",
    "cpu_shares",
)


# --- the same configuration read from `tke inspect` -----------------------------------------
def _cfg(ctr, key):
    return (ctr.get("Config") or {}).get(key)


def _host(ctr, key):
    return (ctr.get("HostConfig") or {}).get(key)


def _bindings(ctr):
    items = []
    for target, binds in (_host(ctr, "PortBindings") or {}).items():
        for bind in binds or [{}]:
            items.append("%s:%s:%s" % (bind.get("HostIp", ""), bind.get("HostPort", ""), target))
    return sorted(items)


CURRENT = {
    "image": lambda c: c.get("Image"),
    "entrypoint": lambda c: _cfg(c, "Entrypoint") or [],
    "command": lambda c: _cfg(c, "Cmd") or [],
    "env": lambda c: env_dict(_cfg(c, "Env")),
    "labels": lambda c: _cfg(c, "Labels") or {},
    "published_ports": _bindings,
    "exposed_ports": lambda c: sorted(_cfg(c, "ExposedPorts") or {}),
    "volumes": lambda c: sorted(_host(c, "Binds") or []),
    "volumes_from": lambda c: sorted(_host(c, "VolumesFrom") or []),
    "links": lambda c: link_list(_host(c, "Links")),
    "capabilities": lambda c: cap_set(_host(c, "CapAdd")),
    "cap_drop": lambda c: cap_set(_host(c, "CapDrop")),
    "network_mode": lambda c: _host(c, "NetworkMode"),
    "memory": lambda c: _host(c, "Memory") or 0,
    "cpus": lambda c: (_host(c, "NanoCpus") or 0) / 1e9,
    "cpu_shares": lambda c: _host(c, "CpuShares") or 0,
    "pids_limit": lambda c: max(_host(c, "PidsLimit") or 0, 0),
    "restart_policy": lambda c: (_host(c, "RestartPolicy") or {}).get("Name") or "no",
    "restart_retries": lambda c: (_host(c, "RestartPolicy") or {}).get("MaximumRetryCount", 0),
    "hostname": lambda c: _cfg(c, "Hostname") or "",
    "user": lambda c: _cfg(c, "User") or "",
    "working_dir": lambda c: _cfg(c, "WorkingDir") or "",
    "privileged": lambda c: bool(_host(c, "Privileged")),
    "read_only": lambda c: bool(_host(c, "ReadonlyRootfs")),
    "init": lambda c: bool(_host(c, "Init")),
    "etc_hosts": lambda c: sorted(_host(c, "ExtraHosts") or []),
    "dns_servers": lambda c: _host(c, "Dns") or [],
    "dns_search_domains": lambda c: _host(c, "DnsSearch") or [],
    "log_driver": lambda c: (_host(c, "LogConfig") or {}).get("Type") or "json-file",
    "log_options": lambda c: (_host(c, "LogConfig") or {}).get("Config") or {},
}


def current(ctr, keys):
    return dict((key, CURRENT[key](ctr)) for key in keys)


# --- `tke create` ---------------------------------------------------------------------------
REPEATED = (
    ("published_ports", "--publish="),
    ("exposed_ports", "--expose="),
    ("volumes", "--volume="),
    ("volumes_from", "--volumes-from="),
    ("links", "--link="),
    ("capabilities", "--cap-add="),
    ("cap_drop", "--cap-drop="),
    ("dns_servers", "--dns="),
    ("dns_search_domains", "--dns-search="),
)
SINGLE = (
    ("network_mode", "--network="),
    ("hostname", "--hostname="),
    ("user", "--user="),
    ("working_dir", "--workdir="),
    ("memory", "--memory="),
    ("cpus", "--cpus="),
    ("cpu_shares", "--cpu-shares="),
    ("pids_limit", "--pids-limit="),
    ("log_driver", "--log-driver="),
)


def create_argv(params):
    """`tke create` for the task (always --flag=value: a value may start with a dash)."""
    argv = ["create", "--name=" + params["name"]]
    entry, cmd = argv_parts(params)
    if entry is not None:
        argv.append("--entrypoint=" + (entry[0] if entry else ""))
    for key, value in sorted(strings(params["env"], "env").items()):
        argv.append("--env=%s=%s" % (key, value))
    for key, value in sorted(strings(params["labels"], "labels").items()):
        argv.append("--label=%s=%s" % (key, value))
    for key, value in sorted(strings(params["log_options"], "log_options").items()):
        argv.append("--log-opt=%s=%s" % (key, value))
    for option, flag in REPEATED:
        argv += [flag + item for item in params[option] or []]
    for option, flag in SINGLE:
        if params[option] is not None:
            argv.append(flag + str(params[option]))
    if params["restart_policy"] is not None:
        argv.append("--restart=" + restart_text(params))
    argv += ["--add-host=" + item for item in host_list(params["etc_hosts"] or {})]
    argv += [flag for option, flag in FLAGS if params[option]]
    return argv + [params["image"]] + (cmd or [])


FLAGS = (("privileged", "--privileged"), ("read_only", "--read-only"), ("init", "--init"))
# what `tke update` changes on an existing container (the rest needs a new one)
UPDATABLE = ("memory", "cpus", "cpu_shares", "pids_limit", "restart_policy", "restart_retries")


def restart_text(params):
    policy, retries = params["restart_policy"], params["restart_retries"]
    return policy if retries is None else "%s:%d" % (policy, retries)


def check_params(params):
    """Fail early on values tke would take for something else."""
    if params["restart_retries"] is not None and params["restart_policy"] != "on-failure":
        raise ValueError("restart_retries needs restart_policy: on-failure")
    if params["memory"] is not None and parse_size(params["memory"]) is None:
        raise ValueError("invalid memory %r: a size like 64m or 1g" % params["memory"])
    strings(params["env"], "env")
    strings(params["labels"], "labels")
    expose_keys(params["exposed_ports"] or [])


# --- the task -------------------------------------------------------------------------------
class Task(object):
    """One run of the module: what exists, what is done (or would be, in check mode)."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.engine = Tke(module)
        self.ctr = self.engine.inspect("container", self.params["name"])
        self.exists = self.ctr is not None
        self.running = bool(self.exists and (self.ctr.get("State") or {}).get("Running"))
        self.was = {"exists": self.exists, "running": self.running}
        self.changed = False
        self.actions = []
        self.before, self.after = {}, {}
        self.output = None
        self.status = None

    def act(self, action, *argv):
        """Note a change and make it (not in check mode)."""
        self.changed = True
        self.actions.append(action)
        if not self.module.check_mode:
            self.engine.run(*argv)

    @property
    def ident(self):
        return self.ctr["Id"] if self.ctr else self.params["name"]

    def image(self):
        """The inspect object of `image`, pulled when missing (always with pull: true); without
        `image`, the existing container's (env and labels merge with it); None in check mode
        when it is not there yet."""
        ref = self.params["image"]
        if ref is None:
            return self.engine.inspect("image", self.ctr["Image"]) if self.exists else None
        have = self.engine.inspect("image", ref)
        if have is not None and not self.params["pull"]:
            return have
        if self.module.check_mode:
            if have is None:
                self.changed = True
                self.actions.append({"pulled_image": ref})
            return have
        self.engine.run("pull", "-q", ref)
        new = self.engine.inspect("image", ref)
        if have is None or new["Id"] != have["Id"]:
            self.changed = True
            self.actions.append({"pulled_image": ref})
        return new

    def remove(self):
        params = self.params
        graceful = params["stop_timeout"] is not None and not params["force_kill"]
        if self.running and graceful:
            self.stop()
        volumes = [] if params["keep_volumes"] else ["-v"]
        self.act({"removed": self.ident}, "rm", "-f", *(volumes + [self.ident]))
        self.ctr, self.exists, self.running = None, False, False

    def create(self, want):
        if self.params["image"] is None:
            self.module.fail("Cannot create container when image is not specified!")
        self.act({"created": "Created container"}, *create_argv(self.params))
        if not self.was["exists"]:
            self.after.update(want)  # recreated: `converge` noted the differences
        self.exists = True
        if not self.module.check_mode:
            self.ctr = self.engine.inspect("container", self.params["name"])

    def converge(self, want):
        """Remove the container when its configuration differs from `want` (or recreate);
        limits and restart policy alone are changed in place (`tke update`), as docker's
        module does."""
        if not self.exists:
            return
        have = current(self.ctr, want)
        differs = [key for key in want if want[key] != have[key]]
        for key in differs:
            self.before[key], self.after[key] = have[key], want[key]
        if self.params["recreate"] or any(key not in UPDATABLE for key in differs):
            self.remove()
        elif differs:
            self.update(differs)

    def update(self, keys):
        params, flags = self.params, []
        if "memory" in keys:
            flags.append("--memory=%s" % params["memory"])
        if "cpus" in keys:
            flags.append("--cpus=%s" % params["cpus"])
        for key in ("cpu_shares", "pids_limit"):
            if key in keys:
                flags.append("--%s=%d" % (key.replace("_", "-"), params[key]))
        if "restart_policy" in keys or "restart_retries" in keys:
            flags.append("--restart=" + restart_text(params))
        action = {"updated": self.ident, "update_parameters": sorted(keys)}
        self.act(action, *(["update"] + flags + [self.ident]))

    def start(self):
        self.act({"started": self.ident}, "start", self.ident)
        self.running = True
        if not self.params["detach"] and not self.module.check_mode:
            self.wait()

    def stop(self):
        timeout = self.params["stop_timeout"]
        if self.params["force_kill"]:
            self.act({"stopped": self.ident}, "kill", self.ident)
        elif timeout is not None:
            self.act({"stopped": self.ident}, "stop", "--time=%d" % timeout, self.ident)
        else:
            self.act({"stopped": self.ident}, "stop", self.ident)
        self.running = False

    def restart(self):
        timeout = self.params["stop_timeout"]
        times = [] if timeout is None else ["--time=%d" % timeout]
        self.act({"restarted": self.ident}, "restart", *(times + [self.ident]))

    def wait(self):
        """detach: false: the exit code and the output (stdout and stderr in time order)."""
        out = self.engine.run("wait", self.ident)
        self.status = int(out.split()[-1])
        self.running = False
        self.output = logs(self.engine, self.ident)
        if self.params["cleanup"]:
            self.remove()

    def result(self):
        ctr = self.ctr or {}
        if self.exists and self.actions and not self.module.check_mode:
            # after a change, its state now; with none, the inspect the task began with
            ctr = self.engine.inspect("container", self.params["name"]) or {}
        result = {"changed": self.changed, "container": ctr, "actions": self.actions}
        if self.output is not None:
            result["container"] = dict(ctr, Output=self.output)
            result["status"] = self.status
            if self.status != 0:
                result.update(failed=True, msg=self.output)
        now = {"exists": self.exists, "running": self.running}
        for key in ("exists", "running"):
            if now[key] != self.was[key]:
                self.before[key], self.after[key] = self.was[key], now[key]
        if self.changed:
            result["diff"] = {"before": self.before, "after": self.after}
        return result


def logs(engine, ident):
    """The container's stdout and stderr merged by their timestamps (`tke logs -t`)."""
    rc, out, err = engine.call("logs", "--timestamps", ident)
    if rc != 0:
        engine.fail(["logs", ident], rc, out, err)
    lines = []
    for text in (out, err):
        for line in text.splitlines(True):
            stamp, _, rest = line.partition(" ")
            second, _, fraction = stamp.rstrip("Z").partition(".")
            lines.append(((second, fraction.ljust(9, "0")), len(lines), rest))
    return "".join(rest for _, _, rest in sorted(lines))


def main(module):
    try:
        check_params(module.params)
    except ValueError as exc:
        module.fail(str(exc))
    task = Task(module)
    state = module.params["state"]
    if state == "absent":
        if task.exists:
            task.remove()
        return task.result()
    want = wanted(module.params, task.image())
    task.converge(want)
    if not task.exists:
        task.create(want)
    if state == "started" and not task.running:
        task.start()
    elif state == "started" and module.params["restart"]:
        task.restart()
    elif state == "stopped" and task.running:
        task.stop()
    return task.result()
