"""`citynode emulate`: run a node's firmware on the emulated board through virtual hours or days."""

from __future__ import annotations

import json
import sys

import click

from citynode.cli import UserError


@click.command()
@click.option("--board", "board_name", default="heltec-wifi-lora32-v3", show_default=True, help="board id or JSON file")
@click.option("--app", default="counter", show_default=True, help="node role to run")
@click.option("--scenario", default=None, help="world scenario (default: the app's own, or 'still')")
@click.option("--hours", type=float, default=None, help="virtual hours to run")
@click.option("--days", type=float, default=None, help="virtual days to run")
@click.option("--start", default=None, help="virtual start time, ISO 8601 (default 2026-09-07T00:00Z, a Monday)")
@click.option("--mode", type=click.Choice(["inprocess", "process"]), default="inprocess", show_default=True,
              help="re-run firmware in one interpreter (fast) or one process per wake (faithful)")
@click.option("--events", "events_path", type=click.Path(dir_okay=False), default=None,
              help="write every event of the board to this JSONL file")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line on stdout")
@click.option("--seed", type=int, default=0, show_default=True)
def cli(board_name, app, scenario, hours, days, start, mode, events_path, as_json, seed):
    """Run APP's firmware on an emulated BOARD and show what it does."""
    from citynode.boards import BoardError
    from hil.emulator import DEFAULT_START, EmulatedBoard

    if hours is None and days is None:
        hours = 24
    try:
        board = EmulatedBoard(board_name, app, world=scenario, mode=mode, start=start or DEFAULT_START,
                              event_log=events_path, seed=seed)
    except (BoardError, ValueError) as e:
        raise UserError(str(e)) from None

    def show(ev):
        if as_json:
            if ev["type"] in ("log", "boot", "sleep", "halt", "watchdog", "reset", "powercut"):
                print(json.dumps(ev), flush=True)
        elif ev["type"] == "log":
            click.echo(f"{ev['t'] - board.start_us / 1e6:10.1f}s  {ev['line']}")
        elif ev["type"] == "halt":
            click.echo(f"node halted: {ev.get('reason')}\n{ev.get('detail', '')}", err=True)

    board.log.listeners.append(show)
    with board:
        res = board.run(hours=hours, days=days)
    summary = {"type": "summary", "wakes": res.wakes, "boots": res.boots, "virtual_s": res.virtual_s,
               "wall_s": round(res.wall_s, 3), "outcomes": res.outcomes, "halted": res.halted}
    if as_json:
        print(json.dumps(summary))
    else:
        click.echo(f"{res.wakes} wakes in {res.virtual_s / 3600:.1f} virtual hours, {res.wall_s:.2f} s wall")
    if res.halted:
        sys.exit(1)
