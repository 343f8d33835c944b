"""The seccomp cBPF machine: its instructions, the programs the kernel accepts, an interpreter.

A program is a list of (code, jt, jf, k) tuples (`struct sock_filter`, 8 bytes little-endian
each); it runs on `struct seccomp_data` = {int nr @0; u32 arch @4; u64 instruction_pointer @8;
u64 args[6] @16}, here 16 u32 words. Stdlib only and nothing of the engine: bpfopt.py and
bpfeval.py use it as a top-level module too (see bpfopt.py).
"""

from __future__ import annotations

import struct

INSN = struct.Struct("<HBBI")  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
M32 = 0xFFFFFFFF
MAX_LEN = 4096  # BPF_MAXINSNS
DATA_LEN = 64  # sizeof(struct seccomp_data): what `ld len` loads
OFF_NR, OFF_ARCH = 0, 4

LD_IMM, LDX_IMM, ST, STX, LD_ABS, LD_MEM, LDX_MEM = 0x00, 0x01, 0x02, 0x03, 0x20, 0x60, 0x61
LD_LEN, LDX_LEN, TAX, TXA, RET_K, RET_A, JA = 0x80, 0x81, 0x07, 0x87, 0x06, 0x16, 0x05
ALU, JMP, RET, SRC_X = 0x04, 0x05, 0x06, 0x08
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0xA0,
)  # fmt: skip
JEQ, JGT, JGE, JSET = 0x10, 0x20, 0x30, 0x40
ALU_OPS = (ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, XOR)  # seccomp allows no BPF_MOD
ALLOWED = (
    {LD_IMM, LDX_IMM, ST, STX, LD_ABS, LD_MEM, LDX_MEM, LD_LEN, LDX_LEN, TAX, TXA, RET_K, RET_A}
    | {JA, ALU | NEG}
    | {ALU | op | src for op in ALU_OPS for src in (0, SRC_X)}
    | {JMP | op | src for op in (JEQ, JGT, JGE, JSET) for src in (0, SRC_X)}
)


class Unsupported(Exception):
    """A program (or a part of one) the optimizer does not take: it is kept as it is."""


def parse(data: bytes) -> list:
    """The instructions of a program the kernel's seccomp checks would accept."""
    if not data or len(data) % 8 or len(data) > 8 * MAX_LEN:
        raise Unsupported("not a whole number of instructions")
    prog = [INSN.unpack_from(data, i) for i in range(0, len(data), 8)]
    for pc, (code, jt, jf, k) in enumerate(prog):
        if code not in ALLOWED or not _operand_ok(code, k):
            raise Unsupported(f"instruction {pc}: {code:#x} {k:#x}")
        if code & 7 == JMP and pc + 1 + (k if code == JA else max(jt, jf)) >= len(prog):
            raise Unsupported(f"instruction {pc} jumps out of the program")
    if prog[-1][0] & 7 != RET:
        raise Unsupported("the last instruction is not a return")
    return prog


def _operand_ok(code: int, k: int) -> bool:
    if code == LD_ABS:
        return k < DATA_LEN and k % 4 == 0
    if code in (LD_MEM, LDX_MEM, ST, STX):
        return k < 16
    if code == ALU | DIV:
        return k != 0
    return k < 32 if code in (ALU | LSH, ALU | RSH) else True


def encode(prog: list) -> bytes:
    return b"".join(INSN.pack(*insn) for insn in prog)


def execute(prog: list, words: list) -> tuple:
    """Run `prog` on a seccomp_data of 16 u32 words: (its return value, a bit mask of the
    words it loaded)."""
    a = x = seen = pc = 0
    mem = [0] * 16
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == JMP | JEQ:
            pc += jt if a == k else jf
        elif code == LD_ABS:
            a = words[k >> 2]
            seen |= 1 << (k >> 2)
        elif code & 7 == JMP:
            if code == JA:
                pc += k
            else:
                pc += jt if compare(code & 0xF0, a, x if code & SRC_X else k) else jf
        elif code & 7 == RET:
            return (a if code == RET_A else k), seen
        elif code & 7 == ALU:
            b = x if code & SRC_X else k
            if code & 0xF0 == DIV and b == 0:
                return 0, seen  # what the kernel's conversion of a cBPF `div x` does
            a = alu(code & 0xF0, a, b)
        else:
            a, x = _move(code, k, a, x, mem)


def _move(code: int, k: int, a: int, x: int, mem: list) -> tuple:
    """(A, X) after a load, a store or a register move."""
    if code in (ST, STX):
        mem[k] = a if code == ST else x
        return a, x
    value = {LD_IMM: k, LDX_IMM: k, LD_LEN: DATA_LEN, LDX_LEN: DATA_LEN, TAX: a, TXA: x}
    value = value[code] if code in value else mem[k]
    return (value, x) if code in (LD_IMM, LD_LEN, LD_MEM, TXA) else (a, value)


def compare(op: int, a: int, b: int) -> bool:
    if op == JEQ:
        return a == b
    if op == JGT:
        return a > b
    if op == JGE:
        return a >= b
    return bool(a & b)


def alu(op: int, a: int, b: int) -> int:
    """A `op` b in 32 bits (b: not 0 for DIV; shifts by 32 or more: as x86 and arm64 do)."""
    if op == ADD:
        return (a + b) & M32
    if op == SUB:
        return (a - b) & M32
    if op == MUL:
        return (a * b) & M32
    if op == DIV:
        return a // b
    if op == OR:
        return a | b
    if op == AND:
        return a & b
    if op == XOR:
        return a ^ b
    if op == NEG:
        return -a & M32
    return (a << (b & 31)) & M32 if op == LSH else a >> (b & 31)
