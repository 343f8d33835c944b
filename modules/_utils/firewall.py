"""firewalld backends and the transaction logic of the firewalld module (stdlib, Python 3.6+).

`connect(module, offline)` returns a `BusBackend` (firewalld running: D-Bus calls in-process
through dbus-python when importable, else through `busctl --json=short`) or an
`OfflineBackend` (firewalld stopped: `firewall-offline-cmd`, which edits the permanent config
only). Both answer query/enable/disable for one rule kind in one
scope ("runtime" or "permanent") of one zone. `Transaction` is Ansible's FirewallTransaction:
same order of checks, same messages.
"""

import json
import os
import shutil
import time

BUS = "org.fedoraproject.FirewallD1"
PATH = "/org/fedoraproject/FirewallD1"
CONFIG_PATH = PATH + "/config"
FALLBACK_ZONE = "public"
# Kinds whose value is a bool: (state == enabled) == value decides what is wanted.
BOOL_KINDS = ("masquerade", "icmp_inversion", "forward", "default")
DEFAULT_NOT_PERMANENT = (
    "Default zone changes must be permanent and when daemon is online must also be immediate"
)
NOT_PERMANENT = (
    "Zone operations must be permanent. "
    "Make sure you didn't set the 'permanent' flag to 'false' or the 'immediate' flag to 'true'."
)

# kind: (runtime query, add, remove, add takes a timeout); permanent methods have the same
# names on the zone's config object, without the zone argument and the timeout.
METHODS = {
    "service": ("queryService", "addService", "removeService", True),
    "protocol": ("queryProtocol", "addProtocol", "removeProtocol", True),
    "forward": ("queryForward", "addForward", "removeForward", False),
    "port": ("queryPort", "addPort", "removePort", True),
    "port_forward": ("queryForwardPort", "addForwardPort", "removeForwardPort", True),
    "rich_rule": ("queryRichRule", "addRichRule", "removeRichRule", True),
    "source": ("querySource", "addSource", "removeSource", False),
    "interface": ("queryInterface", "changeZoneOfInterface", "removeInterface", False),
    "masquerade": ("queryMasquerade", "addMasquerade", "removeMasquerade", True),
    "icmp_block": ("queryIcmpBlock", "addIcmpBlock", "removeIcmpBlock", True),
    "icmp_inversion": (
        "queryIcmpBlockInversion",
        "addIcmpBlockInversion",
        "removeIcmpBlockInversion",
        False,
    ),
}
OFFLINE_FLAGS = {
    "service": "service",
    "protocol": "protocol",
    "forward": "forward",
    "port": "port",
    "port_forward": "forward-port",
    "rich_rule": "rich-rule",
    "source": "source",
    "interface": "interface",
    "masquerade": "masquerade",
    "icmp_block": "icmp-block",
    "icmp_inversion": "icmp-block-inversion",
}


class Rule(object):
    """One thing the task manages: a kind and its arguments (strings)."""

    def __init__(self, kind, args, value=None):
        self.kind = kind
        self.args = tuple(args)
        self.value = value  # the requested target, for kind "target"

    def label(self):
        if self.kind == "port":
            return "port %s/%s" % self.args
        if self.kind == "port_forward":
            return "port_forward port=%s:proto=%s:toport=%s:toaddr=%s" % self.args
        if self.kind == "icmp_inversion":
            return "icmp_block_inversion"
        return " ".join((self.kind,) + self.args)


def rule_from_params(module, params):
    """The Rule a task's parameters describe, or None for zone-level operations."""
    if params["port"] is not None:
        port, _, proto = params["port"].strip().partition("/")
        if not proto or not port or "/" in proto:
            module.fail("improper port format (missing protocol?)")
        return Rule("port", (port, proto))
    forwards = params["port_forward"]
    if forwards is not None:
        if len(forwards) != 1:
            module.fail("Only one port forward supported at a time")
        fwd = forwards[0]
        return Rule(
            "port_forward",
            (str(fwd["port"]), fwd["proto"], str(fwd["toport"]), fwd.get("toaddr") or ""),
        )
    for key, kind in (
        ("service", "service"),
        ("protocol", "protocol"),
        ("rich_rule", "rich_rule"),
        ("source", "source"),
        ("interface", "interface"),
        ("icmp_block", "icmp_block"),
    ):
        if params[key] is not None:
            return Rule(kind, (params[key],))
    for key, kind in (
        ("masquerade", "masquerade"),
        ("icmp_block_inversion", "icmp_inversion"),
        ("forward", "forward"),
    ):
        if params.get(key) is not None:
            return Rule(kind, (), bool(params[key]))
    if params["target"] is not None:
        return Rule("target", (), params["target"])
    if params.get("default") is not None:
        return Rule("default", (), params["default"])
    return None


def connect(module):
    if shutil.which("busctl"):
        bus = BusBackend(module)
        if bus.running() or (_activating(module) and bus.wait_running()):
            return bus
    if not shutil.which("firewall-offline-cmd"):
        module.fail("firewalld is not installed on this host (no firewall-offline-cmd)")
    return OfflineBackend(module)


class PyBus(object):
    """D-Bus calls in-process through dbus-python (firewalld's own dependency) when it is
    importable: ~3 ms a call instead of ~30 ms for a busctl process."""

    def __init__(self, dbus):
        self.dbus = dbus
        self.bus = dbus.SystemBus()
        self.objects = {}

    @classmethod
    def open(cls):
        if os.environ.get("TK_FIREWALLD_BUSCTL"):  # force the busctl path (tests, debugging)
            return None
        try:
            import dbus

            return cls(dbus)
        except Exception:  # no bindings or no system bus: busctl it is
            return None

    def _settings(self, mapping):
        dbus = self.dbus
        values = dict(
            (k, dbus.Boolean(v) if isinstance(v, bool) else dbus.String(v))
            for k, v in mapping.items()
        )
        return dbus.Dictionary(values, signature="sv")

    def call(self, path, interface, method, signature, args):
        """(True, plain value) or (False, error text)."""
        args = tuple(self._settings(a) if isinstance(a, dict) else a for a in args)
        try:
            obj = self.objects.get(path)
            if obj is None:
                obj = self.objects[path] = self.bus.get_object(BUS, path, introspect=False)
            fn = obj.get_dbus_method(method, interface)
            value = fn(*args, signature=signature) if signature else fn()
        except self.dbus.exceptions.DBusException as exc:
            return False, exc.get_dbus_message() or str(exc)
        return True, _plain(value)


def _busctl_args(args):
    """busctl's spelling of call arguments; a dict is an a{sv} of bools/strings."""
    out = []
    for arg in args:
        if isinstance(arg, dict):
            out.append(str(len(arg)))
            for key, value in sorted(arg.items()):
                if isinstance(value, bool):
                    out += [key, "b", "true" if value else "false"]
                else:
                    out += [key, "s", str(value)]
        else:
            out.append(str(arg))
    return out


def _setting(data, key):
    """One value of a zone settings a{sv}, from dbus-python or busctl's JSON."""
    value = (data or {}).get(key)
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    return value


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or type(value).__name__ == "Boolean":
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def _activating(module):
    """firewalld is starting (e.g. just after boot): worth waiting for rather than offline."""
    rc, out, err = module.run_command(["systemctl", "is-active", "firewalld"])
    return out.strip() in ("activating", "reloading")


class BusBackend(object):
    offline = False

    def __init__(self, module):
        self.module = module
        self.zone_paths = {}
        self.default = None
        self.pybus = PyBus.open()

    def wait_running(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.2)
            if self.running():
                return True
        return False

    def call(self, path, interface, method, signature="", *args, **kw):
        if self.pybus is not None:
            ok, value = self.pybus.call(path, interface, method, signature, args)
            if ok:
                return value
            if kw.get("quiet"):
                return None
            self.module.fail("ERROR: Exception caught: %s" % value + _hint(value))
        argv = ["busctl", "--json=short", "call", "--", BUS, path, interface, method]
        if signature:
            argv += [signature] + _busctl_args(args)
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            if kw.get("quiet"):
                return None
            msg = err.strip().replace("Call failed: ", "")
            self.module.fail("ERROR: Exception caught: %s" % msg + _hint(msg))
        data = json.loads(out).get("data") if out.strip() else []
        return data[0] if data else None

    def running(self):
        self.default = self.call(PATH, BUS, "getDefaultZone", quiet=True)
        return self.default is not None

    def default_zone(self):
        return self.default or self.call(PATH, BUS, "getDefaultZone")

    def zone_path(self, zone):
        if zone not in self.zone_paths:
            self.zone_paths[zone] = self.call(
                CONFIG_PATH, BUS + ".config", "getZoneByName", "s", zone
            )
        return self.zone_paths[zone]

    def _method(self, kind, scope, zone, which, timeout=0):
        names = METHODS[kind]
        name = names[which]
        if scope == "runtime":
            args = [zone]
            if which == 1 and names[3]:
                return (PATH, BUS + ".zone", name), args, True
            return (PATH, BUS + ".zone", name), args, False
        return (self.zone_path(zone), BUS + ".config.zone", name), [], False

    def _do(self, kind, scope, zone, which, rule_args, timeout=0):
        (path, iface, name), args, with_timeout = self._method(kind, scope, zone, which)
        args = args + list(rule_args)
        signature = "s" * len(args)
        if with_timeout:
            signature += "i"
            args.append(int(timeout or 0))
        return self.call(path, iface, name, signature, *args)

    def query(self, kind, scope, zone, args):
        if kind == "forward":  # a zone setting, not a query method
            return bool(_setting(self._zone_settings(scope, zone), "forward"))
        return bool(self._do(kind, scope, zone, 0, args))

    def _zone_settings(self, scope, zone, update=None):
        if scope == "runtime":
            if update is None:
                return self.call(PATH, BUS + ".zone", "getZoneSettings2", "s", zone)
            return self.call(PATH, BUS + ".zone", "setZoneSettings2", "sa{sv}", zone, update)
        iface = BUS + ".config.zone"
        if update is None:
            return self.call(self.zone_path(zone), iface, "getSettings2")
        return self.call(self.zone_path(zone), iface, "update2", "a{sv}", update)

    def enable(self, kind, scope, zone, args, timeout=0):
        if kind == "forward":
            self._zone_settings(scope, zone, {"forward": True})
            return
        if kind == "interface" and scope == "permanent":
            old = self.call(CONFIG_PATH, BUS + ".config", "getZoneOfInterface", "s", args[0])
            if old and old != zone:
                self._do(kind, scope, old, 2, args)
            (path, iface, _), _, _ = self._method(kind, scope, zone, 1)
            self.call(path, iface, "addInterface", "s", args[0])
            return
        self._do(kind, scope, zone, 1, args, timeout)

    def disable(self, kind, scope, zone, args):
        if kind == "forward":
            self._zone_settings(scope, zone, {"forward": False})
            return
        self._do(kind, scope, zone, 2, args)

    def current_default_zone(self):
        return self.call(PATH, BUS, "getDefaultZone")

    def set_default_zone(self, zone):
        self.call(PATH, BUS, "setDefaultZone", "s", zone)

    def get_target(self, zone):
        return self.call(self.zone_path(zone), BUS + ".config.zone", "getTarget")

    def set_target(self, zone, target):
        self.call(self.zone_path(zone), BUS + ".config.zone", "setTarget", "s", target)

    def zones(self):
        return list(self.call(CONFIG_PATH, BUS + ".config", "getZoneNames") or [])

    def add_zone(self, zone):
        self.call(CONFIG_PATH, BUS + ".config", "addZone2", "sa{sv}", zone, {})

    def remove_zone(self, zone):
        self.call(self.zone_path(zone), BUS + ".config.zone", "remove")
        self.zone_paths.pop(zone, None)


class OfflineBackend(object):
    """firewall-offline-cmd: permanent configuration only (runtime scope is refused earlier)."""

    offline = True

    def __init__(self, module):
        self.module = module

    def cmd(self, *args, **kw):
        rc, out, err = self.module.run_command(["firewall-offline-cmd"] + list(args))
        if rc in kw.get("ok", (0,)):
            return rc, out.strip()
        msg = (err or out).strip()
        self.module.fail("ERROR: Exception caught: %s" % msg + _hint(msg))

    def _flag(self, kind, verb, args):
        flag = "--%s-%s" % (verb, OFFLINE_FLAGS[kind])
        if kind == "port":
            return flag + "=%s/%s" % args
        if kind == "port_forward":
            spec = "port=%s:proto=%s:toport=%s" % args[:3]
            return flag + "=" + spec + (":toaddr=%s" % args[3] if args[3] else "")
        if kind == "interface" and verb == "add":
            flag = "--change-interface"
        return flag + ("=%s" % args[0] if args else "")

    def query(self, kind, scope, zone, args):
        rc, _ = self.cmd("--zone=" + zone, self._flag(kind, "query", args), ok=(0, 1))
        return rc == 0

    def enable(self, kind, scope, zone, args, timeout=0):
        self.cmd("--zone=" + zone, self._flag(kind, "add", args))

    def disable(self, kind, scope, zone, args):
        self.cmd("--zone=" + zone, self._flag(kind, "remove", args))

    def default_zone(self):
        return self.cmd("--get-default-zone")[1]

    def current_default_zone(self):
        return self.default_zone()

    def set_default_zone(self, zone):
        self.cmd("--set-default-zone=" + zone)

    def get_target(self, zone):
        return self.cmd("--zone=" + zone, "--get-target")[1]

    def set_target(self, zone, target):
        self.cmd("--zone=" + zone, "--set-target=" + target)

    def zones(self):
        return self.cmd("--get-zones")[1].split()

    def add_zone(self, zone):
        self.cmd("--new-zone=" + zone)

    def remove_zone(self, zone):
        self.cmd("--delete-zone=" + zone)


def _hint(msg):
    if "INVALID_SERVICE" in msg:
        return (
            " Services are defined by port/tcp relationship and named as they are in "
            "/etc/services (on most systems)"
        )
    return ""


class Transaction(object):
    """Ansible's FirewallTransaction.run for one rule, plus a before/after description."""

    def __init__(self, module, backend, rule, zone, state, permanent, immediate, timeout):
        self.module = module
        self.backend = backend
        self.rule = rule
        self.zone = zone
        self.state = state
        self.permanent = permanent
        self.immediate = immediate
        self.timeout = timeout
        self.diff_before = ""
        self.diff_after = ""
        self.requested_state = None  # the task's state, when a bool value turned it around
        self.enabled_values, self.disabled_values = ["enabled"], ["disabled"]
        if rule.kind == "target":
            self.enabled_values, self.disabled_values = (
                ["present", "enabled"],
                ["absent", "disabled"],
            )
        elif rule.kind == "zone":
            self.enabled_values, self.disabled_values = ["present"], ["absent"]

    def scopes(self):
        if self.rule.kind in ("target", "zone") and self.immediate:
            self.module.fail(NOT_PERMANENT)
        if self.rule.kind == "default" and (
            not self.permanent or not (self.backend.offline or self.immediate)
        ):
            self.module.fail(DEFAULT_NOT_PERMANENT)
        if self.permanent and self.immediate:
            return ["permanent", "runtime"], "Permanent and Non-Permanent(immediate) operation"
        if self.permanent:
            return ["permanent"], "Permanent operation"
        return ["runtime"], "Non-permanent operation"

    def is_enabled(self, scope):
        kind, zone = self.rule.kind, self.zone
        if kind == "target":
            return self.backend.get_target(zone) == self.rule.value
        if kind == "zone":
            return zone in self.backend.zones()
        if kind == "default":
            return self.backend.current_default_zone() == zone
        if self.backend.offline:
            scope = "permanent"
        return self.backend.query(kind, scope, zone, self.rule.args)

    def set(self, scope, enable):
        kind, zone, backend = self.rule.kind, self.zone, self.backend
        if kind == "target":
            backend.set_target(zone, self.rule.value if enable else "default")
        elif kind == "zone":
            backend.add_zone(zone) if enable else backend.remove_zone(zone)
        elif kind == "default":
            if scope == "permanent":  # applies to a running daemon at once too
                backend.set_default_zone(zone if enable else FALLBACK_ZONE)
        elif enable:
            backend.enable(kind, scope, zone, self.rule.args, self.timeout)
        else:
            backend.disable(kind, scope, zone, self.rule.args)

    def describe(self, scope, enabled):
        kind = self.rule.kind
        head = "zone %s (%s): " % (self.zone, scope)
        if kind == "zone":
            return head + ("present" if enabled else "absent") + "\n"
        if kind == "default":
            return head + ("default zone" if enabled else "not the default zone") + "\n"
        if kind == "target":
            value = self.rule.value if enabled else self.backend.get_target(self.zone)
            return head + "target %s\n" % value
        return head + "%s %s\n" % (self.rule.label(), "enabled" if enabled else "disabled")

    def run(self):
        scopes, header = self.scopes()
        want = self.state in self.enabled_values
        current = dict((scope, self.is_enabled(scope)) for scope in scopes)
        todo = [scope for scope in scopes if current[scope] != want]
        for scope in scopes:
            self.diff_before += self.describe(scope, current[scope])
            if self.rule.kind == "target" and not want:
                self.diff_after += "zone %s (%s): target default\n" % (self.zone, scope)
            else:
                self.diff_after += self.describe(scope, want)
        msgs = [header]
        if not todo:
            return False, msgs
        if self.module.check_mode:
            return True, msgs + ["(check mode) would change %s" % self.rule.label()]
        for scope in todo:
            self.set(scope, want)
        msgs += self.messages(want)
        return True, msgs

    def messages(self, want):
        kind, args, zone, state = self.rule.kind, self.rule.args, self.zone, self.state
        if kind == "source":
            return [
                "Added %s to zone %s" % (args[0], zone)
                if want
                else "Removed %s from zone %s" % (args[0], zone)
            ]
        if kind == "interface":
            return [
                "Changed %s to zone %s" % (args[0], zone)
                if want
                else "Removed %s from zone %s" % (args[0], zone)
            ]
        if kind == "masquerade":
            return [
                "Added masquerade to zone %s" % zone
                if want
                else "Removed masquerade from zone %s" % zone
            ]
        if kind == "target":
            return [
                "Set zone %s target to %s" % (zone, self.rule.value)
                if want
                else "Reset zone %s target to default" % zone
            ]
        if kind == "default":
            if want:
                return ["Updated default zone to %s" % zone]
            return ["Reverted default zone from %s to upstream default %s" % (zone, FALLBACK_ZONE)]
        if kind == "zone":
            return [
                "Added zone %s" % zone if want else "Removed zone %s" % zone,
                "Changed zone %s to %s" % (zone, state),
            ]
        state = self.requested_state or state
        if kind == "forward":
            if want:
                return ["Added forward to zone %s" % zone]
            return ["Removed forward from zone %s" % zone]
        if kind == "icmp_inversion":
            return ["Changed icmp-block-inversion %s to %s" % (self.rule.value, state)]
        label = "icmp-block %s" % args[0] if kind == "icmp_block" else self.rule.label()
        return ["Changed %s to %s" % (label, state)]
