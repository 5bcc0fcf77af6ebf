"""The fake ROM loader (hil/rom_loader.py) as a process: `citynode emulator rom` and `python -m hil.rom_loader`
(how tests and benchmarks start one board per process) both end in `serve_cli`.

It prints the pty path and serves until SIGTERM/SIGINT; SIGUSR1 pulls the cable, SIGUSR2 plugs it back in. The
signal handlers only set FakeRom's request flags, which its serving loop acts on between frames.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from hil import rom_loader
from hil.rom_loader import CHIPS, FakeRom


def run(argv=None, out=None) -> int:
    """`python -m hil.rom_loader` and `citynode emulator rom`: serve until killed."""
    import argparse

    ap = argparse.ArgumentParser(prog="citynode emulator rom", description=rom_loader.__doc__.split("\n")[0])
    ap.add_argument("--chip", choices=sorted(CHIPS), default="esp32")
    ap.add_argument("--flash-file")
    ap.add_argument("--size", default="4MB")
    ap.add_argument("--link")
    ap.add_argument("--unplug-after", type=int)
    ap.add_argument("--replug-after", type=float)
    ap.add_argument("--max-baud", type=int)
    ap.add_argument("--uart-timing", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    return serve_cli(**vars(a), out=out)


def serve_cli(
    chip="esp32",
    flash_file=None,
    size="4MB",
    link=None,
    unplug_after=None,
    replug_after=None,
    max_baud=None,
    uart_timing=False,
    quiet=False,
    board=None,
    out=None,
    mac=None,
) -> int:
    out = out or sys.stdout
    err = (lambda m: None) if quiet else (lambda m: print(f"fake-rom: {m}", file=sys.stderr, flush=True))
    rom = FakeRom(
        chip,
        flash_file,
        size,
        link=link,
        unplug_after=unplug_after,
        max_baud=max_baud,
        uart_timing=uart_timing,
        log=err,
        mac=mac,
    )
    _handle_signals(rom)
    rom._plug()
    registry_entry = _advertise(rom, board, err) if board else None
    print(rom.port, file=out, flush=True)
    if replug_after is not None:
        threading.Thread(target=_replug_after_unplugs, args=(rom, replug_after), daemon=True).start()
    try:
        rom.serve_forever()
    finally:
        rom.close()
        if registry_entry is not None:
            registry_entry.unlink(missing_ok=True)
    return 0


def _handle_signals(rom: FakeRom) -> None:
    """SIGUSR1 unplugs, SIGUSR2 replugs, SIGTERM and SIGINT stop serving."""

    def on_unplug(*_):
        rom._unplug_req.set()

    def on_replug(*_):
        rom._replug_req.set()

    def on_term(*_):
        rom._stop.set()

    signal.signal(signal.SIGUSR1, on_unplug)
    signal.signal(signal.SIGUSR2, on_replug)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)


def _advertise(rom: FakeRom, board: str, err):
    """Put the pty in the port registry as this board (so `--port auto` finds it); the entry's path, or None."""
    try:
        from citynode.ports import register_emulated

        return register_emulated(rom.port, board, f"rom-{os.getpid()}")
    except Exception as e:  # noqa: BLE001 - the ROM works without the registry
        err(f"not advertised in the port registry: {e}")
        return None


def _replug_after_unplugs(rom: FakeRom, seconds: float) -> None:
    """Each time the cable is pulled (signal, or --unplug-after), plug it back in `seconds` later."""
    while not rom._stop.is_set():
        if rom.master is None and rom.events and rom.events[-1]["type"] == "unplugged":
            time.sleep(seconds)
            rom._replug_req.set()
            while rom._replug_req.is_set() and not rom._stop.is_set():
                time.sleep(0.01)
        time.sleep(0.01)
