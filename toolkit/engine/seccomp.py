"""The seccomp filter of a container, as docker applies it: the OCI `linux.seccomp` object.

    profile = for_host_config(rec["HostConfig"], spec.caps(privileged, add, drop))

- `--privileged` or `--security-opt seccomp=unconfined`: no filter (None).
- no seccomp option, or `seccomp=builtin`: docker's default profile, written here as a deny
  list on an ALLOW default (see `default_profile` and docs/engine-seccomp.md).
- `seccomp=PATH` (or the JSON text itself, as docker's CLI stores it): a docker-format profile,
  converted to OCI (its includes/excludes resolved against the capabilities, this machine's
  architecture and kernel). `embed` turns PATH into the text at create time, as docker's CLI.

Errors name the profile and exit 125 (`SeccompError`).
"""

from __future__ import annotations

import os

from toolkit.errors import Location, TkError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Iterable, Optional

EPERM, ENOSYS = 1, 38
INLINE = "<inline seccomp profile>"  # how errors name a profile given as JSON text
ACTIONS = {
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
}
OPS = {
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}
# uname machine -> (seccomp arch, its compat arches, docker's name for it in includes/excludes)
MACHINES = {
    "x86_64": ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"], "amd64"),
    "i386": ("SCMP_ARCH_X86", [], "386"),
    "i686": ("SCMP_ARCH_X86", [], "386"),
    "aarch64": ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"], "arm64"),
    "armv7l": ("SCMP_ARCH_ARM", [], "arm"),
    "armv6l": ("SCMP_ARCH_ARM", [], "arm"),
    "ppc64le": ("SCMP_ARCH_PPC64LE", [], "ppc64le"),
    "s390x": ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"], "s390x"),
    "riscv64": ("SCMP_ARCH_RISCV64", [], "riscv64"),
}

# docker's default profile never allows these (they are missing from its allowlist)
ALWAYS_DENIED = (
    "add_key", "create_module", "get_kernel_syms", "io_uring_enter", "io_uring_register",
    "io_uring_setup", "kexec_file_load", "kexec_load", "keyctl", "move_pages", "nfsservctl",
    "pivot_root", "query_module", "request_key", "swapoff", "swapon", "_sysctl", "sysfs",
    "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
)  # fmt: skip
# ...and these only to a container that holds one of the capabilities
CAP_GATED = {
    "CAP_SYS_ADMIN": (
        "bpf", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
        "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname",
        "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
    ),
    "CAP_DAC_READ_SEARCH": ("name_to_handle_at", "open_by_handle_at"),
    "CAP_SYS_BOOT": ("reboot",),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_MODULE": ("delete_module", "finit_module", "init_module"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_PTRACE": ("kcmp", "pidfd_getfd", "process_madvise"),
    "CAP_SYS_RAWIO": ("ioperm", "iopl"),
    "CAP_SYS_TIME": (
        "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday",
        "stime",
    ),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYS_NICE": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    "CAP_SYSLOG": ("syslog",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}  # fmt: skip
# docker allows these to everyone on kernels >= 4.8 (which fixed ptrace's seccomp bypass)
PTRACE_CALLS = ("process_vm_readv", "process_vm_writev", "ptrace")
CLONE_NS_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
AF_VSOCK = 40
PERSONA_QUERY = 0xFFFFFFFF
PERSONA_FLAGS = 0x20008  # UNAME26 | ADDR_NO_RANDOMIZE: 0x0, 0x8, 0x20000, 0x20008 allowed


class SeccompError(TkError):
    """A seccomp option or profile that cannot be used (docker exits 125)."""

    exit_code = 125


# --- choosing the profile --------------------------------------------------------------------
def for_host_config(host: dict, caps: list) -> Optional[dict]:
    """The OCI `linux.seccomp` object for a container, or None for no filter."""
    if host.get("Privileged"):
        return None
    value = option(host.get("SecurityOpt") or [])
    if value == "unconfined":
        return None
    if value in (None, "builtin"):
        return default_profile(caps)
    return convert(load(value), caps, _name(value))


def option(security_opt: Iterable[str]) -> Optional[str]:
    """The value of the last `seccomp=` (or docker's old `seccomp:`) option, or None."""
    found = None
    for item in security_opt:
        key, sep, value = item.partition("=")
        if not sep:
            key, sep, value = item.partition(":")
        if key == "seccomp" and sep:
            found = value
    if found == "":
        raise SeccompError("invalid --security-opt: seccomp needs a value (a profile file, "
                           "'unconfined' or 'builtin')")  # fmt: skip
    return found


def embed(security_opt: list) -> list:
    """`seccomp=PATH` -> `seccomp=<the file's JSON>`, validated, as docker's CLI does at create:
    the container keeps its profile even if the file changes or the start runs elsewhere."""
    out = []
    for item in security_opt:
        key, sep, value = item.partition("=")
        if not sep:
            key, sep, value = item.partition(":")
        if key == "seccomp" and value and value not in ("unconfined", "builtin"):
            if not _is_inline(value):
                text = _read(value)
                convert(_parse(text, value), [], value)
                import json  # only for a profile file: not on every `tke run`

                item = "seccomp=" + json.dumps(json.loads(text), separators=(",", ":"))
        out.append(item)
    return out


def _is_inline(value: str) -> bool:
    return value.lstrip().startswith("{")


def _name(value: str) -> str:
    return INLINE if _is_inline(value) else value


def load(value: str) -> dict:
    """A docker-format profile from a path or from its JSON text."""
    if _is_inline(value):
        return _parse(value, _name(value))
    return _parse(_read(value), value)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise SeccompError(
            f"opening seccomp profile ({path}) failed: open {path}: {exc.strerror.lower()}"
        ) from None
    except UnicodeDecodeError:
        raise SeccompError(f"decoding seccomp profile ({path}) failed: not UTF-8 text") from None


def _parse(text: str, name: str) -> dict:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = None if name == INLINE else Location(name, exc.lineno, exc.colno)
        raise SeccompError(
            f"decoding seccomp profile ({name}) failed: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
            where,
        ) from None
    if not isinstance(data, dict):
        raise SeccompError(f"decoding seccomp profile ({name}) failed: not a JSON object")
    return data


# --- this machine ----------------------------------------------------------------------------
def machine() -> tuple:
    """(seccomp arch, compat arches, docker's arch name) of this machine."""
    name = os.uname().machine
    if name not in MACHINES and name.startswith("arm"):
        name = "armv7l"
    if name not in MACHINES:
        raise SeccompError(f"seccomp: unsupported machine architecture {name!r}")
    return MACHINES[name]


def kernel_at_least(version: str, release: Optional[str] = None) -> bool:
    """Whether the running kernel (or `release`, e.g. "6.1.0-18-amd64") is >= "4.8"."""
    return _version(release or os.uname().release) >= _version(version)


def _version(text: str) -> tuple:
    parts = []
    for piece in text.split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits or 0))
        if len(digits) < len(piece):
            break
    return tuple(parts)


# --- docker's default, as a deny list ---------------------------------------------------------
def default_profile(caps: Iterable[str], arch: Optional[tuple] = None) -> dict:
    """docker's default profile for a container with `caps`: allow by default, deny with EPERM
    what docker's allowlist leaves out for these capabilities."""
    native, compat, _ = arch or machine()
    held = set(caps)
    gated: dict = {}
    for cap, names in CAP_GATED.items():
        for name in names:
            gated.setdefault(name, set()).add(cap)
    if not kernel_at_least("4.8"):
        for name in PTRACE_CALLS:
            gated.setdefault(name, set()).add("CAP_SYS_PTRACE")
    denied = set(ALWAYS_DENIED) | {n for n, need in gated.items() if not need & held}
    rules = [_errno(sorted(denied - {"clone3"}), EPERM)]
    if "CAP_SYS_ADMIN" not in held:
        # clone3's flags are in a struct seccomp cannot read: ENOSYS makes libc use clone
        index = 1 if native == "SCMP_ARCH_S390X" else 0
        rules += [_errno(["clone"], EPERM, [_arg(index, f, "SCMP_CMP_MASKED_EQ", f)])
                  for f in CLONE_NS_FLAGS]  # fmt: skip
        rules.append(_errno(["clone3"], ENOSYS))
    rules += _personality_rules()
    rules.append(_errno(["socket"], EPERM, [_arg(0, AF_VSOCK, "SCMP_CMP_EQ")]))
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [native, *compat],
        "syscalls": rules,
    }


def _personality_rules() -> list:
    """Deny personality(2) unless its argument is one docker allows: 0x0, 0x8, 0x20000,
    0x20008 (no bit outside PERSONA_FLAGS) or 0xffffffff (query).

    libseccomp cannot AND two conditions on one argument, so the deny set is a union of
    single MASKED_EQ conditions "bit k set and bit j clear" (k outside PERSONA_FLAGS): a cycle
    through the other bits plus an edge to each flag bit. Any value with a bit outside the
    flags that is not 0xffffffff has such a pair; allowed values have none. 33 rules.
    """
    others = [b for b in range(32) if not PERSONA_FLAGS >> b & 1]
    pairs = [(k, others[(i + 1) % len(others)]) for i, k in enumerate(others)]
    pairs += [(others[0], b) for b in range(32) if PERSONA_FLAGS >> b & 1]
    rules = [_errno(["personality"], EPERM, [_arg(0, PERSONA_QUERY, "SCMP_CMP_GT")])]
    for set_bit, clear_bit in pairs:
        mask = 1 << set_bit | 1 << clear_bit
        rules.append(
            _errno(["personality"], EPERM, [_arg(0, 1 << set_bit, "SCMP_CMP_MASKED_EQ", mask)])
        )
    return rules


def _errno(names: list, errno: int, args: Optional[list] = None) -> dict:
    rule = {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
    if args:
        rule["args"] = args
    return rule


def _arg(index: int, value: int, op: str, mask: Optional[int] = None) -> dict:
    """One condition; for MASKED_EQ libseccomp/OCI take the mask as `value`, the datum as
    `valueTwo` (docker's files use the same order)."""
    if mask is None:
        return {"index": index, "value": value, "valueTwo": 0, "op": op}
    return {"index": index, "value": mask, "valueTwo": value, "op": op}


# --- docker's profile format -> OCI ----------------------------------------------------------
def convert(profile: dict, caps: Iterable[str], name: str, arch: Optional[tuple] = None) -> dict:
    """A docker-format profile as the OCI object: rules whose `includes` this container does
    not meet, or whose `excludes` it does, are dropped (OCI has neither)."""
    native, compat, goarch = arch or machine()
    held = set(caps)
    out: dict = {"defaultAction": _action(profile.get("defaultAction"), name, "defaultAction")}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = _uint(profile["defaultErrnoRet"], name, "defaultErrnoRet")
    arches = _architectures(profile, native, name)
    if arches:
        out["architectures"] = arches
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    rules = profile.get("syscalls")
    rules = [] if rules is None else rules
    if not isinstance(rules, list):
        raise SeccompError(f"seccomp profile {name}: syscalls must be a list")
    out["syscalls"] = []
    for number, rule in enumerate(rules):
        where = f"syscalls[{number}]"
        if not isinstance(rule, dict):
            raise SeccompError(f"seccomp profile {name}: {where} must be an object")
        converted = _rule(rule, name, where)
        if _applies(rule, held, goarch, name, where):
            out["syscalls"].append(converted)
    return out


def _architectures(profile: dict, native: str, name: str) -> list:
    listed, arch_map = profile.get("architectures"), profile.get("archMap")
    if listed and arch_map:
        raise SeccompError(
            f"seccomp profile {name}: both 'architectures' and 'archMap' are specified, "
            "use either 'architectures' or 'archMap'"
        )
    if listed:
        if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
            raise SeccompError(f"seccomp profile {name}: architectures must be a list of names")
        return list(listed)
    out: list = []
    for entry in arch_map or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise SeccompError(f"seccomp profile {name}: archMap entries need an architecture")
        if entry["architecture"] == native:
            out += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    return out


def _rule(rule: dict, name: str, where: str) -> dict:
    names = rule.get("names") or []
    if rule.get("name"):
        if names:
            raise SeccompError(
                f"seccomp profile {name}: {where}: use either 'name' or 'names', not both"
            )
        names = [rule["name"]]
    if not names or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SeccompError(f"seccomp profile {name}: {where}: 'names' must list syscall names")
    out = {"names": list(names), "action": _action(rule.get("action"), name, where + ".action")}
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = _uint(rule["errnoRet"], name, where + ".errnoRet")
    args = rule.get("args") or []
    if not isinstance(args, list):
        raise SeccompError(f"seccomp profile {name}: {where}.args must be a list")
    if args:
        out["args"] = [_condition(a, name, f"{where}.args[{i}]") for i, a in enumerate(args)]
    return out


def _condition(arg, name: str, where: str) -> dict:
    if not isinstance(arg, dict):
        raise SeccompError(f"seccomp profile {name}: {where} must be an object")
    index = _uint(arg.get("index", 0), name, where + ".index")
    if index > 5:
        raise SeccompError(f"seccomp profile {name}: {where}.index: {index} (a syscall has 6)")
    op = arg.get("op")
    if op not in OPS:
        raise SeccompError(
            f"seccomp profile {name}: {where}.op: unknown operator {op!r} "
            f"(one of {', '.join(sorted(OPS))})"
        )
    return {
        "index": index,
        "value": _uint(arg.get("value", 0), name, where + ".value"),
        "valueTwo": _uint(arg.get("valueTwo", 0), name, where + ".valueTwo"),
        "op": op,
    }


def _applies(rule: dict, held: set, goarch: str, name: str, where: str) -> bool:
    """docker's rules: excluded if this arch or ANY held cap is listed in `excludes`; needs
    this arch among `includes.arches`, ALL of `includes.caps` and `includes.minKernel`."""
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if not isinstance(inc, dict) or not isinstance(exc, dict):
        raise SeccompError(f"seccomp profile {name}: {where}: includes/excludes must be objects")
    if exc.get("minKernel"):
        raise SeccompError(f"seccomp profile {name}: {where}: minKernel is only for includes")
    if goarch in (exc.get("arches") or []) or held & set(exc.get("caps") or []):
        return False
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if not set(inc.get("caps") or []) <= held:
        return False
    minimum = inc.get("minKernel")
    if minimum:
        if not isinstance(minimum, str) or not minimum[:1].isdigit():
            raise SeccompError(f"seccomp profile {name}: {where}: bad minKernel {minimum!r}")
        return kernel_at_least(minimum)
    return True


def _action(value, name: str, where: str) -> str:
    if value not in ACTIONS:
        raise SeccompError(
            f"seccomp profile {name}: {where}: unknown action {value!r} "
            f"(one of {', '.join(sorted(ACTIONS))})"
        )
    return value


def _uint(value, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SeccompError(f"seccomp profile {name}: {where}: {value!r} is not a number >= 0")
    return value
