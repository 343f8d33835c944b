"""tke's seccomp filter: docker's default profile (a deny list here), --security-opt
seccomp=unconfined|PROFILE.json, --privileged, --cap-add re-allowing calls; real containers on
crun and runc, plus the docker-format -> OCI conversion as pure functions."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.engine.ctrhelpers import ctr_fixture  # noqa: F401 - provides `ctr`
from toolkit.engine import seccomp, spec
from toolkit.engine.seccomp import SeccompError

AMD64 = seccomp.MACHINES["x86_64"]
S390X = seccomp.MACHINES["s390x"]

# a docker-format profile: mkdir denied; rmdir only for SYS_ADMIN holders; symlink unless
# NET_ADMIN is held; a rule for another architecture that must not apply here
PROFILE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {
            "names": ["symlink", "symlinkat"],
            "action": "SCMP_ACT_ERRNO",
            "excludes": {"caps": ["CAP_NET_ADMIN"]},
        },
        {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["s390x"]}},
    ],
}


# --- pure functions ----------------------------------------------------------------------------
def denied(profile: dict, name: str, arg0: int = 0) -> bool:
    """Whether a call is refused, evaluated as the kernel filter would (rules OR, args AND)."""
    for rule in profile["syscalls"]:
        if name in rule["names"] and all(_holds(a, arg0) for a in rule.get("args", [])):
            return rule["action"] != "SCMP_ACT_ALLOW"
    return profile["defaultAction"] != "SCMP_ACT_ALLOW"


def _holds(arg: dict, value: int) -> bool:
    assert arg["index"] == 0
    ops = {
        "SCMP_CMP_EQ": lambda: value == arg["value"],
        "SCMP_CMP_NE": lambda: value != arg["value"],
        "SCMP_CMP_GT": lambda: value > arg["value"],
        "SCMP_CMP_MASKED_EQ": lambda: value & arg["value"] == arg["valueTwo"],
    }
    return ops[arg["op"]]()


def test_default_profile_denies_docker_blocked_calls_and_caps_reallow():
    base = seccomp.default_profile(spec.DEFAULT_CAPS, AMD64)
    assert base["defaultAction"] == "SCMP_ACT_ALLOW"
    assert base["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for name in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot",
                 "init_module", "kexec_load", "pivot_root", "swapon", "userfaultfd", "acct",
                 "settimeofday", "clock_settime", "kcmp", "mbind", "io_uring_setup", "ptrace"
                 if not seccomp.kernel_at_least("4.8") else "iopl"):  # fmt: skip
        assert denied(base, name), name
    for name in ("read", "mkdir", "chroot", "ptrace", "process_vm_readv", "clone", "socket"):
        assert not denied(base, name), name
    admin = seccomp.default_profile(spec.caps(False, ["SYS_ADMIN", "SYS_TIME"], []), AMD64)
    for name in ("mount", "umount2", "unshare", "setns", "clone3", "settimeofday"):
        assert not denied(admin, name), name
    assert denied(admin, "reboot") and denied(admin, "keyctl")
    nochroot = seccomp.default_profile(spec.caps(False, [], ["SYS_CHROOT"]), AMD64)
    assert denied(nochroot, "chroot")


def test_clone_namespace_flags_and_clone3():
    base = seccomp.default_profile(spec.DEFAULT_CAPS, AMD64)
    sigchld = 17
    assert not denied(base, "clone", sigchld) and not denied(base, "clone", 0x003D0F00)  # threads
    for flag in seccomp.CLONE_NS_FLAGS:
        assert denied(base, "clone", flag | sigchld), hex(flag)
    clone3 = next(r for r in base["syscalls"] if r["names"] == ["clone3"])
    assert clone3["errnoRet"] == 38  # ENOSYS: libc falls back to clone
    assert all("clone3" not in r["names"] or r is clone3 for r in base["syscalls"])
    s390 = seccomp.default_profile(spec.DEFAULT_CAPS, S390X)
    assert {a["index"] for r in s390["syscalls"] if r["names"] == ["clone"] for a in r["args"]} == {
        1
    }
    admin = seccomp.default_profile(spec.caps(False, ["SYS_ADMIN"], []), AMD64)
    assert not denied(admin, "clone", 0x10000000) and not denied(admin, "clone3")


def test_personality_only_docker_values():
    base = seccomp.default_profile(spec.DEFAULT_CAPS, AMD64)
    for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert not denied(base, "personality", value), hex(value)
    samples = [1, 2, 4, 9, 0x10, 0x10000, 0x20009, 0x400000, 0x80000000, 0xFFFFFFFE, 0xFFFDFFFF,
               0xFFFFFFF7, 0x7FFFFFFF, 0x100000000, 0x1FFFFFFFF]  # fmt: skip
    samples += [0xFFFFFFFF ^ (1 << b) for b in range(32)] + [1 << b for b in range(32)]
    for value in samples:
        expect = value not in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
        assert denied(base, "personality", value) == expect, hex(value)


def test_vsock_sockets_denied():
    base = seccomp.default_profile(spec.DEFAULT_CAPS, AMD64)
    assert denied(base, "socket", 40) and not denied(base, "socket", 2)


def test_convert_resolves_includes_excludes_and_arch():
    plain = seccomp.convert(PROFILE, spec.DEFAULT_CAPS, "p.json", AMD64)
    assert plain["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    names = [r["names"] for r in plain["syscalls"]]
    assert names == [["mkdir", "mkdirat"], ["symlink", "symlinkat"]]
    assert plain["syscalls"][0] == {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                    "errnoRet": 1}  # fmt: skip
    caps = spec.caps(False, ["SYS_ADMIN", "NET_ADMIN"], [])
    names = [r["names"] for r in seccomp.convert(PROFILE, caps, "p.json", AMD64)["syscalls"]]
    assert names == [["mkdir", "mkdirat"], ["rmdir"]]
    on_s390 = seccomp.convert(PROFILE, [], "p.json", S390X)
    assert ["uname"] in [r["names"] for r in on_s390["syscalls"]]
    assert "architectures" not in on_s390  # no archMap entry for it: native only


def test_convert_min_kernel_name_and_args():
    prof = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "ptrace", "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "999.1"}},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        ],
    }  # fmt: skip
    out = seccomp.convert(prof, [], "p.json", AMD64)
    assert out["defaultErrnoRet"] == 1 and out["architectures"] == ["SCMP_ARCH_X86_64"]
    assert out["syscalls"][0]["names"] == ["ptrace"]  # this kernel is >= 4.8
    assert out["syscalls"][1]["args"] == [{"index": 0, "value": 40, "valueTwo": 0,
                                           "op": "SCMP_CMP_NE"}]  # fmt: skip
    assert seccomp.kernel_at_least("4.8", "4.19.0-27-amd64")
    assert not seccomp.kernel_at_least("4.8", "4.4.0")
    assert seccomp.kernel_at_least("5.10", "5.10")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction: unknown action 'SCMP_ACT_NOPE'"),
        ({"syscalls": [{"names": ["a"], "action": "ALLOW"}]}, "syscalls[0].action: unknown"),
        ({"syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}, "'names' must list"),
        ({"syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}, "not both"),
        ({"architectures": ["SCMP_ARCH_X86_64"]}, "both 'architectures' and 'archMap'"),
        ({"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "op": "LT", "value": 1}]}]}, "unknown operator"),
        ({"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 7, "op": "SCMP_CMP_EQ"}]}]}, "index: 7"),
        ({"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}]}, "-1 is"),
        ({"syscalls": {}}, "syscalls must be a list"),
    ],
)  # fmt: skip
def test_convert_rejects_bad_profiles(change, message):
    with pytest.raises(SeccompError) as exc:
        seccomp.convert(dict(PROFILE, **change), [], "/etc/p.json", AMD64)
    assert "/etc/p.json" in exc.value.message and message in exc.value.message
    assert exc.value.exit_code == 125


def test_for_host_config_choices(tmp_path):
    caps = spec.DEFAULT_CAPS
    assert seccomp.for_host_config({}, caps)["defaultAction"] == "SCMP_ACT_ALLOW"
    assert seccomp.for_host_config({"Privileged": True}, caps) is None
    assert seccomp.for_host_config({"SecurityOpt": ["seccomp=unconfined"]}, caps) is None
    assert seccomp.for_host_config({"SecurityOpt": ["seccomp:unconfined"]}, caps) is None
    builtin = seccomp.for_host_config({"SecurityOpt": ["seccomp=builtin"]}, caps)
    assert builtin == seccomp.default_profile(caps)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PROFILE))
    opts = ["no-new-privileges", f"seccomp={path}"]
    from_file = seccomp.for_host_config({"SecurityOpt": opts}, caps)
    assert from_file["syscalls"][0]["names"] == ["mkdir", "mkdirat"]
    embedded = seccomp.embed(opts)
    assert embedded[0] == "no-new-privileges" and embedded[1].startswith("seccomp={")
    assert seccomp.for_host_config({"SecurityOpt": embedded}, caps) == from_file
    with pytest.raises(SeccompError, match="needs a value"):
        seccomp.option(["seccomp="])


def test_bad_files_name_the_file(tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(SeccompError) as exc:
        seccomp.embed([f"seccomp={missing}"])
    assert exc.value.message == (
        f"opening seccomp profile ({missing}) failed: open {missing}: no such file or directory"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [,]\n}\n')
    with pytest.raises(SeccompError) as exc:
        seccomp.for_host_config({"SecurityOpt": [f"seccomp={bad}"]}, [])
    assert f"decoding seccomp profile ({bad}) failed" in exc.value.message
    assert str(exc.value.location) == f"{bad}:3:16"
    assert "^" in exc.value.render()


def test_spec_hook():
    rec = {
        "Id": "cd" * 32,
        "Path": "sh",
        "Args": [],
        "Config": {"Env": [], "Tty": False, "WorkingDir": "", "Hostname": ""},
        "HostConfig": {"NetworkMode": "none", "CapAdd": ["SYS_ADMIN"]},
    }
    conf = spec.build(rec, "/m", "/c", (0, 0, []), layout="v1")
    caps = spec.caps(False, ["SYS_ADMIN"], [])
    assert conf["linux"]["seccomp"] == seccomp.default_profile(caps)
    rec["HostConfig"]["Privileged"] = True
    assert "seccomp" not in spec.build(rec, "/m", "/c", (0, 0, []), layout="v1")["linux"]


# --- real containers -----------------------------------------------------------------------
pytest_engine = pytest.mark.engine


def seccomp_mode(ctr, *flags: str) -> str:
    r = ctr.run("run", "--rm", *flags, ctr.image, "grep", "Seccomp:", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[1]


def userns_allowed_on_host() -> bool:
    """Whether an unprivileged user may create a user namespace here (outside containers)."""
    probe = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "unshare", "-U",
             "true"]  # fmt: skip
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except OSError:
        return False


@pytest_engine
def test_filter_on_by_default_off_when_unconfined_or_privileged(ctr):
    assert seccomp_mode(ctr) == "2"
    assert seccomp_mode(ctr, "--security-opt", "seccomp=unconfined") == "0"
    assert seccomp_mode(ctr, "--security-opt", "seccomp=builtin") == "2"


@pytest_engine
def test_no_filter_when_privileged(ctr):
    # --privileged hands out the capabilities tke holds (this host's bounding set may lack
    # some, e.g. CAP_SYS_RESOURCE here), so it starts wherever tke runs
    r = ctr.run("run", "--rm", "--privileged", ctr.image, "grep", "Seccomp:", "/proc/self/status")
    assert (r.returncode, r.stdout.split()) == (0, ["Seccomp:", "0"]), r.stderr


@pytest_engine
def test_ordinary_programs_work_under_the_default(ctr):
    script = ("ls / >/dev/null && date >/dev/null && ps >/dev/null && id -u && mkdir /tmp/d && "
              "ln -s /tmp/d /tmp/l && echo x > /tmp/l/f && cat /tmp/d/f && linux32 uname -m && "
              "chroot / true && echo done")  # fmt: skip
    r = ctr.run("run", "--rm", ctr.image, "sh", "-c", script)
    assert (r.returncode, r.stdout, r.stderr) == (0, "0\nx\ni686\ndone\n", "")


@pytest_engine
def test_unshare_denied_by_default_allowed_unconfined_or_with_sys_admin(ctr):
    if not userns_allowed_on_host():
        pytest.skip("this host forbids unprivileged user namespaces")
    r = ctr.run("run", "--rm", ctr.image, "unshare", "-U", "true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    r = ctr.run("run", "--rm", "--security-opt", "seccomp=unconfined", ctr.image,
                "unshare", "-U", "true")  # fmt: skip
    assert (r.returncode, r.stderr) == (0, "")
    r = ctr.run("run", "--rm", "--cap-add", "SYS_ADMIN", ctr.image, "unshare", "-U", "true")
    assert (r.returncode, r.stderr) == (0, "")
    mount = ["sh", "-c", "mount -t tmpfs t /tmp && umount /tmp && echo mounted"]
    r = ctr.run("run", "--rm", "--cap-add", "SYS_ADMIN", ctr.image, *mount)
    assert (r.returncode, r.stdout) == (0, "mounted\n"), r.stderr


@pytest_engine
def test_profile_file_denies_mkdir_and_resolves_caps(ctr, tmp_path):
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(PROFILE))
    opt = f"seccomp={path}"
    r = ctr.run("run", "--rm", "--security-opt", opt, ctr.image, "mkdir", "/x")
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    r = ctr.run("run", "--rm", "--security-opt", opt, ctr.image, "ls", "/")
    assert r.returncode == 0 and "bin" in r.stdout.split()
    assert seccomp_mode(ctr, "--security-opt", opt) == "2"
    link = ["sh", "-c", "ln -s /a /l && echo linked"]
    r = ctr.run("run", "--rm", "--security-opt", opt, ctr.image, *link)
    assert r.returncode == 1 and "Operation not permitted" in r.stderr
    r = ctr.run("run", "--rm", "--security-opt", opt, "--cap-add", "NET_ADMIN", ctr.image, *link)
    assert (r.returncode, r.stdout) == (0, "linked\n")


@pytest_engine
@pytest.mark.parametrize(
    "content, words",
    [
        (None, "no such file or directory"),
        ('{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [}', "decoding seccomp profile"),
        ('{"defaultAction": "SCMP_ACT_ALOW"}', "unknown action 'SCMP_ACT_ALOW'"),
    ],
)
def test_broken_profile_exits_125_naming_the_file(ctr, tmp_path, content, words):
    path = tmp_path / "profile.json"
    if content is not None:
        path.write_text(content)
    r = ctr.run("run", "--rm", "--security-opt", f"seccomp={path}", ctr.image, "true")
    assert r.returncode == 125, r.stderr
    assert str(path) in r.stderr and words in r.stderr and "Traceback" not in r.stderr
    assert ctr.ok("ps", "-aq") == ""  # checked at create, as docker: no container was made


@pytest_engine
def test_profile_file_is_read_at_create(ctr, tmp_path):
    """docker's CLI reads the profile when the container is created: later changes to the
    file (or a start from another directory) do not change the container's filter."""
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(PROFILE))
    cid = ctr.ok("create", "--security-opt", f"seccomp={path}", ctr.image,
                 "sh", "-c", "mkdir /x || echo denied").strip()  # fmt: skip
    path.write_text("not json any more")
    ctr.ok("start", cid)
    assert ctr.ok("wait", cid).strip() == "0"
    assert "Operation not permitted" in ctr.run("logs", cid).stderr
    ctr.ok("rm", cid)
