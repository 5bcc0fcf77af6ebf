"""`citynode emulate`: run a node's firmware on the emulated board through virtual hours or days."""

from __future__ import annotations

import json
import math
import os
import sys

import click

from citynode.cli import UserError, role_option


@click.command()
@click.option(
    "--board", "board_name", default="heltec-wifi-lora32-v3", show_default=True, help="board id or JSON file"
)
@role_option("--app", default="counter", show_default=True, tools=True, what="node app to run")
@click.option("--scenario", default=None, help="world scenario (default: the app's own, or 'still')")
@click.option("--hours", type=float, default=None, help="virtual hours to run")
@click.option("--days", type=float, default=None, help="virtual days to run")
@click.option(
    "--start",
    default=None,
    help="virtual start time, ISO 8601 (default: the app's world's, else 2026-09-07T00:00Z, a Monday)",
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
    help="write a PNG of the run as the role draws it (classair: CO2, the light, the uplinks)",
)
@click.option("--dev-eui", default=None, help="node DevEUI, 16 hex digits (default: a fixed demo identity)")
@click.option("--join-eui", default=None, help="JoinEUI, 16 hex digits")
@click.option("--app-key", default=None, help="AppKey (root key), 32 hex digits; never printed")
@click.option(
    "--config",
    "config_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="a setting of the app in the node's config.json (e.g. interval_s=60), checked as provision checks it; "
    "repeatable",
)
def cli(
    board_name,
    app,
    scenario,
    hours,
    days,
    start,
    mode,
    events_path,
    as_json,
    seed,
    plot_path,
    dev_eui,
    join_eui,
    app_key,
    config_items,
):
    """Run APP's firmware on an emulated BOARD and show what it does."""
    from citynode.base.boards import BoardError
    from hil.emulator import DEFAULT_START, EmulatedBoard
    from hil.worlds import role_world

    config = _config(app, config_items)
    _check_length(hours, days)
    for opt, path in (("--events", events_path), ("--plot", plot_path)):
        _check_output(opt, path)
    # The role's world module (hil/worlds/<role>.py) says what a run is without options.
    world = role_world(app)
    scenario = scenario or world.default_scenario
    if hours is None and days is None:
        hours = world.hours(scenario)
    try:
        board = EmulatedBoard(
            board_name,
            app,
            world=scenario,
            mode=mode,
            start=start or world.default_start or DEFAULT_START,
            event_log=events_path,
            seed=seed,
            config=config,
        )
    except (BoardError, ValueError) as e:
        raise UserError(str(e)) from None
    radio = _attach_network(board, app, dev_eui, join_eui, app_key, seed)
    view = _role_view(board, app, as_json, plot_path)
    board.log.listeners.append(_printer(board, view, as_json))
    with board:
        res = _run(board, view, hours, days)
        if radio is not None:
            radio.flush(board)  # downlinks still on their way when the run ended
        if view is not None and plot_path:
            _write_plot(view, plot_path, scenario)
    _print_summary(res, radio, as_json)
    if res.halted:
        sys.exit(1)


def _printer(board, view, as_json: bool):
    """The listener that prints the run's events: the role's view first, frames, then log lines or JSON."""

    def show(ev):
        if view is not None:
            ev = view.decorate(ev)
            if not as_json and ev["type"] == "log":
                return  # the role's table shows the wakes
        if ev["type"] == "lora_frame":
            _show_frame(ev, board, as_json, quiet=view is not None)
        elif as_json:
            if ev["type"] in ("log", "boot", "sleep", "halt", "watchdog", "reset", "powercut"):
                print(json.dumps(ev), flush=True)
        elif ev["type"] == "log":
            click.echo(f"{ev['t'] - board.start_us / 1e6:10.1f}s  {ev['line']}")
        elif ev["type"] == "halt":
            click.echo(f"node halted: {ev.get('reason')}\n{ev.get('detail', '')}", err=True)

    return show


MAX_DAYS = 366  # a year of virtual time, leap day included: the longest run emulate takes


def _check_length(hours, days):
    """--hours/--days: finite, not negative, together more than nothing and at most MAX_DAYS; one line before
    the run starts."""
    for opt, v in (("--hours", hours), ("--days", days)):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise UserError(f"{opt}: {v} is not a length of time (a number of at least 0)")
    if hours is None and days is None:
        return
    total_h = (hours or 0) + 24 * (days or 0)
    if total_h <= 0:
        raise UserError("--hours/--days: the run must last more than 0 hours")
    if total_h > MAX_DAYS * 24:
        raise UserError(f"--hours/--days: {total_h:g} hours is more than {MAX_DAYS} days, the longest run")


def _check_output(opt, path):
    """--events/--plot: the folder the file goes in must exist, checked before the run, not after it."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{opt}: no such folder {folder!r} for {path}")


def _print_summary(res, radio, as_json: bool):
    """The run in one line (or one JSON object): wakes, boots, virtual and wall time, the network's figures."""
    summary = {
        "type": "summary",
        "wakes": res.wakes,
        "boots": res.boots,
        "virtual_s": res.virtual_s,
        "wall_s": round(res.wall_s, 3),
        "outcomes": res.outcomes,
        "halted": res.halted,
    }
    if radio is not None:
        summary["network"] = _network_summary(radio)
    if as_json:
        print(json.dumps(summary))
    else:
        click.echo(f"{res.wakes} wakes in {res.virtual_s / 3600:.1f} virtual hours, {res.wall_s:.2f} s wall")


def _config(app, items):
    """--config KEY=VALUE ... -> the app's settings for config.json, checked against the schema (keys, ranges,
    rules between settings); None when there are none."""
    if not items:
        return None
    from fleet import role_settings

    try:
        return role_settings.check(app, dict(role_settings.parse(app, i) for i in items))
    except role_settings.SettingError as e:
        raise UserError(f"--config: {e}") from None


# ---------------------------------------------------------------------- a role's view and plot (citynode/views/)


def _role_view(board, app, as_json, plot_path):
    from citynode import views

    view_class = views.view_class(app)
    if plot_path and not hasattr(view_class, "plot"):
        raise UserError(f"--plot: {app} draws no plot (roles that do: {', '.join(views.plotting_roles())})")
    if view_class is None:
        return None
    from rich.console import Console

    return view_class(board, as_json=as_json, console=None if as_json else Console(highlight=False))


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


def _write_plot(view, path, scenario):
    from citynode import plot

    plot.save(view.plot(scenario), path)
    click.echo(f"plot written to {path}", err=view.as_json)


# ---------------------------------------------------------------------- LoRaWAN network (hil/network.py, hil/radio.py)

FRAME_FIELDS = ("t", "dev_eui", "phy_payload", "freq", "dr", "airtime_ms")
UPLINK_FIELDS = ("fport", "fcnt", "payload", "mic_ok")


def _attach_network(board, app, dev_eui, join_eui, app_key, seed):
    """Put the board on an emulated network (server + radio path) when its app talks LoRaWAN."""
    if app == "counter" and not (dev_eui or join_eui or app_key):
        return None
    from hil.network import DEMO_APP_KEY, DEMO_DEV_EUI, DEMO_JOIN_EUI, attach_network, check_identity

    try:
        ident = check_identity(dev_eui or DEMO_DEV_EUI, join_eui or DEMO_JOIN_EUI, app_key or DEMO_APP_KEY)
    except ValueError as e:
        raise UserError(f"{e} (--dev-eui, --join-eui: 16; --app-key: 32)") from None
    return attach_network(board, dev_eui=ident[0], join_eui=ident[1], app_key=ident[2], seed=seed)


def _frame_line(ev) -> dict:
    """One `--json` line for a radio frame: type, t, dev_eui, phy_payload, freq (Hz), dr, airtime_ms; uplinks
    add fport, fcnt, payload (decrypted FRMPayload, hex) and mic_ok; then what the radio saw."""
    line = {"type": ev["frame"]}
    line.update({k: ev.get(k) for k in FRAME_FIELDS})
    if ev["frame"] == "uplink":
        line.update({k: ev.get(k) for k in UPLINK_FIELDS})
    for k in (
        "fport",
        "fcnt",
        "payload",
        "mic_ok",
        "window",
        "gateway",
        "gateways",
        "heard",
        "received",
        "lost",
        "rejected",
        "rssi",
        "snr",
        "ack",
        "mac",
        "decoded",  # the payload as the fleet codec reads it (see citynode/views/)
    ):
        if k in ev and k not in line:
            line[k] = ev[k]
    return line


def _show_frame(ev, board, as_json, quiet):
    line = _frame_line(ev)
    if as_json:
        print(json.dumps(line), flush=True)
        return
    if quiet:
        return
    what = line["type"].replace("_", "-")
    extra = ""
    if line["type"] == "uplink":
        extra = f" fcnt={line['fcnt']} fport={line['fport']} payload={line['payload'] or '-'}"
        extra += "" if line["mic_ok"] else " MIC-FAILED"
    elif line["type"] == "downlink":
        extra = f" fcnt={line.get('fcnt')} fport={line.get('fport')} payload={line.get('payload') or '-'}"
    fate = line.get("lost")
    fate = f"  LOST: {fate}" if fate else ""
    click.echo(
        f"{ev['t'] - board.start_us / 1e6:10.1f}s  ~ {what} DR{line['dr']} {line['freq'] / 1e6:.1f} MHz "
        f"{line['airtime_ms']:.0f} ms{extra}{fate}"
    )


def _network_summary(radio) -> dict:
    out = radio.summary()
    s = radio.server.summary()
    out.update(
        joins=s["joins"],
        rejected=s["rejected"],
        rejected_by_reason=s["rejected_by_reason"],
        adr_requests=s["adr_requests"],
    )
    return out
