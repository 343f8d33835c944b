"""Partial evaluation of a seccomp cBPF program, for bpfopt.py.

`rectangles(Evaluator(prog))` cuts the input space (arch, nr) into rectangles on which the
program's comparisons of arch and nr each go one way, and gives each the residual code of the
program there: the program run with arch and nr known, what is known folded, what depends on
the rest of seccomp_data (args, instruction pointer) kept, with both branches of each such test
explored (cBPF jumps only go forward, so that ends). Residual code is interned nodes (`Code`):
rectangles with the same decisions share one node. Stdlib only, nothing of the engine (see
bpfopt.py for how it is imported).
"""

from __future__ import annotations

if __package__:
    from . import bpfvm as vm
else:  # a top-level module in the shim's optimizer process (bpfopt.py)
    import bpfvm as vm

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

A, X, MEM = 0, 1, 2  # the abstract machine's registers: A, X, then the scratch words M[0..15]
IDENTITY = {
    vm.ADD: 0, vm.SUB: 0, vm.OR: 0, vm.XOR: 0, vm.LSH: 0, vm.RSH: 0, vm.MUL: 1, vm.DIV: 1,
    vm.AND: vm.M32,
}  # fmt: skip
MAX_STEPS = 2_000_000  # instructions walked in all (a bound on what a program may cost)
MAX_NODES = 20_000


# --- residual code: interned nodes ---------------------------------------------------------
class Code:
    """Nodes (code, k, then, else): a `ret` (then = else = -1), an instruction followed by
    `then`, or a conditional jump. Equal code is one node; an instruction whose result no
    path reads is left out as the node is made."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.live: list = []  # registers each node reads before writing them (bit mask)
        self.ids: dict = {}

    def _add(self, key: tuple, live: int) -> int:
        nid = self.ids.get(key)
        if nid is None:
            if len(self.nodes) >= MAX_NODES:
                raise vm.Unsupported("too much residual code")
            nid = self.ids[key] = len(self.nodes)
            self.nodes.append(key)
            self.live.append(live)
        return nid

    def ret(self, code: int, k: int) -> int:
        return self._add((code, k, -1, -1), 1 << A if code == vm.RET_A else 0)

    def op(self, code: int, k: int, then: int) -> int:
        uses, defs = effect(code, k)
        if not defs & self.live[then] and code != vm.ALU | vm.DIV | vm.SRC_X:  # (may return 0)
            return then
        return self._add((code, k, then, -1), self.live[then] & ~defs | uses)

    def jump(self, code: int, k: int, then: int, other: int) -> int:
        if then == other:
            return then
        return self._add((code, k, then, other), self.live[then] | self.live[other] | uses_of(code))


def effect(code: int, k: int) -> tuple:
    """(registers read, registers written) by a straight-line instruction, as bit masks."""
    a, x, m = 1 << A, 1 << X, 1 << (MEM + k % 16)  # (m: when k is a scratch word's index)
    if code & 7 == vm.ALU:
        return (a | x if code & vm.SRC_X else a), a
    return {
        vm.LD_ABS: (0, a), vm.LD_IMM: (0, a), vm.LD_LEN: (0, a), vm.LD_MEM: (m, a),
        vm.TXA: (x, a), vm.LDX_IMM: (0, x), vm.LDX_LEN: (0, x), vm.LDX_MEM: (m, x),
        vm.TAX: (a, x), vm.ST: (a, m), vm.STX: (x, m),
    }[code]  # fmt: skip


def uses_of(jump: int) -> int:
    return (1 << A) | (1 << X if jump & vm.SRC_X else 0)


# Values: an int (known); ("v", OFF): arch or nr itself, in a rectangle wider than one number;
# TAINT: computed from those; ("ld", OFF), ("alu", OP, a, b), ("neg", a): computed from the
# rest of seccomp_data, held in the real machine; None: a scratch word never written.
TAINT = ("taint",)
ANY = (0, vm.M32, frozenset())  # what is known of a value: lo, hi, values it is not


def is_var(v: object) -> bool:
    return type(v) is tuple and v[0] == "v"


def is_sym(v: object) -> bool:
    return type(v) is tuple and v[0] in ("ld", "alu", "neg")


class State:
    """One path's machine: what each register holds (`val`), what the residual code has put in
    the real register (`real`), and what the tests on the path so far tell about args values
    (`facts`). A register holding an args value has it in the real register too, except that
    A may be one operation (with a number) short: `and #m` is only done when its result is
    needed, so that a masked compare can test bits of the value still in A instead."""

    __slots__ = ("val", "real", "facts")

    def __init__(self, val: list, real: list, facts: dict) -> None:
        self.val, self.real, self.facts = val, real, facts

    def fork(self) -> State:
        return State(list(self.val), list(self.real), dict(self.facts))


def decided(op: int, c: int, lo: int, hi: int, not_in: frozenset = frozenset()) -> Optional[bool]:
    """`v OP c` for every v in [lo, hi] except `not_in`, if that is one answer, else None."""
    if op == vm.JEQ:
        if lo == hi == c:
            return True
        return False if c < lo or c > hi or c in not_in else None
    if op == vm.JGT:
        return True if lo > c else False if hi <= c else None
    if op == vm.JGE:
        return True if lo >= c else False if hi < c else None
    if c == 0 or lo == hi:
        return bool(lo & c)
    common = ~((1 << (lo ^ hi).bit_length()) - 1) & vm.M32  # the bits all of [lo, hi] share
    if lo & c & common:
        return True
    return False if not c & ~common else None


def narrowed(facts: dict, expr: tuple, op: int, c: int, outcome: bool) -> None:
    """Record in `facts` that `expr OP c` came out as `outcome`."""
    if op == vm.JSET:
        facts[("set", expr, c)] = outcome
        return
    lo, hi, not_in = facts.get(expr, ANY)
    if op == vm.JEQ:
        lo, hi, not_in = (c, c, frozenset()) if outcome else (lo, hi, not_in | {c})
    elif op == vm.JGT:
        lo, hi = (max(lo, c + 1), hi) if outcome else (lo, min(hi, c))
    else:
        lo, hi = (max(lo, c), hi) if outcome else (lo, min(hi, c - 1))
    facts[expr] = (lo, hi, not_in)


def by_facts(facts: dict, expr: tuple, op: int, c: int) -> Optional[bool]:
    if op == vm.JSET and ("set", expr, c) in facts:
        return facts[("set", expr, c)]
    return decided(op, c, *facts.get(expr, ANY))


def masked(facts: dict, e: tuple, m: int, op: int, c: int) -> object:
    """`(e & m) OP c` while A still holds e: decided by what the path knows of e's bits, else
    a residual test of e's bits (a `jset`; for a compare, of one bit, then the compare again),
    else None (a compare with more unknown bits: mask A and compare)."""
    if op == vm.JSET:
        bits = m & c
        known = by_facts(facts, e, vm.JSET, bits)
        return known if known is not None else (vm.JMP | vm.JSET, bits, (e, vm.JSET, bits), False)
    if op != vm.JEQ:
        return None
    if c & ~m:
        return False
    unknown = []
    while m:
        bit = m & -m
        m ^= bit
        known = facts.get(("set", e, bit))
        if known is None:
            unknown.append(bit)
        elif known != bool(c & bit):
            return False
    if len(unknown) > 2:
        return None
    return (vm.JMP | vm.JSET, unknown[0], (e, vm.JSET, unknown[0]), True) if unknown else True


def cuts(op: int, c: int) -> tuple:
    """Where intervals start so that `v OP c` is one answer on each."""
    return (c, c + 1) if op == vm.JEQ else (c + 1,) if op == vm.JGT else (c,)


class Evaluator:
    """Runs the program on rectangles of (arch, nr), building residual code in `code`."""

    def __init__(self, prog: list) -> None:
        self.prog = prog
        self.code = Code()
        self.steps = 0
        self.bounds: dict = {}
        self.splits: dict = {}

    def residual(self, arch: tuple, nr: tuple) -> tuple:
        """(the code for this rectangle, {OFF: where its interval must be cut}); with cuts the
        code is meaningless: a comparison of arch or nr went both ways inside it."""
        self.bounds = {vm.OFF_ARCH: arch, vm.OFF_NR: nr}
        self.splits = {vm.OFF_ARCH: set(), vm.OFF_NR: set()}
        state = State([0, 0] + [None] * 16, [None] * 18, {})  # cBPF starts with A = X = 0
        return self.walk(0, state), self.splits

    def walk(self, pc: int, s: State) -> int:
        """The code for the program from `pc` on in state `s`. A residual test's `then` is
        walked first (recursively), its `else` in this loop."""
        tests: list = []  # (instructions before it, test, then node) of the tests passed
        ops: list = []  # residual instructions since the last test
        while True:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise vm.Unsupported("too many paths")
            code, jt, jf, k = self.prog[pc]
            pc += 1
            if code == vm.JA:
                pc += k
            elif code & 7 == vm.JMP:
                test = self.branch(code, k, s, ops)
                if isinstance(test, bool):
                    pc += jt if test else jf
                    continue
                test_code, test_k, fact, again = test
                other = s.fork()
                if fact:
                    narrowed(other.facts, *fact, True)
                    narrowed(s.facts, *fact, False)
                then = self.walk(pc - 1 if again else pc + jt, other)
                tests.append((ops, test_code, test_k, then))
                ops, pc = [], pc - 1 if again else pc + jf
            elif code & 7 == vm.RET:
                return self.finish(tests, ops, self.ret(code, k, s, ops))
            else:
                end = self.step(code, k, s, ops)
                if end is not None:
                    return self.finish(tests, ops, end)

    def finish(self, tests: list, ops: list, node: int) -> int:
        """The code of a path that ends with `node`: its instructions and tests before it."""
        for before, code, k, then in reversed([*tests, (ops, None, None, None)]):
            if code is not None:
                node = self.code.jump(code, k, then, node)
            for op_code, op_k in reversed(before):
                node = self.code.op(op_code, op_k, node)
        return node

    def ret(self, code: int, k: int, s: State, ops: list) -> int:
        value = k if code == vm.RET_K else s.val[A]
        if isinstance(value, int):
            return self.code.ret(vm.RET_K, value)
        self.materialize(s, A, ops)
        return self.code.ret(vm.RET_A, 0)

    def emit(self, s: State, ops: list, code: int, k: int, dest: int) -> None:
        ops.append((code, k))
        s.real[dest] = s.val[dest]

    def materialize(self, s: State, reg: int, ops: list) -> None:
        """Make the real A or X hold what the program has there."""
        v, real = s.val[reg], s.real[reg]
        if real == v:
            return
        if isinstance(v, int):
            self.emit(s, ops, vm.LD_IMM if reg == A else vm.LDX_IMM, v, reg)
        elif is_var(v) and reg == A:
            self.emit(s, ops, vm.LD_ABS, v[1], A)
        elif v[0] == "neg" and real == v[1]:
            self.emit(s, ops, vm.ALU | vm.NEG, 0, A)
        elif v[0] == "alu" and real == v[2] and isinstance(v[3], int):
            self.emit(s, ops, vm.ALU | v[1], v[3], A)
        else:  # arithmetic on arch or nr, or arch or nr in X: not modelled
            raise vm.Unsupported("cannot rebuild a value")

    def load(self, off: int) -> object:
        if off not in self.bounds:
            return ("ld", off)
        lo, hi = self.bounds[off]
        return lo if lo == hi else ("v", off)

    def step(self, code: int, k: int, s: State, ops: list) -> Optional[int]:
        """One straight-line instruction; a node when it ends the program (`div` by 0)."""
        if code == vm.LD_ABS:
            s.val[A] = v = self.load(k)
            if is_sym(v) and s.real[A] != v:
                self.emit(s, ops, code, k, A)
        elif code in (vm.LD_IMM, vm.LD_LEN):
            s.val[A] = k if code == vm.LD_IMM else vm.DATA_LEN
        elif code in (vm.LDX_IMM, vm.LDX_LEN):
            s.val[X] = k if code == vm.LDX_IMM else vm.DATA_LEN
        elif code & 7 == vm.ALU:
            return self.alu(code, k, s, ops)
        else:
            src, dest = {
                vm.LD_MEM: (MEM + k, A), vm.LDX_MEM: (MEM + k, X), vm.ST: (A, MEM + k),
                vm.STX: (X, MEM + k), vm.TAX: (A, X), vm.TXA: (X, A),
            }[code]  # fmt: skip
            v = s.val[src]
            if v is None:
                raise vm.Unsupported("a scratch word is read before it is written")
            if is_sym(v) and src == A:
                self.materialize(s, A, ops)
            s.val[dest] = v
            if is_sym(v) and s.real[dest] != v:
                self.emit(s, ops, code, k, dest)
        return None

    def alu(self, code: int, k: int, s: State, ops: list) -> Optional[int]:
        op, a = code & 0xF0, s.val[A]
        b = 0 if op == vm.NEG else s.val[X] if code & vm.SRC_X else k
        if isinstance(b, int):
            if op == vm.DIV and b == 0:
                return self.code.ret(vm.RET_K, 0)
            if op in (vm.LSH, vm.RSH) and b >= 32:
                raise vm.Unsupported("a shift by 32 or more")
            if isinstance(a, int):
                s.val[A] = vm.alu(op, a, b)
                return None
            if (op in (vm.AND, vm.MUL) and b == 0) or (op == vm.OR and b == vm.M32):
                s.val[A] = b if op == vm.OR else 0
                return None
            if IDENTITY.get(op) == b:
                return None
        if a is TAINT or b is TAINT or is_var(a) or is_var(b):
            if is_sym(a) or is_sym(b):
                raise vm.Unsupported("arithmetic mixing arch or nr with args")
            s.val[A] = TAINT
            return None
        self.materialize(s, A, ops)
        s.val[A] = ("neg", a) if op == vm.NEG else ("alu", op, a, b)
        if not isinstance(b, int):  # else left to do until the value is needed (materialize)
            self.emit(s, ops, vm.ALU | op | vm.SRC_X, 0, A)
        return None

    def branch(self, code: int, k: int, s: State, ops: list) -> object:
        """The outcome of a test decided on this path, else the residual test: (code, k,
        the fact its outcome gives or None, whether to do this test again after it)."""
        op, a = code & 0xF0, s.val[A]
        b = s.val[X] if code & vm.SRC_X else k
        if a is TAINT or b is TAINT:
            raise vm.Unsupported("a test on arithmetic of arch or nr")
        if isinstance(a, int) and isinstance(b, int):
            return vm.compare(op, a, b)
        if is_var(a) or is_var(b):
            if isinstance(a, int) or isinstance(b, int):
                return self.var_branch(op, a, b)
            if is_var(b):
                raise vm.Unsupported("arch or nr in X")
            self.materialize(s, A, ops)
            return (vm.JMP | op | vm.SRC_X, 0, None, False)
        if isinstance(b, int):
            outcome = by_facts(s.facts, a, op, b)
            if outcome is None and a[0] == "alu" and a[1] == vm.AND and s.real[A] == a[2]:
                outcome = masked(s.facts, a[2], a[3], op, b)
            if outcome is not None:
                return outcome
            self.materialize(s, A, ops)
            return (vm.JMP | op, b, (a, op, b), False)
        self.materialize(s, A, ops)
        return (vm.JMP | op | vm.SRC_X, 0, None, False)

    def var_branch(self, op: int, a: object, b: object) -> bool:
        """A test of arch or nr against a number: decided by the rectangle, or recorded as a
        cut to make (and decided as for the rectangle's first value, to find further cuts)."""
        if is_var(a):
            off, c, negate = a[1], b, False
        else:  # `c > v` is `not v >= c`, `c >= v` is `not v > c`
            off, c, negate = b[1], a, op in (vm.JGT, vm.JGE)
            op = {vm.JGT: vm.JGE, vm.JGE: vm.JGT}.get(op, op)
        lo, hi = self.bounds[off]
        outcome = decided(op, c, lo, hi)
        if outcome is None:
            if op == vm.JSET:
                raise vm.Unsupported("jset on arch or nr")
            self.splits[off].update(cuts(op, c))
            outcome = vm.compare(op, lo, c)
        return outcome != negate


# --- the rectangles ----------------------------------------------------------------------
def rectangles(ev: Evaluator) -> list:
    """[(arch interval, nr interval, node)] covering all (arch, nr): cut where a comparison of
    arch or nr goes both ways, until none does."""
    todo, done = [((0, vm.M32), (0, vm.M32))], []
    while todo:
        arch, nr = todo.pop()
        node, splits = ev.residual(arch, nr)
        if not splits[vm.OFF_ARCH] and not splits[vm.OFF_NR]:
            done.append((arch, nr, node))
            continue
        if splits[vm.OFF_ARCH]:
            todo += [(piece, nr) for piece in cut(arch, splits[vm.OFF_ARCH])]
        else:
            todo += [(arch, piece) for piece in cut(nr, splits[vm.OFF_NR])]
    return done


def cut(interval: tuple, starts: set) -> list:
    lo, hi = interval
    edges = [lo] + sorted(p for p in starts if lo < p <= hi) + [hi + 1]
    return [(edges[i], edges[i + 1] - 1) for i in range(len(edges) - 1)]
