"""`citynode emulator rom`: a fake ESP32 / ESP32-S3 ROM loader on a pty, for esptool and `citynode flash`."""

from __future__ import annotations

import click


@click.command()
@click.option("--chip", type=click.Choice(["esp32", "esp32s3"]), default="esp32", show_default=True)
@click.option(
    "--flash-file", type=click.Path(dir_okay=False), help="The chip's flash as a file (kept across runs)."
)
@click.option("--size", default="4MB", show_default=True, help="Flash size: 4MB, 8MB, 16MB ...")
@click.option(
    "--link", type=click.Path(dir_okay=False), help="Also a stable path (symlink) that survives a replug."
)
@click.option("--board", help="Advertise it as this board in the port registry (so --port auto finds it).")
@click.option(
    "--unplug-after", type=int, metavar="BYTES", help="Pull the cable after this many received bytes."
)
@click.option(
    "--replug-after", type=float, metavar="SECONDS", help="Plug it back in this long after an unplug."
)
@click.option("--max-baud", type=int, help="Rates above this garble the line (exercises baud fallback).")
@click.option("--uart-timing", is_flag=True, help="Pace received bytes at the UART's baud rate.")
@click.option("--quiet", is_flag=True, help="No event lines on stderr.")
def cli(chip, flash_file, size, link, board, unplug_after, replug_after, max_baud, uart_timing, quiet):
    """A fake ESP ROM loader on a pty: prints the pty path, serves until killed.

    Real esptool (and `citynode flash`) flash it into --flash-file. SIGUSR1 unplugs the cable, SIGUSR2 plugs
    it back in (reset, new pty, same --link path).
    """
    from citynode.cli import UserError
    from hil.rom_loader_cli import serve_cli

    try:
        serve_cli(
            chip=chip,
            flash_file=flash_file,
            size=size,
            link=link,
            board=board,
            unplug_after=unplug_after,
            replug_after=replug_after,
            max_baud=max_baud,
            uart_timing=uart_timing,
            quiet=quiet,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
