"""`citynode emulator serve`: an emulated board as a serial device (a pty) with a real MicroPython REPL."""

from __future__ import annotations

import signal
import sys
import threading

import click

from citynode.cli import UserError, role_option


@click.command()
@click.option(
    "--board", "-b", default="heltec-wifi-lora32-v3", show_default=True, help="Board id or JSON file."
)
@role_option(
    "--app", "-a", default=None, tools=True, what="app the emulated hardware is wired for (sensors, LEDs)"
)
@click.option(
    "--flash-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory that is the board's flash (kept between runs). Default: a temporary one.",
)
@click.option(
    "--serial", "serial_number", default=None, help="USB serial number to advertise (for --port id:...)."
)
@click.option(
    "--link",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep a symlink here pointing at the current pty (stable across unplug/replug).",
)
@click.option(
    "--max-sleep",
    type=float,
    default=3.0,
    show_default=True,
    help="Wall seconds a deep sleep lasts at most (the node sleeps min(requested, this)).",
)
@click.option(
    "--unplug-after-bytes",
    type=int,
    default=None,
    help="Simulate pulling the cable once this many bytes have come from the host.",
)
@click.option(
    "--replug-after",
    type=float,
    default=None,
    help="After an unplug, plug back in after this many seconds (default: stay unplugged).",
)
@click.option("--count", "-n", type=int, default=1, show_default=True, help="Serve this many boards.")
def cli(board, app, flash_dir, serial_number, link, max_sleep, unplug_after_bytes, replug_after, count):
    """Expose an emulated board as a pty serial device for mpremote and `citynode deploy`.

    Prints one line per board: `<pty path> <usb serial>`; runs until interrupted. SIGUSR1 unplugs every
    board's cable, SIGUSR2 plugs them back in.
    """
    import tempfile
    from pathlib import Path

    from citynode.base import boards
    from hil.serial_bridge import SerialBridge

    try:
        spec = boards.load(board)
    except boards.BoardError as e:
        raise UserError(str(e)) from None
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
                max_sleep_s=max_sleep,
                unplug_after_bytes=unplug_after_bytes,
                replug_after_s=replug_after,
                link=ln,
                log=lambda m, i=i: print(f"[board {i}] {m}", file=sys.stderr, flush=True),
            )
            bridges.append(b)
            b.start()
            click.echo(f"{ln or b.path} {b.serial_number}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for b in bridges:
            b.close()
        if tmp is not None:
            tmp.cleanup()
