"""The test kit's plain helpers: waiting on events, the CLI in-process and in its own process, what a deploy
leaves on a board's flash, and the parsers of the node's log and radio frames. Fixtures are in conftest.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HELTEC = "heltec-wifi-lora32-v3"
MASTER = bytes(range(32))  # the fleet's master key in every test registry
JOIN_EUI = "70B3D57ED0000000"


# ---------------------------------------------------------------- waiting on events


def wait_until(predicate, timeout: float = 30, what: str = "the condition", every: float = 0.02):
    """Poll `predicate` until it returns something true, and return that. `timeout` only bounds a hang (the
    machine may be busy): past it the test fails, naming `what` it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)


def read_until(port, predicate, timeout: float = 30, what: str = "the expected output") -> bytes:
    """Bytes read from a serial port (a path, opened and closed here, or an open serial.Serial) until
    `predicate(bytes so far)` holds; past `timeout` the test fails with what was read."""
    import serial

    s = serial.Serial(port, timeout=0.1) if isinstance(port, str) else port
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while not predicate(out):
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {what}; read: {out[-2000:]!r}")
            out += s.read(4096)
    finally:
        if s is not port:
            s.close()
    return out


def stopped(proc: subprocess.Popen, timeout: float = 10) -> int:
    """Terminate a process started by the test (kill it if it does not go) and return its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


# ---------------------------------------------------------------- the command line


def invoke(*args, ok: bool = True):
    """`citynode ARGS` in this process (click's runner); with ok, it must exit 0."""
    from citynode.cli import cli
    from click.testing import CliRunner

    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def citynode(*args, ok: bool = True, env: dict | None = None, timeout: float = 120):
    """`citynode ARGS` in its own process, as a user runs it; `.output` is stdout then stderr; with ok, it must
    exit 0."""
    r = subprocess.run(
        [sys.executable, "-m", "citynode", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dict(os.environ),
    )
    r.output = r.stdout + r.stderr
    if ok:
        assert r.returncode == 0, r.output
    return r


def open_registry():
    """The registry of the fleet_env fixture, unlocked; use it in a `with`."""
    from fleet import vault
    from fleet.registry import Registry
    from fleet.settings import load

    reg = Registry(load().db)
    reg.unlock(vault.Vault(MASTER))
    return reg


# ---------------------------------------------------------------- a board's flash


def install(flash: Path, bundle) -> Path:
    """What `citynode deploy` leaves on a board: the loader, board.json, the slot fw/a, fw/active."""
    flash = Path(flash)
    flash.mkdir(parents=True, exist_ok=True)
    for rel in bundle.manifest["files"]:
        dst = flash / rel.replace("fw/", "fw/a/", 1) if rel.startswith("fw/") else flash / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.out / rel, dst)
    (flash / "fw" / "active").write_text("a")
    return flash


def snapshot(flash: Path, mtimes: bool = False) -> dict:
    """Every file on the flash but the node's own state (the running node writes that itself); with mtimes,
    a file rewritten with the same bytes counts as changed."""
    return {
        p.relative_to(flash).as_posix(): (p.stat().st_mtime_ns, p.read_bytes()) if mtimes else p.read_bytes()
        for p in sorted(Path(flash).rglob("*"))
        if p.is_file() and not p.name.startswith("state.")
    }


# ---------------------------------------------------------------- the node's log and frames

CLASSAIR_WAKE = re.compile(r"classair: co2=(\S+) t=(\S+) rh=(\S+) led=(\w+) level=(\w+)")


def classair_wakes(board) -> list[dict]:
    """ClassAir's wake lines: when, the CO2 it read (None without a reading), the light and the level."""
    out = []
    for e in board.events:
        if e["type"] == "log":
            m = CLASSAIR_WAKE.search(e["line"])
            if m:
                co2 = None if m.group(1) == "None" else int(m.group(1))
                out.append({"t": e["t"], "co2": co2, "led": m.group(4), "level": m.group(5)})
    return out


def uplink_frames(board) -> list[dict]:
    """The uplinks the network server received from the board, each with a good MIC."""
    out = []
    for e in board.events:
        if e["type"] == "lora_frame" and e.get("frame") == "uplink":
            assert e["mic_ok"], e
            out.append(e)
    return out
