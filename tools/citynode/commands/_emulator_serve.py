"""`citynode emulator serve`: an emulated board as a serial device (a pty) with a real MicroPython REPL."""

from __future__ import annotations

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
    from citynode.base import boards
    from hil.serve import serve_boards

    if count < 1:  # 0 or less served nothing, for ever
        raise UserError(f"--count: {count}: serve at least 1 board")
    try:
        spec = boards.load(board)
    except boards.BoardError as e:
        raise UserError(str(e)) from None
    serve_boards(
        spec,
        app,
        flash_dir,
        count=count,
        serial_number=serial_number,
        link=link,
        max_sleep_s=max_sleep,
        unplug_after_bytes=unplug_after_bytes,
        replug_after_s=replug_after,
        on_ready=lambda path, serial: click.echo(f"{path} {serial}"),
    )
