"""Deploy figures, side by side in one run against emulated boards served on ptys (`emulator serve`).

- nothing changed: `citynode deploy` of a bundle already on the board (goal <= 1 s);
- full deploy of the ClassAir bundle (or the largest app there is) onto an empty board, against
  `mpremote cp -r` of the same files onto another empty board (goal: no slower);
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


def _mpremote_cp(bundle: Path, port: str) -> float:
    t0 = time.perf_counter()
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
    return time.perf_counter() - t0


def _full_deploy(bundle, boards: list[str], app: str) -> tuple[tuple, float]:
    """Our full deploy onto two fresh boards against `mpremote cp -r` onto two others, the better of each."""
    ours, theirs = [], []
    for i in range(2):  # fresh boards each time: a full deploy
        t0 = time.perf_counter()
        deploy(bundle, boards[i])
        ours.append(time.perf_counter() - t0)
    for i in range(2, 4):
        theirs.append(_mpremote_cp(bundle.out, boards[i]))
    full, mpr = min(ours), min(theirs)
    nfiles = len(bundle.files)
    size = sum((bundle.out / f).stat().st_size for f in bundle.files)
    row = (
        f"full deploy, {app} bundle ({nfiles} files, {size // 1024} KB), incl. reboot + boot line",
        f"{full:.2f} s (mpremote cp -r: {mpr:.2f} s)",
        "<= mpremote",
        full <= mpr,
    )
    return row, full


def _nothing_changed(bundle, port: str) -> tuple:
    same = []
    for _ in range(5):
        t0 = time.perf_counter()
        r = deploy(bundle, port)
        same.append(time.perf_counter() - t0)
        assert r.unchanged
    t = sorted(same)[len(same) // 2]
    return ("deploy, nothing changed (median of 5)", f"{t:.2f} s", "<= 1 s", t <= 1.0)


def _four_at_once(bundle, four: list[str], full: float) -> tuple:
    def job(port, prog):
        return deploy(bundle, port).summary()

    t0 = time.perf_counter()
    res = run_on_ports(four, job, show=False)
    t4 = time.perf_counter() - t0
    assert all(r.ok for r in res), [r.error for r in res]
    return (
        "4 boards at once, full deploy, vs one (library; the boards' CPUs are ours)",
        f"{t4:.2f} s vs {full:.2f} s ({t4 / full:.1f}x, {os.cpu_count()} cores)",
        "<= 1.5x",
        t4 <= 1.5 * full,
    )


def _cli_all_ports(bundle, app: str, tmp: Path) -> tuple:
    """What a user runs: the command for one fresh board, and for four fresh boards."""
    (tmp / "cli1").mkdir()
    (tmp / "cli4").mkdir()
    one, four = _Served(tmp / "cli1", 1), _Served(tmp / "cli4", 4)
    try:
        base = [
            sys.executable,
            "-m",
            "citynode",
            "deploy",
            "-b",
            BOARD,
            "-a",
            app,
            "--bundle",
            str(bundle.out),
        ]
        t0 = time.perf_counter()
        env1 = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp / "cli1" / "reg"))
        subprocess.run([*base, "--port", one.paths[0]], check=True, capture_output=True, env=env1)
        t1 = time.perf_counter() - t0
        env4 = dict(os.environ, CITYNODE_EMULATED_PORTS=str(tmp / "cli4" / "reg"))
        t0 = time.perf_counter()
        subprocess.run([*base, "--all-ports"], check=True, capture_output=True, env=env4)
        t4 = time.perf_counter() - t0
    finally:
        one.close()
        four.close()
    return (
        "`citynode deploy --all-ports`, 4 fresh boards, vs `--port`, one",
        f"{t4:.2f} s vs {t1:.2f} s ({t4 / t1:.1f}x)",
        "<= 1.5x",
        t4 <= 1.5 * t1,
    )


def run():
    app = "classair"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bundle = build(BOARD, app, tmp / "bundle")
        served = _Served(tmp, 7)
        boards = served.paths
        try:
            full_row, full = _full_deploy(bundle, boards, app)
            rows = [full_row, _nothing_changed(bundle, boards[0]), _four_at_once(bundle, boards[3:7], full)]
        finally:
            served.close()
        rows.append(_cli_all_ports(bundle, app, tmp))
    return rows
