"""Emulated boards served as pty serial devices until a signal stops them: what `citynode emulator serve` runs.

SIGUSR1 pulls every board's cable, SIGUSR2 plugs them back in; SIGINT, SIGTERM and SIGHUP stop the serving.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from hil.serial_bridge import SerialBridge


def serve_boards(
    spec: dict,
    app: str | None = None,
    flash_dir: str | Path | None = None,
    *,
    count: int = 1,
    serial_number: str | None = None,
    link: str | None = None,
    max_sleep_s: float = 3.0,
    unplug_after_bytes: int | None = None,
    replug_after_s: float | None = None,
    on_ready: Callable[[str, str], None] = lambda path, serial: None,
) -> None:
    """Serve `count` boards of `spec` until SIGINT/SIGTERM/SIGHUP; `on_ready(path, usb serial)` as each starts.

    Each board's flash is `flash_dir` (one board) or `flash_dir/board<i>` (default: a temporary directory)."""
    if count < 1:
        raise ValueError(f"count {count}: serve at least 1 board")
    bridges = []
    tmp = None
    if flash_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="citynode-serve-")
        flash_dir = tmp.name
    stop = threading.Event()

    def on_signal(signum, frame):
        if signum == signal.SIGUSR1:
            for b in bridges:
                b.unplug()
        elif signum == signal.SIGUSR2:
            for b in bridges:
                b.replug()
        else:
            print(f"citynode emulator serve: signal {signum}, stopping", file=sys.stderr, flush=True)
            stop.set()

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, on_signal)
    try:
        for i in range(count):
            fd = Path(flash_dir) / f"board{i}" if count > 1 else Path(flash_dir)
            fd.mkdir(parents=True, exist_ok=True)
            sn = serial_number or None
            if sn and count > 1:
                sn = f"{sn}-{i}"
            ln = link if count == 1 else (f"{link}{i}" if link else None)
            b = SerialBridge(
                spec,
                app,
                fd,
                serial_number=sn,
                max_sleep_s=max_sleep_s,
                unplug_after_bytes=unplug_after_bytes,
                replug_after_s=replug_after_s,
                link=ln,
                log=lambda m, i=i: print(f"[board {i}] {m}", file=sys.stderr, flush=True),
            )
            bridges.append(b)
            b.start()
            on_ready(ln or b.path, b.serial_number)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for b in bridges:
            b.close()
        if tmp is not None:
            tmp.cleanup()
