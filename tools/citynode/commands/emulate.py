"""`citynode emulate`: run a node's firmware on the emulated board through virtual hours or days."""

from __future__ import annotations

import json
import sys

import click

from citynode.cli import UserError


@click.command()
@click.option(
    "--board", "board_name", default="heltec-wifi-lora32-v3", show_default=True, help="board id or JSON file"
)
@click.option("--app", default="counter", show_default=True, help="node role to run")
@click.option("--scenario", default=None, help="world scenario (default: the app's own, or 'still')")
@click.option("--hours", type=float, default=None, help="virtual hours to run")
@click.option("--days", type=float, default=None, help="virtual days to run")
@click.option(
    "--start", default=None, help="virtual start time, ISO 8601 (default 2026-09-07T00:00Z, a Monday)"
)
@click.option(
    "--mode",
    type=click.Choice(["inprocess", "process"]),
    default="inprocess",
    show_default=True,
    help="re-run firmware in one interpreter (fast) or one process per wake (faithful)",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="write every event of the board to this JSONL file",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line on stdout")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="classair: write a PNG of CO2, the light and the uplinks over the run",
)
def cli(board_name, app, scenario, hours, days, start, mode, events_path, as_json, seed, plot_path):
    """Run APP's firmware on an emulated BOARD and show what it does."""
    from citynode.boards import BoardError
    from hil.emulator import DEFAULT_START, EmulatedBoard

    scenario = scenario or _default_scenario(app)
    if hours is None and days is None:
        hours = _default_hours(scenario)
    try:
        board = EmulatedBoard(
            board_name,
            app,
            world=scenario,
            mode=mode,
            start=start or _default_start(app) or DEFAULT_START,
            event_log=events_path,
            seed=seed,
        )
    except (BoardError, ValueError) as e:
        raise UserError(str(e)) from None

    view = _classair_view(board, app, as_json, plot_path)

    def show(ev):
        if view is not None:
            ev = view.decorate(ev)
            if not as_json and ev["type"] == "log":
                return  # the ClassAir table shows the wakes
        if as_json:
            if ev["type"] in ("log", "boot", "sleep", "halt", "watchdog", "reset", "powercut"):
                print(json.dumps(ev), flush=True)
        elif ev["type"] == "log":
            click.echo(f"{ev['t'] - board.start_us / 1e6:10.1f}s  {ev['line']}")
        elif ev["type"] == "halt":
            click.echo(f"node halted: {ev.get('reason')}\n{ev.get('detail', '')}", err=True)

    board.log.listeners.append(show)
    with board:
        res = _run(board, view, hours, days)
        if view is not None and plot_path:
            _classair_plot(view, board, plot_path, scenario)
    summary = {
        "type": "summary",
        "wakes": res.wakes,
        "boots": res.boots,
        "virtual_s": res.virtual_s,
        "wall_s": round(res.wall_s, 3),
        "outcomes": res.outcomes,
        "halted": res.halted,
    }
    if as_json:
        print(json.dumps(summary))
    else:
        click.echo(f"{res.wakes} wakes in {res.virtual_s / 3600:.1f} virtual hours, {res.wall_s:.2f} s wall")
    if res.halted:
        sys.exit(1)


# ---------------------------------------------------------------------- ClassAir (see citynode/classair_view.py)


def _default_scenario(app):
    return "school-day" if app == "classair" else None


def _default_start(app):
    # A ClassAir day reads best from local midnight (Europe/Paris, summer time in September).
    return "2026-09-07T00:00:00+02:00" if app == "classair" else None


def _default_hours(scenario):
    from hil.worlds import make_world

    try:
        return getattr(type(make_world(scenario)), "default_hours", 24.0)
    except ValueError:
        return 24.0


def _classair_view(board, app, as_json, plot_path):
    if app != "classair":
        if plot_path:
            raise UserError("--plot draws a ClassAir run: use it with --app classair")
        return None
    from rich.console import Console

    from citynode.classair_view import ClassAirView

    return ClassAirView(board, as_json=as_json, console=None if as_json else Console(highlight=False))


def _run(board, view, hours, days):
    if view is None or view.as_json:
        return board.run(hours=hours, days=days)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    total = ((hours or 0) + 24 * (days or 0)) * 3600
    view.header()
    with Progress(
        TextColumn("virtual time"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=view.console,
        transient=True,
    ) as progress:
        view.progress, view._task = progress, progress.add_task("run", total=total)
        return board.run(hours=hours, days=days)


def _classair_plot(view, board, path, scenario):
    cfg = board.config()
    view.plot(
        path,
        red_ppm=cfg.get("red_ppm", 800),
        hysteresis_ppm=cfg.get("hysteresis_ppm", 100),
        orange_ppm=cfg.get("orange_ppm", 0),
        title=f"ClassAir, scenario {scenario}",
    )
    click.echo(f"plot written to {path}", err=view.as_json)
