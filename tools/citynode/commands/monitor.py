"""`citynode monitor`: the node's serial log, reconnecting when the board resets or the port comes back."""

from __future__ import annotations

import sys
import time

import click

from citynode.cli import UserError


@click.command()
@click.option(
    "--port", "-p", default="auto", show_default=True, help="auto, id:<usb serial>, a path, or a URL."
)
@click.option("--baud", default=115200, show_default=True)
@click.option("--for", "duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--until", "pattern", default=None, help="Stop after a line containing this text (exit 0).")
def cli(port, baud, duration, pattern):
    """Print the node's serial log; when the port goes away (reset, re-enumeration, unplug), wait for it."""
    from citynode import ports
    from citynode.transport import LineReader

    try:
        # Resolve once so id:/auto find the board; later reconnects re-resolve the same spec (names may change).
        ports.resolve_port(port, interactive=True)
    except ports.PortError as e:
        raise UserError(str(e)) from None
    deadline = time.monotonic() + duration if duration else None
    lines = LineReader()
    ser = None
    told = False
    while deadline is None or time.monotonic() < deadline:
        if ser is None:
            try:
                dev = ports.resolve_port(port, wait_s=0.5)
                ser = ports.open_serial(dev, baud, timeout=0.1, exclusive=False)
                if told:
                    click.echo(f"--- reconnected to {dev}", err=True)
                told = False
            except ports.PortError as e:
                if "permission" in str(e) or "busy" in str(e):
                    raise UserError(str(e)) from None
                if not told:
                    click.echo(f"--- waiting for the board ({e})", err=True)
                    told = True
                time.sleep(0.25)
                continue
        try:
            chunk = ser.read(4096)
        except Exception:  # noqa: BLE001 - the port vanished: the board reset or the cable came out
            ser.close()
            ser = None
            click.echo("--- port went away; waiting for it to come back", err=True)
            told = True
            continue
        if not chunk:
            continue
        for text in lines.feed(chunk):
            click.echo(text)
            sys.stdout.flush()
            if pattern and pattern in text:
                return
    if pattern:
        raise UserError(f"no line containing {pattern!r} within {duration} s")
