"""Deploy figures, side by side in one run against emulated boards served on ptys (`emulator serve`).

- nothing changed: `citynode deploy` of a bundle already on the board (goal <= 1 s);
- full deploy of the ClassAir bundle onto fresh boards, command against command: `citynode deploy` as a process
  against `mpremote cp -r` of the same files as a process (goal: no slower), each row saying what each includes;
- four boards at once with the multi-board runner against one (goal <= 1.5x).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from citynode.build import build
from citynode.deploy import deploy
from citynode.multiboard import run_on_ports

from bench import Spread, spread

BOARD = "heltec-wifi-lora32-v3"
MPREMOTE = shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))


class _Served:
    """Boards served by a separate `citynode emulator serve` process, as real boards are separate hardware.

    Deep sleeps last up to 60 s, so idle boards do not wake and load the CPU during the measurements."""

    def __init__(self, tmp: Path, n: int):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "citynode",
                "emulator",
                "serve",
                "--count",
                str(n),
                "--flash-dir",
                str(tmp / "f"),
                "--max-sleep",
                "60",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp / "reg")),
        )
        self.paths = [self.proc.stdout.readline().split()[0] for _ in range(n)]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


RUNS = 5  # fresh boards per side of the full-deploy comparison


def _mpremote_cp(bundle: Path, port: str) -> None:
    cmd = [
        MPREMOTE,
        "connect",
        port,
        "fs",
        "cp",
        "-r",
        str(bundle / "fw"),
        ":",
        "+",
        "fs",
        "cp",
        str(bundle / "main.py"),
        str(bundle / "board.json"),
        ":",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(r.stderr or r.stdout)


def _citynode_deploy(bundle: Path, app: str, port: str, env: dict) -> None:
    cmd = [
        sys.executable,
        "-m",
        "citynode",
        "deploy",
        "-b",
        BOARD,
        "-a",
        app,
        "--bundle",
        str(bundle),
        "--port",
        port,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if r.returncode:
        raise RuntimeError(r.stderr or r.stdout)


def _full_deploy(bundle, boards: list[str], app: str, env: dict) -> list:
    """Command against command, each onto fresh boards: `citynode deploy` as a user runs it against `mpremote cp -r`
    of the same files, RUNS times each, alternating; and the library's deploy() alone, in this process."""
    fresh = iter(boards)
    # as installed commands run: their modules compiled once (a PYTHONDONTWRITEBYTECODE in the environment would
    # have ours compiled from source on every run, mpremote's not); the first, untimed run compiles them
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    _citynode_deploy(bundle.out, app, next(fresh), env)
    ours, theirs = [], []
    for _ in range(RUNS):
        port = next(fresh)
        ours.append(spread(lambda port=port: _citynode_deploy(bundle.out, app, port, env), 1).min)
        port = next(fresh)
        theirs.append(spread(lambda port=port: _mpremote_cp(bundle.out, port), 1).min)
    ours, theirs = Spread(tuple(sorted(ours))), Spread(tuple(sorted(theirs)))
    lib = []
    for _ in range(2):
        port = next(fresh)
        lib.append(spread(lambda port=port: deploy(bundle, port) and None, 1).min)
    lib = Spread(tuple(sorted(lib)))
    nfiles = len(bundle.files)
    size = sum((bundle.out / f).stat().st_size for f in bundle.files)
    rows = [
        (
            f"full deploy, {app} bundle ({nfiles} files, {size // 1024} KB), command vs command on fresh boards: "
            "`citynode deploy --bundle` (process start-up, board and heap check, probe, only missing files sent, "
            "hashes read back and checked, atomic slot switch, soft reset, wait for the boot line) vs "
            "`mpremote cp -r` (process start-up, copy only: no read-back, no switch, no reset)",
            f"{ours.fmt()} vs {theirs.fmt()}",
            "<= mpremote (medians)",
            ours.median <= theirs.median,
        ),
        (
            "the same full deploy through deploy() in this process (no start-up)",
            lib.fmt(),
            "(information)",
            True,
        ),
    ]
    return rows


def _nothing_changed(bundle, port: str) -> tuple:
    def once():
        t0 = time.perf_counter()
        r = deploy(bundle, port)
        assert r.unchanged
        return time.perf_counter() - t0

    t = spread(once, 5)
    return ("deploy, nothing changed (deploy() in this process)", t.fmt(), "<= 1 s", t.max <= 1.0)


MULTI_RUNS = 3  # each of the 4-board comparisons: 5 fresh boards a run


def _four_at_once(bundle, boards: list[str]) -> tuple:
    """deploy() onto one fresh board, then onto four fresh boards at once; the ratio of each run."""
    fresh = iter(boards)

    def job(port, prog):
        return deploy(bundle, port).summary()

    ones, fours, ratios = [], [], []
    for _ in range(MULTI_RUNS):
        port = next(fresh)
        t1 = spread(lambda port=port: deploy(bundle, port) and None, 1).min
        four = [next(fresh) for _ in range(4)]
        t0 = time.perf_counter()
        res = run_on_ports(four, job, show=False)
        t4 = time.perf_counter() - t0
        assert all(r.ok for r in res), [r.error for r in res]
        ones.append(t1)
        fours.append(t4)
        ratios.append(t4 / t1)
    r, t1, t4 = (Spread(tuple(sorted(v))) for v in (ratios, ones, fours))
    return (
        f"4 boards at once, full deploy, vs one (library; the boards' CPUs are ours, {os.cpu_count()} cores)",
        f"{r.fmt('x', 1)}; medians {t4.median:.2f} s vs {t1.median:.2f} s",
        "<= 1.5x",
        r.max <= 1.5,
    )


def _cli_all_ports(bundle, app: str, tmp: Path) -> tuple:
    """What a user runs: the command for one fresh board, and for four fresh boards; MULTI_RUNS times."""
    base = [sys.executable, "-m", "citynode", "deploy", "-b", BOARD, "-a", app, "--bundle", str(bundle.out)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as in _full_deploy
    ones, fours, ratios = [], [], []
    for i in range(MULTI_RUNS):
        d1, d4 = tmp / f"cli1-{i}", tmp / f"cli4-{i}"
        d1.mkdir()
        d4.mkdir()
        one, four = _Served(d1, 1), _Served(d4, 4)
        try:
            t0 = time.perf_counter()
            env1 = dict(env, CITYNODE_EMULATED_PORTS=str(d1 / "reg"))
            subprocess.run([*base, "--port", one.paths[0]], check=True, capture_output=True, env=env1)
            t1 = time.perf_counter() - t0
            env4 = dict(env, CITYNODE_EMULATED_PORTS=str(d4 / "reg"))
            t0 = time.perf_counter()
            subprocess.run([*base, "--all-ports"], check=True, capture_output=True, env=env4)
            t4 = time.perf_counter() - t0
        finally:
            one.close()
            four.close()
        ones.append(t1)
        fours.append(t4)
        ratios.append(t4 / t1)
    r, t1, t4 = (Spread(tuple(sorted(v))) for v in (ratios, ones, fours))
    return (
        "`citynode deploy --all-ports`, 4 fresh boards, vs `--port`, one",
        f"{r.fmt('x', 1)}; medians {t4.median:.2f} s vs {t1.median:.2f} s",
        "<= 1.5x",
        r.max <= 1.5,
    )


def run():
    app = "classair"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bundle = build(BOARD, app, tmp / "bundle")
        n_full = 2 * RUNS + 3
        served = _Served(tmp, n_full + 5 * MULTI_RUNS)
        boards = served.paths
        env = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp / "reg"))
        try:
            rows = _full_deploy(bundle, boards[:n_full], app, env)
            rows += [_nothing_changed(bundle, boards[1]), _four_at_once(bundle, boards[n_full:])]
        finally:
            served.close()
        rows.append(_cli_all_ports(bundle, app, tmp))
    return rows
