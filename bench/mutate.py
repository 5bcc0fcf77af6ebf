"""Mutation testing of the modules whose mistakes cost most: `python -m bench.mutate [MODULE...] [--all]`.

A mutant is the module with one small change (a comparison flipped, `+` for `-`, a constant off by one, ...).
The tests that cover the module run against it; a mutant they still pass "survives": a mistake of that shape
would go unnoticed. Most targets are MicroPython code the tests run under the unix port through the emulator,
which off-the-shelf tools (they patch CPython's imports) would not see, so this mutator edits source files:

- the repository is copied once per worker into a temporary directory (the real files are never touched);
- each mutant is written into the copy, the module's tests run there (`pytest -x -q`, PYTHONPATH pointing at
  the copy, so `citynode.base.paths.FIRMWARE_DIR` is the copy's firmware), and the original is put back.

The emulator compiles firmware to .mpy in a cache keyed by content, so a mutated file is always recompiled.
Not part of `make test`: `make mutate` runs a deterministic sample per module (`--per-module`, `--seed`).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_FACTOR = 4  # a mutant's tests may take this many times the unmutated run's time ...
MIN_TIMEOUT_S = 20  # ... and at least this long, before it counts as killed (by timeout)


@dataclass(frozen=True)
class Target:
    path: str  # relative to the repository
    tests: tuple[str, ...]  # the test files that cover it
    functions: tuple[str, ...] = ()  # only these functions (and methods); empty: the whole module


# What each module costs when wrong decides its place here; its tests are the ones that exercise it directly.
TARGETS: dict[str, Target] = {
    "store": Target("firmware/node/store.py", ("tests/test_store.py",)),
    "duty": Target("firmware/lorawan/duty.py", ("tests/test_mac.py",)),
    "link": Target(  # the MAC's counters, frame building and acceptance of a downlink
        "firmware/lorawan/link.py",
        ("tests/test_mac.py", "tests/test_lorawan_node.py"),
        ("_count", "_save", "_frame", "_accept", "_after"),
    ),
    "crypto": Target("firmware/lorawan/crypto.py", ("tests/test_mac.py", "tests/test_netserver.py")),
    "payload": Target("firmware/payload.py", ("tests/test_payload.py",)),
    "cbor": Target("firmware/cbor.py", ("tests/test_cbor.py", "tests/test_payload.py")),
    "classair": Target(  # the light's level and the message; the net and S8 tests read the uplinks' values
        "firmware/apps/classair/wake.py",
        (
            "tests/test_classair.py",
            "tests/test_classair_net.py",
            "tests/test_classair_s8.py",
            "tests/test_roles.py",
        ),
    ),
    "deploy": Target(  # the plan: what to send, copy, keep, and which slot
        "tools/citynode/deploy.py",
        ("tests/test_deploy.py",),
        ("_slot_files", "_root_files", "_slot_state", "_diff"),
    ),
}


@dataclass(frozen=True)
class Mutant:
    line: int
    original: str  # the expression's source before ...
    mutated: str  # ... and after
    source: str  # the whole module, mutated

    def describe(self, path: str) -> str:
        return f"{path}:{self.line}: {self.original} -> {self.mutated}"


# --- operators: each yields replacement nodes for one node ------------------------------------------------

_CMP_FLIP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BIN_FLIP = {ast.Add: ast.Sub, ast.Sub: ast.Add}
_BOOL_FLIP = {ast.And: ast.Or, ast.Or: ast.And}


def _copy(node: ast.AST) -> ast.AST:
    return ast.parse(ast.unparse(node), mode="eval").body


def _is_str(node: ast.AST) -> bool:
    return isinstance(node, (ast.JoinedStr, ast.Constant)) and isinstance(getattr(node, "value", ""), str)


def _variants(node: ast.AST, parent: ast.AST | None) -> Iterator[ast.AST | str]:
    """Replacements for `node`: AST expressions, or for a return statement its new source text."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_FLIP:
                new = _copy(node)
                new.ops[i] = _CMP_FLIP[type(op)]()
                yield new
    elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_FLIP:
        if not (_is_str(node.left) or _is_str(node.right)):  # "a" - "b" is only a TypeError
            new = _copy(node)
            new.op = _BIN_FLIP[type(node.op)]()
            yield new
    elif isinstance(node, ast.BoolOp):
        new = _copy(node)
        new.op = _BOOL_FLIP[type(node.op)]()
        yield new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield _copy(node.operand)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        # Off by one, both ways; not below zero (a negative size or index is a different mistake), and not a
        # negative literal's digits (-1 is UnaryOp(USub, 1): its own +1 would be the same as -1's -1).
        if not (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub)):
            yield ast.Constant(node.value + 1)
            if node.value > 0:
                yield ast.Constant(node.value - 1)
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None"


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _in_scope(node: ast.AST, parents: dict, functions: tuple[str, ...]) -> bool:
    if not functions:
        return True
    p = parents.get(node)
    while p is not None:
        if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) and p.name in functions:
            return True
        p = parents.get(p)
    return False


def _skip(node: ast.AST, parents: dict) -> bool:
    """Nodes not worth mutating: annotations, f-strings' insides, and a log line's arguments (no test reads logs)."""
    child, p = node, parents.get(node)
    while p is not None:
        if isinstance(p, (ast.arg, ast.AnnAssign, ast.FunctionDef)) and child is getattr(
            p, "annotation", None
        ):
            return True
        if isinstance(p, ast.FunctionDef) and child is p.returns:
            return True
        if isinstance(p, ast.Call) and isinstance(p.func, ast.Attribute) and p.func.attr == "log":
            return True
        if isinstance(p, ast.JoinedStr):
            return True
        child, p = p, parents.get(p)
    return False


def mutants(source: str, functions: tuple[str, ...] = ()) -> list[Mutant]:
    """Every mutant of `source`, in source order; `functions` limits them to the code of those functions."""
    tree = ast.parse(source)
    parents = _parents(tree)
    lines = source.encode().splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    raw = source.encode()
    out = []
    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or not _in_scope(node, parents, functions) or _skip(node, parents):
            continue
        if isinstance(node, ast.Constant) and isinstance(parents.get(node), ast.Expr):
            continue  # a docstring
        a = starts[node.lineno - 1] + node.col_offset  # col_offset counts UTF-8 bytes
        b = starts[node.end_lineno - 1] + node.end_col_offset
        before = raw[a:b].decode()
        for new in _variants(node, parents.get(node)):
            after = new if isinstance(new, str) else ast.unparse(new)
            if not isinstance(new, (str, ast.Constant, ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                after = f"({after})"  # the replacement keeps its own precedence wherever it lands
            text = (raw[:a] + after.encode() + raw[b:]).decode()
            short = " ".join(before.split())
            out.append(Mutant(node.lineno, short, after, text))
    out.sort(key=lambda m: (m.line, m.original, m.mutated))
    return out


# --- running -----------------------------------------------------------------------------------------------

_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".hil-cache", "build", "dist"
)


def workspace(root: Path, into: Path) -> Path:
    """A copy of the repository to mutate in."""
    dst = into / "repo"
    shutil.copytree(root, dst, ignore=_IGNORE, symlinks=True)
    return dst


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> str:
    """'passed', 'failed' or 'timeout': the tests run against the copy."""
    env = dict(os.environ, PYTHONPATH=f"{copy / 'tools'}{os.pathsep}{copy}", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    # In a session of its own, so that a timeout ends the interpreters the tests started as well as pytest.
    p = subprocess.Popen(
        cmd, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return "timeout"
    return "passed" if rc == 0 else "failed"


def run_mutant(copy: Path, rel: str, mutant: Mutant, tests: tuple[str, ...], timeout: float) -> str:
    """'killed', 'survived' or 'timeout' (counted as killed: the tests noticed, the slow way)."""
    path = copy / rel
    original = path.read_bytes()
    try:
        path.write_text(mutant.source)
        outcome = run_tests(copy, tests, timeout)
    finally:
        path.write_bytes(original)
    return {"passed": "survived", "failed": "killed"}.get(outcome, outcome)


@dataclass
class Report:
    module: str
    path: str
    total: int  # mutants the operators produce
    tried: int = 0
    killed: int = 0
    timeouts: int = 0
    survivors: list[str] = field(default_factory=list)
    baseline_failed: bool = False

    @property
    def survival(self) -> float:
        return len(self.survivors) / self.tried if self.tried else 0.0


def pick(all_mutants: list[Mutant], n: int | None, seed: int) -> list[Mutant]:
    """A deterministic sample of at most n (all when n is None), in source order."""
    if n is None or len(all_mutants) <= n:
        return all_mutants
    chosen = random.Random(seed).sample(range(len(all_mutants)), n)
    return [all_mutants[i] for i in sorted(chosen)]


def mutate(
    names: list[str],
    targets: dict[str, Target],
    root: Path,
    per_module: int | None,
    seed: int,
    jobs: int,
    timeout: float,
    say=print,
) -> list[Report]:
    with tempfile.TemporaryDirectory(prefix="citynode-mutate-") as tmp:
        copies = [workspace(root, Path(tmp) / f"w{i}") for i in range(jobs)]
        free = list(copies)
        lock = threading.Lock()
        reports = []
        for name in names:
            t = targets[name]
            every = mutants((root / t.path).read_text(), t.functions)
            chosen = pick(every, per_module, seed)
            rep = Report(name, t.path, len(every))
            reports.append(rep)
            t0 = time.monotonic()
            if run_tests(copies[0], t.tests, timeout) != "passed":
                rep.baseline_failed = True
                say(f"{name}: its tests fail without a mutant; skipped")
                continue
            # A mutant that loops (a loop bound off by one, a flipped exit test) must not cost the whole timeout:
            # it counts as killed once it takes several times what the unmutated tests took.
            limit = min(timeout, max(MIN_TIMEOUT_S, TIMEOUT_FACTOR * (time.monotonic() - t0)))
            t0 = time.monotonic()

            def one(m: Mutant, t=t, limit=limit) -> tuple[Mutant, str]:
                with lock:
                    copy = free.pop()
                try:
                    return m, run_mutant(copy, t.path, m, t.tests, limit)
                finally:
                    with lock:
                        free.append(copy)

            with ThreadPoolExecutor(jobs) as pool:
                for m, outcome in pool.map(one, chosen):
                    rep.tried += 1
                    if outcome == "survived":
                        rep.survivors.append(m.describe(t.path))
                        say(f"  survived  {m.describe(t.path)}")
                    else:
                        rep.killed += 1
                        rep.timeouts += outcome == "timeout"
            say(
                f"{name}: {len(rep.survivors)}/{rep.tried} survived ({rep.survival:.0%}) of {rep.total} mutants,"
                f" {rep.timeouts} by timeout ({limit:.0f} s), {time.monotonic() - t0:.0f} s"
            )
    return reports


def table(reports: list[Report]) -> str:
    rows = [
        "| module | file | mutants | tried | killed | survived | survival |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        if r.baseline_failed:
            rows.append(f"| {r.module} | {r.path} | {r.total} | - | - | - | tests fail unmutated |")
            continue
        rows.append(
            f"| {r.module} | {r.path} | {r.total} | {r.tried} | {r.killed} | {len(r.survivors)} | {r.survival:.0%} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mutate", description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", metavar="MODULE", help=f"default: all of {', '.join(TARGETS)}")
    ap.add_argument("--per-module", type=int, default=12, help="mutants sampled per module (default 12)")
    ap.add_argument("--all", action="store_true", help="every mutant, no sample")
    ap.add_argument("--seed", type=int, default=21, help="the sample's seed (default 21)")
    ap.add_argument("-j", "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="mutants at once")
    ap.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="the most seconds per mutant (default 300; less when the unmutated tests are quick)",
    )
    ap.add_argument("--list", action="store_true", help="print the chosen mutants, run nothing")
    a = ap.parse_args(argv)
    unknown = [m for m in a.modules if m not in TARGETS]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    names = a.modules or list(TARGETS)
    n = None if a.all else a.per_module
    if a.list:
        for name in names:
            t = TARGETS[name]
            for m in pick(mutants((ROOT / t.path).read_text(), t.functions), n, a.seed):
                print(m.describe(t.path))
        return 0
    reports = mutate(names, TARGETS, ROOT, n, a.seed, max(1, a.jobs), a.timeout)
    print()
    print(table(reports))
    survivors = [s for r in reports for s in r.survivors]
    if survivors:
        print("\nSurviving mutants (a mistake of this shape would pass the tests):")
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
