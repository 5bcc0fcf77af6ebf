"""`citynode ports`: attached serial ports and the board each probably is."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout, for scripts.")
@click.option("--all", "show_all", is_flag=True, help="Also legacy on-board UARTs (/dev/ttyS*).")
def cli(as_json, show_all):
    """Serial ports with VID:PID, USB serial number, location and the board each probably is."""
    from citynode.ports import USB_CHIPS, list_ports

    found = list_ports(include_legacy=show_all)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in found], indent=2))
        return
    if not found:
        click.echo(
            "no boards attached (a power-only USB cable shows no port; `--all` lists on-board UARTs too)"
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("port", "VID:PID", "USB serial (--port id:...)", "location", "probably", "what"):
        table.add_column(col, overflow="fold")
    for p in found:
        probably = p.board or (" or ".join(p.boards) if p.boards else "?")
        what = p.description or USB_CHIPS.get(p.vid_pid or "", "")
        table.add_row(p.device, p.vid_pid or "-", p.serial_number or "-", p.location or "-", probably, what)
    Console().print(table)
