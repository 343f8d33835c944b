"""A smaller, equivalent seccomp cBPF program: what tke keeps in its seccomp cache.

libseccomp (as crun 1.8 uses it) compiles a profile into a linear chain: load the arch, compare
it, load the syscall number, then one `jeq NR` per syscall named in the profile, and their
argument checks (436 instructions for docker's default on x86_64). At each container
start the kernel checks and JITs every instruction and runs the program once per syscall number
of each architecture (to find the syscalls it can allow without running it), each run walking
the chain; so does every syscall of the container that the filter must look at.
`optimize(program)` returns a program with the same decisions, or the program itself when it
cannot show the two equal: a dispatch on the arch, a search on the syscall number (`jge`s, a
few `jeq`s), at its leaves a `ret` or what remains of the argument checks (286 instructions
for docker's default; ~11 run per syscall number on average, against ~116 on x86_64).

How: bpfeval.py cuts (arch, nr) into rectangles with one residual code each; adjacent intervals
with the same code merge; the searches are planned smallest first; the code is laid out with
stand-ins (a copy of a `ret`, a `ja`) where a conditional jump cannot reach its target. The
result is run against the input (bpfvm.py's interpreter) at each end of each interval, beside
each end, and there with args at the numbers the programs compare args with, before it is used.

Stdlib only and nothing of the engine: the shim runs `main` in a process of its own, as a
top-level module (`sys.path.insert(0, ENGINE_DIR); import bpfopt`), off the container's start.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import sys

if __package__:
    from . import bpfeval
    from . import bpfvm as vm
else:  # a top-level module, as the shim runs it: the engine directory is on sys.path
    import bpfeval
    import bpfvm as vm

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator, Optional

SPAN = 192  # how far on a stand-in for a far jump target goes (255 at most)
PLAN_MAX = 128  # pieces searched with a plan (plan)
CHAIN = 4  # a run of intervals with at most this many single numbers: tested with `jeq`s
MAX_RUNS = 200_000  # runs of both programs the check may take (docker's default: ~6,000)


# --- the dispatch over the rectangles ------------------------------------------------------
def merged(pieces: list) -> list:
    """Sorted (start, node) pieces without a piece that has its predecessor's node."""
    out: list = []
    for start, node in sorted(pieces):
        if not out or out[-1][1] != node:
            out.append((start, node))
    return out


def dispatch(code: bpfeval.Code, rects: list) -> int:
    """The program's root: load arch, search its intervals; in each, load nr, search its
    intervals, whose nodes are the rectangles' residual code."""
    arch_starts = sorted({arch[0] for arch, _, _ in rects})
    rows = []
    for start in arch_starts:
        row = merged([(nr[0], node) for arch, nr, node in rects if arch[0] <= start <= arch[1]])
        rows.append((start, load_and_search(code, vm.OFF_NR, row)))
    return load_and_search(code, vm.OFF_ARCH, merged(rows))


def load_and_search(code: bpfeval.Code, off: int, pieces: list) -> int:
    if len(pieces) == 1:
        return pieces[0][1]
    return code.op(vm.LD_ABS, off, search(code, pieces, vm.M32))


def search(code: bpfeval.Code, pieces: list, end: int) -> int:
    """Which of `pieces` (start, node), the last ending at `end`, holds A: the smallest tree
    of `jge`s splitting the pieces and short `jeq` chains picking single numbers out of a
    run where all else leads to one node (then the shallowest: plan)."""
    if len(pieces) > PLAN_MAX:  # halve first: planning costs the cube of the length
        mid = len(pieces) // 2
        start = pieces[mid][0]
        upper = search(code, pieces[mid:], end)
        return code.jump(vm.JMP | vm.JGE, start, upper, search(code, pieces[:mid], start - 1))
    return build(code, pieces, plan(pieces, end), 0, len(pieces))


def plan(pieces: list, end: int) -> dict:
    """{(i, j): (size, depth, how)} of the best search of pieces[i:j]; how: None (one piece),
    ("chain", the node all but the chain's numbers lead to) or ("split", where)."""
    n = len(pieces)
    ends = [p[0] - 1 for p in pieces[1:]] + [end]
    single = [p[0] == e for p, e in zip(pieces, ends)]
    best: dict = {}
    for width in range(1, n + 1):
        for i in range(n - width + 1):
            j = i + width
            if width == 1:
                best[i, j] = (0, 0, None)
                continue
            options = [
                (1 + best[i, m][0] + best[m, j][0], 1 + max(best[i, m][1], best[m, j][1]), m)
                for m in range(i + 1, j)
            ]
            size, depth, m = min(options)
            best[i, j] = (size, depth, ("split", m))
            wide = {pieces[t][1] for t in range(i, j) if not single[t]}
            for default in wide if len(wide) == 1 else () if wide else {pieces[j - 1][1]}:
                count = sum(pieces[t][1] != default for t in range(i, j))
                if count <= CHAIN and (count, count) <= (size, depth):
                    best[i, j] = (count, count, ("chain", default))
    return best


def build(code: bpfeval.Code, pieces: list, best: dict, i: int, j: int) -> int:
    how = best[i, j][2]
    if how is None:
        return pieces[i][1]
    if how[0] == "split":
        m = how[1]
        upper = build(code, pieces, best, m, j)
        return code.jump(vm.JMP | vm.JGE, pieces[m][0], upper, build(code, pieces, best, i, m))
    node = default = how[1]
    for start, target in reversed(pieces[i:j]):
        if target != default:
            node = code.jump(vm.JMP | vm.JEQ, start, target, node)
    return node


# --- layout --------------------------------------------------------------------------------
def order(code: bpfeval.Code, root: int) -> list:
    """The nodes reachable from `root`, each before the nodes it leads to (a reverse
    post-order: a node's `else`, or its only successor, tends to come right after it)."""
    post, seen, stack = [], {root}, [(root, 0)]
    while stack:
        node, i = stack.pop()
        _, _, then, other = code.nodes[node]
        succ = [n for n in (then, other) if n >= 0]
        if i < len(succ):
            stack.append((node, i + 1))
            if succ[i] not in seen:
                seen.add(succ[i])
                stack.append((succ[i], 0))
        else:
            post.append(node)
    return post[::-1]


def linear(code: bpfeval.Code, root: int) -> list:
    """The program: nodes in order; where an instruction's successor is not next, or a
    conditional jump's target is more than 255 instructions on, a stand-in for the target
    (a copy of a `ret`, else a `ja` to it)."""
    nodes = order(code, root)
    labels = itertools.count(-2, -1)
    items = []  # [code, k, then label, else label, own label]; a node's label is its id
    for i, node in enumerate(nodes):
        c, k, then, other = code.nodes[node]
        items.append([c, k, then, other, node])
        if c & 7 not in (vm.JMP, vm.RET) and (i + 1 == len(nodes) or nodes[i + 1] != then):
            items.append(stand_in([*code.nodes[then], then], next(labels)))
    for _ in range(64):
        moved = within_reach(items, labels)
        if moved is None:
            return resolved(items)
        items = moved
    raise vm.Unsupported("jumps do not settle")


def stand_in(target: list, label: int) -> list:
    """An item labelled `label` that does what the item `target` does: a copy of a `ret`, else
    a `ja` to it (or to where it goes, for a `ja`)."""
    c, k, then, _, own = target
    if c & 7 == vm.RET:
        return [c, k, -1, -1, label]
    return [vm.JA, 0, then if c == vm.JA else own, -1, label]


def same_as(item: list) -> tuple:
    """What an item does, for items that stand in for one another."""
    c, k, then, _, label = item
    return ("ret", c, k) if c & 7 == vm.RET else ("to", then) if c == vm.JA else ("to", label)


def within_reach(items: list, labels: Iterator) -> Optional[list]:
    """`items` where each conditional jump whose target is too far goes to a stand-in for it
    within reach instead (one there already, or one added as far on as a fall-through allows,
    for the jumps after it to share), or None if none was too far. New stand-ins move what
    follows them: the caller repeats until nothing changes."""
    at = {item[4]: i for i, item in enumerate(items)}
    gaps = [i + 1 for i, item in enumerate(items) if item[0] & 7 in (vm.JMP, vm.RET)]
    alike: dict = {}
    for item in items:
        alike.setdefault(same_as(item), []).append(item[4])
    planned: dict = {}  # what to add before items[i]: {i: {same_as: stand-in}}
    for i, item in enumerate(items):
        if item[0] & 7 != vm.JMP or item[0] == vm.JA:
            continue
        for slot in (2, 3):
            if at[item[slot]] - i - 1 <= 255:
                continue
            target = items[at[item[slot]]]
            key = same_as(target)
            there = [lb for lb in alike[key] if 0 <= at[lb] - i - 1 <= 255]
            there += [m[key][4] for g, m in planned.items() if key in m and i < g <= i + SPAN]
            if not there:  # (a gap: after an instruction that does not fall through)
                gap = gaps[bisect.bisect_right(gaps, i + 1 + SPAN) - 1]
                made = stand_in(target, next(labels))
                planned.setdefault(gap, {})[key] = made
                there = [made[4]]
            item[slot] = there[0]
    if not planned:
        return None
    out = []
    for i, item in enumerate(items + [None]):
        out += planned.get(i, {}).values()
        out.append(item)
    return out[:-1]


def resolved(items: list) -> list:
    """The instructions, with the offsets of their targets."""
    at = {item[4]: i for i, item in enumerate(items)}
    out = []
    for i, (c, k, then, other, _) in enumerate(items):
        if c == vm.JA:
            out.append((vm.JA, 0, 0, at[then] - i - 1))
        elif c & 7 == vm.JMP:
            jt, jf = at[then] - i - 1, at[other] - i - 1
            if not (0 <= jt <= 255 and 0 <= jf <= 255):
                raise vm.Unsupported("a jump out of reach")  # (within_reach prevents it)
            out.append((c, jt, jf, k))
        else:
            out.append((c, 0, 0, k))
    return out


# --- the check -----------------------------------------------------------------------------
def critical_points(rects: list) -> set:
    """(arch, nr) at and beside each end of each rectangle's intervals."""

    def near(lo: int, hi: int) -> set:
        return {v for v in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1) if 0 <= v <= vm.M32}

    nrs_of: dict = {}
    for arch, nr, _ in rects:
        nrs_of.setdefault(arch, set()).update(near(*nr))
    return {(a, n) for arch, nrs in nrs_of.items() for a in near(*arch) for n in nrs}


def arg_values(old: list, new: list) -> list:
    """Values to try in args: 0, 1, the top bit, all ones, and each number the programs compare
    args with: the old one's also beside it and inverted, or when it compares a masked value,
    with the bits outside the mask clear, set, and with the mask's lowest bit flipped."""
    values = {0, 1, 0x80000000, vm.M32}
    loaded, mask = 0, vm.M32
    for c, _, _, k in old:
        if c == vm.LD_ABS:
            loaded, mask = k, vm.M32
        elif c == vm.ALU | vm.AND:
            mask &= k
        elif c & 7 == vm.JMP and c != vm.JA and not c & vm.SRC_X and loaded >= 8:
            low = mask & -mask
            values.update((k, k ^ low, k | ~mask & vm.M32, (k | ~mask) & vm.M32 ^ low, ~k & vm.M32))
            values.update(((k + 1) & vm.M32, (k - 1) & vm.M32))
    values.update(k for c, _, _, k in new if c & 7 == vm.JMP and c != vm.JA)
    return sorted(values)


def agree(old: list, new: list, points: set, values: list) -> bool:
    """Whether both programs return the same at each point, for args from `values` wherever
    one of them reads args there (False too if that is more runs than the check may take)."""
    rng = random.Random(0x5ECC0)
    budget = MAX_RUNS
    for arch, nr in sorted(points):
        words = [nr, arch] + [0] * 14
        ret_old, seen_old = vm.execute(old, words)
        ret_new, seen_new = vm.execute(new, words)
        if ret_old != ret_new:
            return False
        read = [w for w in range(2, 16) if (seen_old | seen_new) >> w & 1]
        samples = arg_samples(read, values, rng)
        budget -= 1 + len(samples)
        if budget < 0:
            return False
        for sample in samples:
            words[2:] = sample
            if vm.execute(old, words)[0] != vm.execute(new, words)[0]:
                return False
    return True


def arg_samples(read: list, values: list, rng: random.Random, mixed: int = 48) -> list:
    """Args words (the 14 after nr and arch): each of the `read` ones at each of `values`,
    the others drawn from `values`; then `mixed` draws of all of them."""

    def draw() -> list:
        return [rng.choice(values) if w + 2 in read else 0 for w in range(14)]

    out = []
    for w in read:
        for v in values:
            words = draw()
            words[w - 2] = v
            out.append(words)
    return out + [draw() for _ in range(mixed if read else 0)]


# --- entry points --------------------------------------------------------------------------
def optimize(data: bytes) -> bytes:
    """An equivalent program shorter than `data`, or `data` itself."""
    try:
        old = vm.parse(data)
        ev = bpfeval.Evaluator(old)
        rects = bpfeval.rectangles(ev)
        new = linear(ev.code, dispatch(ev.code, rects))
    except (vm.Unsupported, RecursionError):
        return data
    if len(new) >= len(old) or len(new) > vm.MAX_LEN:
        return data
    if not agree(old, new, critical_points(rects), arg_values(old, new)):
        return data
    return vm.encode(new)


def main(argv: list) -> int:
    """`bpfopt IN OUT`: write IN's program, optimized, to OUT (atomically; IN itself when it
    cannot be made smaller)."""
    if len(argv) != 2:
        sys.stderr.write("usage: bpfopt IN OUT\n")
        return 2
    src, dest = argv
    try:
        with open(src, "rb") as fh:
            data = fh.read()
        out = optimize(data)
        if out == data and os.path.abspath(src) == os.path.abspath(dest):
            return 0
        tmp = f"{dest}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(out)
        os.replace(tmp, dest)
    except OSError as exc:
        sys.stderr.write(f"bpfopt: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
