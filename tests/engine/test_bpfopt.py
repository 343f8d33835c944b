"""bpfopt.py: the optimized program decides every syscall as crun's does (compared with an
interpreter on every syscall number, each arch, args at and around the numbers the programs
compare them with), it is much smaller, programs it cannot handle come back unchanged, and with
crun the compact program is what the cache ends up holding and what containers run under."""

from __future__ import annotations

import base64
import ctypes
import json
import os
import random
import struct
import subprocess
import sys
import time

import pytest

from tests.engine.ctrhelpers import ctr_fixture  # noqa: F401 - provides `ctr`
from toolkit.engine import bpfcache, bpfopt
from toolkit.engine import bpfvm as vm
from toolkit.engine.containers import run_dir_for
from toolkit.engine.shim import OPTIMIZE_BPF  # what the shim runs

ENGINE_DIR = os.path.dirname(os.path.abspath(bpfopt.__file__))
X86_64, I386 = 0xC000003E, 0x40000003
ALLOW, KILL = 0x7FFF0000, 0
ERRNO = 0x50000  # | errno


# --- a small assembler: [label, (code, k, then label, else label)]; None: the next one -----
def assemble(lines: list) -> bytes:
    at, pc = {}, 0
    for line in lines:
        if isinstance(line, str):
            at[line] = pc
        else:
            pc += 1
    out, pc = [], 0
    for line in lines:
        if isinstance(line, str):
            continue
        code, k, then, other = (*line, None, None)[:4]
        if code == vm.JA:
            out.append((code, 0, 0, at[then] - pc - 1))
        elif code & 7 == vm.JMP:
            jt = at[then] - pc - 1 if then else 0
            out.append((code, jt, at[other] - pc - 1 if other else 0, k))
        else:
            out.append((code, 0, 0, k))
        pc += 1
    return vm.encode(out)


def ld(off: int) -> tuple:
    return (vm.LD_ABS, off)


def jeq(k: int, then: str = None, other: str = None) -> tuple:
    return (vm.JMP | vm.JEQ, k, then, other)


def ret(k: int) -> tuple:
    return (vm.RET_K, k)


def data(nr: int, arch: int = X86_64, *args: int) -> list:
    """seccomp_data's words: nr, arch, instruction pointer 0, args (their low words)."""
    words = [nr, arch, 0, 0] + [0] * 12
    words[4 : 4 + 2 * len(args) : 2] = args
    return words


def syscall_chain(nrs: list, target: str) -> list:
    """ld arch; x86_64 or kill; ld nr; `jeq NR -> target` for each of `nrs`."""
    return [ld(4), jeq(X86_64, None, "kill"), ld(0)] + [jeq(nr, target) for nr in nrs]


# --- the differential check ------------------------------------------------------------------
def compared_with(prog: list) -> tuple:
    """The numbers a program compares args with, and those it masks them with."""
    tested, masks, loaded = set(), set(), 0
    for code, _, _, k in prog:
        loaded = k if code == vm.LD_ABS else loaded
        if loaded >= 8 and code & 7 == vm.JMP and code != vm.JA:
            tested.add(k)
        elif loaded >= 8 and code == vm.ALU | vm.AND:
            masks.add(k)
    return tested, masks


def arg_samples(prog: list, rng: random.Random) -> list:
    """Values for one args word: around each number the program compares args with, that
    number with the bits outside each mask set, each bit alone and all but it, random ones."""
    tested, masks = compared_with(prog)
    values = {0, vm.M32}
    for c in tested | masks:
        values.update({c, (c + 1) & vm.M32, (c - 1) & vm.M32, ~c & vm.M32})
        values.update(c | ~m & vm.M32 for m in masks)
    for bit in range(32):
        values.update({1 << bit, vm.M32 ^ 1 << bit})
    values.update(rng.getrandbits(32) for _ in range(64))
    return sorted(values)


def differences(old_bytes: bytes, new_bytes: bytes, arches: list, nrs: list) -> list:
    """Where the two programs decide differently: (arch, nr, args words)."""
    old, new = vm.parse(old_bytes), vm.parse(new_bytes)
    rng = random.Random(7)
    values = arg_samples(old, rng)
    found = []
    for arch in arches:
        for nr in nrs:
            words = [nr, arch] + [0] * 14
            (a, seen_a), (b, seen_b) = vm.execute(old, words), vm.execute(new, words)
            if a != b:
                found.append((arch, nr, words[2:]))
            read = [w for w in range(2, 16) if (seen_a | seen_b) >> w & 1]
            tries = [[rng.choice(values) for _ in range(14)] for _ in range(200 if read else 0)]
            for w in read:
                tries += [[v if i == w - 2 else 0 for i in range(14)] for v in values]
            for args in tries:
                words[2:] = args
                if vm.execute(old, words)[0] != vm.execute(new, words)[0]:
                    found.append((arch, nr, list(args)))
    return found


# --- crun's program for docker's default ---------------------------------------------------
def first_container(ctr) -> tuple:
    """(id, what crun compiled for it) of a container running in a store whose cache is
    still empty."""
    if ctr.runtime != "crun":
        pytest.skip("crun only: the cached program is crun's")
    cid = ctr.ok("run", "-d", ctr.image, "sleep", "30").strip()
    with open(os.path.join(run_dir_for(ctr.root), "crun", cid, "seccomp.bpf"), "rb") as fh:
        return cid, fh.read()


def crun_program(ctr) -> bytes:
    cid, data = first_container(ctr)
    ctr.ok("rm", "-f", cid)
    return data


def cache_file(ctr) -> str:
    folder = os.path.join(run_dir_for(ctr.root), "seccomp-bpf")
    (name,) = [n for n in os.listdir(folder) if ".tmp-" not in n]
    return os.path.join(folder, name)


def wait_for(path: str, data: bytes, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as fh:
            now = fh.read()
        if now == data or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def arch_constants(prog: list) -> list:
    """The numbers a program compares A with where A holds the arch (on some path)."""
    loaded = {0: set()}  # pc: offsets A may have been loaded from, on the paths to it
    out = set()
    for pc, (code, jt, jf, k) in enumerate(prog):
        here = loaded.get(pc, set())
        after = {k} if code == vm.LD_ABS else here if code & 7 in (vm.ST, vm.JMP) else {None}
        if code & 7 == vm.JMP and code != vm.JA and vm.OFF_ARCH in here:
            out.add(k)
        nexts = [] if code & 7 == vm.RET else [pc + 1 + k] if code == vm.JA else [pc + 1]
        nexts = [pc + 1 + jt, pc + 1 + jf] if code & 7 == vm.JMP and code != vm.JA else nexts
        for target in nexts:
            loaded.setdefault(target, set()).update(after)
    return sorted(out)


@pytest.mark.engine
def test_crun_program_for_docker_default_is_smaller_and_decides_the_same(ctr):
    raw = crun_program(ctr)
    new = bpfopt.optimize(raw)
    assert len(new) * 3 <= len(raw) * 2, (len(raw) // 8, len(new) // 8)  # see docs/engine.md
    arches = arch_constants(vm.parse(raw))
    assert X86_64 in arches and I386 in arches
    nrs = list(range(1101)) + [n | 0x40000000 for n in range(0, 1101, 3)]
    nrs += [n | 0x40000000 for n in (0x29, 0x38, 0x87)] + [0x7FFFFFFF, 0xFFFFFFFF]
    assert differences(raw, new, arches + [0, 0x12345678, vm.M32], nrs) == []
    # what docker's profile says, through the optimized program
    for nr, args, want in [
        (0, [], ALLOW),  # read
        (272, [], ERRNO | 1),  # unshare
        (165, [], ERRNO | 1),  # mount
        (0x87, [8], ALLOW),  # personality(PER_LINUX32)
        (0x87, [0x40000], ERRNO | 1),  # personality(ADDR_NO_RANDOMIZE)
        (0x38, [0x11], ALLOW),  # clone(SIGCHLD)
        (0x38, [0x20000], ERRNO | 1),  # clone(CLONE_NEWNS)
    ]:
        assert vm.execute(vm.parse(new), data(nr, X86_64, *args))[0] == want, hex(nr)
    assert vm.execute(vm.parse(new), data(0, 0x12345678))[0] == KILL


# --- hand-written programs -----------------------------------------------------------------
CHAIN = list(range(20, 60))  # nrs that make the input a linear chain worth shrinking
ENDS = ["allow", ret(ALLOW), "kill", ret(KILL)]


def optimized(lines: list, nrs: list = (), arches: list = (X86_64, 0, 0x12345678)) -> list:
    """The program `lines` optimized: smaller, accepted, and deciding as the input does."""
    raw = assemble(lines)
    new = bpfopt.optimize(raw)
    assert len(new) < len(raw)
    every = sorted(set(range(70)) | set(nrs) | {vm.M32})
    assert differences(raw, new, list(arches), every) == []
    return vm.parse(new)


def alu_code(alu: str, alux: str) -> list:
    """At `alu`: ERRNO | (every ALU op with a number, on args[0]); at `alux`: ERRNO | (every
    one with X = args[1], on args[0]) (a `div` by X = 0 returns 0)."""
    with_k = [(vm.ADD, 3), (vm.SUB, 1), (vm.MUL, 5), (vm.DIV, 2), (vm.OR, 0x100),
              (vm.AND, 0xFFF), (vm.XOR, 0x55), (vm.LSH, 2), (vm.RSH, 1), (vm.NEG, 0)]  # fmt: skip
    lines = [alu, ld(16)] + [(vm.ALU | op, k) for op, k in with_k]
    lines += [(vm.ALU | vm.AND, 0xFFFF), (vm.ALU | vm.OR, ERRNO), (vm.RET_A, 0)]
    with_x = (vm.ADD, vm.XOR, vm.MUL, vm.OR, vm.SUB, vm.DIV, vm.LSH, vm.RSH, vm.AND)
    lines += [alux, ld(24), (vm.TAX, 0), ld(16)] + [(vm.ALU | op | vm.SRC_X, 0) for op in with_x]
    return lines + [(vm.ALU | vm.AND, 0xFFFF), (vm.ALU | vm.OR, ERRNO), (vm.RET_A, 0)]


def memory_code(mem: str, length: str) -> list:
    """At `mem`, with A = args[1], X = args[0] (through scratch words): ERRNO 5 if A > X,
    6 if A == X, 7 if X has bit 0x80 or 0x40, 8 if X >= 1000, else 4. At `length`: `ld len`
    plus `ldx len` is 128: allow."""
    return [
        mem, ld(16), (vm.ST, 3), ld(24), (vm.ST, 15), (vm.LDX_MEM, 3), (vm.LD_MEM, 15),
        (vm.JMP | vm.JGT | vm.SRC_X, 0, "gt", None), (vm.JMP | vm.JEQ | vm.SRC_X, 0, "eq", None),
        (vm.TXA, 0), (vm.STX, 7), (vm.JMP | vm.JSET, 0x80, "bit", None),
        (vm.LDX_IMM, 0x40), (vm.JMP | vm.JSET | vm.SRC_X, 0, "bit", None),
        (vm.LD_MEM, 7), (vm.JMP | vm.JGE, 1000, "ge", None), ret(ERRNO | 4),
        "gt", ret(ERRNO | 5), "eq", ret(ERRNO | 6), "bit", ret(ERRNO | 7), "ge", ret(ERRNO | 8),
        length, (vm.LD_LEN, 0), (vm.LDX_LEN, 0), (vm.ALU | vm.ADD | vm.SRC_X, 0),
        (vm.JMP | vm.JEQ, 128, "allow", "kill"),
    ]  # fmt: skip


def test_alu_with_k_and_x_and_ret_a():
    lines = syscall_chain(CHAIN, "allow") + [jeq(1, "alu"), jeq(2, "alux"), ret(ERRNO | 1)]
    prog = optimized(lines + alu_code("alu", "alux") + ENDS)
    # 7 + 3 - 1 = 9, * 5 = 45, / 2 = 22 = 0x16, | 0x100, & 0xfff, ^ 0x55 = 0x143, << 2, >> 1
    # = 0x286, -0x286 = 0xfffffd7a, & 0xffff
    assert vm.execute(prog, data(1, X86_64, 7))[0] == ERRNO | 0xFD7A
    assert vm.execute(prog, data(2, X86_64, 100, 0))[0] == 0  # div x by 0: the filter gives 0
    # (100 + 3) ^ 3 = 100, * 3 = 300, | 3 = 303, - 3 = 300, / 3 = 100, << 3, >> 3, & 3
    assert vm.execute(prog, data(2, X86_64, 100, 3))[0] == ERRNO | 100 & 3


def test_scratch_memory_x_register_and_x_jumps():
    lines = syscall_chain(CHAIN, "allow") + [jeq(1, "mem"), jeq(2, "len"), ret(ERRNO | 1)]
    prog = optimized(lines + memory_code("mem", "len") + ENDS)
    cases = [(3, 5, ERRNO | 5), (3, 3, ERRNO | 6), (0x80, 1, ERRNO | 7), (0x40, 1, ERRNO | 7),
             (1024, 5, ERRNO | 8), (2, 1, ERRNO | 4)]  # fmt: skip
    for a0, a1, want in cases:
        assert vm.execute(prog, data(1, X86_64, a0, a1))[0] == want
    assert vm.execute(prog, data(2))[0] == ALLOW


def kernel_says(program: bytes, calls: list) -> list:
    """What syscall(nr, *args) returns (-errno for an error) for each (nr, args) of `calls`,
    in a child process running under `program` as its seccomp filter."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no exception may leave it
        code = 1
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            insns = ctypes.create_string_buffer(program, len(program))
            fprog = struct.pack("HP", len(program) // 8, ctypes.addressof(insns))
            if libc.prctl(38, 1, 0, 0, 0) == 0 and libc.syscall(317, 1, 0, fprog) == 0:
                out = []  # PR_SET_NO_NEW_PRIVS, seccomp(SECCOMP_SET_MODE_FILTER)
                for nr, args in calls:
                    rc = libc.syscall(ctypes.c_long(nr), *map(ctypes.c_ulong, args))
                    out.append(-ctypes.get_errno() if rc == -1 else rc)
                os.write(w, json.dumps(out).encode())
                code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        text = fh.read()
    assert os.waitpid(pid, 0)[1] == 0
    return json.loads(text)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64's syscall numbers")
def test_the_kernel_decides_as_the_interpreter_says():
    """The kernel runs crun's kind of program and its optimized form as the interpreter the
    other tests compare them with says (syscalls 1000.. do not exist: allowed, they fail with
    ENOSYS; a filter's ERRNO above 4095 is 4095)."""
    lines = syscall_chain(range(900, 940), "allow") + [jeq(1000, "alu"), jeq(1001, "alux")]
    lines += [jeq(1002, "mem"), jeq(1003, "len"), ret(ALLOW)] + alu_code("alu", "alux")
    raw = assemble(lines + memory_code("mem", "len") + ENDS)
    new = bpfopt.optimize(raw)
    assert len(new) < len(raw)
    rng = random.Random(3)
    values = [0, 1, 3, 5, 31, 32, 33, 0x40, 0x80, 999, 1000, 1024, 0x80000000, vm.M32]
    values += [rng.getrandbits(32) for _ in range(6)]
    calls = [
        (nr, [a0, a1])
        for nr in (1000, 1001, 1002, 1003, 920, 1004)
        for a0 in values
        for a1 in values
        if a1 or nr != 1001
    ]  # fmt: skip  (div by 0 kills)
    expected = []
    for nr, args in calls:
        got = vm.execute(vm.parse(raw), data(nr, X86_64, *args))[0]
        errno = min(got & 0xFFFF, 4095) if got & 0xFFFF0000 == ERRNO else 38  # ENOSYS
        expected.append(-errno if errno else 0)
    assert kernel_says(raw, calls) == expected
    assert kernel_says(new, calls) == expected


def test_far_targets_get_a_ja():
    """Two syscalls' arg checks (180 compares each) end in one shared tail (reached with `ja`
    in the input too): the first's compares are too far from it for a conditional jump."""
    lines = syscall_chain(CHAIN, "allow") + [jeq(1, "a"), jeq(2, "b"), ret(ERRNO | 1)] + ENDS
    for name, off, base in (("a", 16, 1000), ("b", 24, 2000)):
        lines += [name, ld(off)] + [jeq(base + i, "to-" + name) for i in range(180)]
        lines += [ret(ALLOW), "to-" + name, (vm.JA, 0, "tail")]
    lines += ["tail", ld(32), jeq(9, "nine"), ret(ERRNO | 10), "nine", ret(ERRNO | 9)]
    prog = optimized(lines, arches=[X86_64])
    assert any(code == vm.JA and k > 0 for code, _, _, k in prog)
    for nr, a0, a1, a2, want in [(1, 1000, 0, 9, ERRNO | 9), (1, 1179, 0, 1, ERRNO | 10),
                                 (1, 999, 0, 9, ALLOW), (2, 0, 2005, 9, ERRNO | 9)]:  # fmt: skip
        assert vm.execute(prog, data(nr, X86_64, a0, a1, a2))[0] == want


def test_ranges_of_syscalls_and_several_arches():
    x86_64 = [(vm.JMP | vm.JGE, 0x40000000, "kill", None), (vm.JMP | vm.JGT, 400, "allow", None)]
    x86_64 += [jeq(nr, "deny") for nr in range(100, 140)] + [ret(ALLOW)]
    ends = ["deny", ret(ERRNO | 1), "allow", ret(ALLOW), "kill", ret(KILL)]
    nrs = list(range(0, 500)) + [0x3FFFFFFF, 0x40000000]
    prog = optimized([ld(4), jeq(X86_64, None, "kill"), ld(0)] + x86_64 + ends, nrs=nrs)
    assert len(prog) <= 10  # 3 ranges, 3 returns, the arch check
    i386 = ["i386", ld(0)] + [jeq(nr, "deny") for nr in range(0, 300, 7)] + [ret(ALLOW)]
    both = [ld(4), jeq(I386, "i386"), jeq(X86_64, None, "kill"), ld(0)] + x86_64 + i386 + ends
    optimized(both, nrs=nrs, arches=[X86_64, I386, I386 + 1, 7])


def unchanged(data: bytes) -> None:
    assert bpfopt.optimize(data) == data


def test_what_it_cannot_handle_comes_back_unchanged():
    chain = syscall_chain(CHAIN, "allow")
    base = assemble(chain + [ret(ERRNO | 1)] + ENDS)
    assert bpfopt.optimize(base) != base  # (each case below breaks one thing of this one)
    unchanged(base[:-3])  # truncated
    unchanged(b"")
    unchanged(assemble([(0x94, 7)] + chain + [ret(ERRNO | 1)] + ENDS))  # BPF_MOD: not seccomp's
    unchanged(assemble([(0x30, 0)] + chain + [ret(ERRNO | 1)] + ENDS))  # ld byte: neither
    unchanged(base[:-8] + vm.encode([(vm.JMP | vm.JEQ, 5, 5, 0)]))  # jumps out, no final ret
    # arithmetic on nr, a jset on nr: not cut into intervals
    unchanged(assemble(chain + [(vm.ALU | vm.AND, 0xFF), jeq(7, "kill"), ret(ALLOW)] + ENDS))
    unchanged(assemble(chain + [(vm.JMP | vm.JSET, 0x40000000, "kill", None), ret(ALLOW)] + ENDS))
    unchanged(assemble([ret(ALLOW)]))  # nothing to make smaller


def test_main_rewrites_the_file_atomically_as_a_top_level_module(tmp_path):
    raw = assemble(syscall_chain(CHAIN, "allow") + [ret(ERRNO | 1)] + ENDS)
    path = tmp_path / "prog"
    path.write_bytes(raw)
    argv = [sys.executable, "-I", "-S", "-c", OPTIMIZE_BPF, ENGINE_DIR, str(path), str(path)]
    subprocess.run(argv, check=True, timeout=60)
    assert path.read_bytes() == bpfopt.optimize(raw) != raw
    assert os.listdir(tmp_path) == ["prog"]
    junk = tmp_path / "junk"
    junk.write_bytes(b"\1" * 7)
    assert subprocess.run(argv[:-2] + [str(junk), str(junk)], timeout=60).returncode == 0
    assert junk.read_bytes() == b"\1" * 7


# --- with crun -----------------------------------------------------------------------------
def children(pid: int) -> list:
    """(state, command line) of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == pid:
            found.append((fields[0], cmdline))
    return found


@pytest.mark.engine
def test_the_shim_leaves_the_compact_program_in_the_cache(ctr):
    cid, raw = first_container(ctr)
    want = bpfopt.optimize(raw)
    assert len(want) < len(raw)
    assert wait_for(cache_file(ctr), want) == want
    with open(os.path.join(ctr.root, "containers", cid, "state.json")) as fh:
        shim = json.load(fh)["ShimPid"]
    deadline = time.monotonic() + 10
    while any(st == "Z" or b"bpfopt" in cmd for st, cmd in children(shim)):
        assert time.monotonic() < deadline, children(shim)  # the shim reaps the optimizer
        time.sleep(0.05)
    assert [cmd.split(b"\0")[0] for _, cmd in children(shim)] == [b"sleep"]
    ctr.ok("rm", "-f", cid)


@pytest.mark.engine
def test_containers_run_under_the_compact_program(ctr):
    want = bpfopt.optimize(crun_program(ctr))
    assert wait_for(cache_file(ctr), want) == want
    # unshare(CLONE_NEWUSER) needs no capability: only the filter denies it; linux32 calls
    # personality(PER_LINUX32), one of the values its arg checks allow
    probe = "; ".join(
        ["unshare -U true", "echo unshare=$?", "linux32 true", "echo linux32=$?"]
        + ["grep Seccomp: /proc/self/status"]
    )
    cid = ctr.ok("create", ctr.image, "sh", "-c", probe).strip()
    run = ctr.run("start", "-a", cid)
    with open(os.path.join(ctr.root, "containers", cid, "config.json")) as fh:
        conf = json.load(fh)
    assert "seccomp" not in conf["linux"]
    assert base64.b64decode(conf["annotations"][bpfcache.ANNOTATION]) == want
    assert run.stdout == "unshare=1\nlinux32=0\nSeccomp:\t2\n", run.stderr
    assert "Operation not permitted" in run.stderr
    ctr.ok("rm", cid)
