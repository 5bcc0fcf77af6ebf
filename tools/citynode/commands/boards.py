"""`citynode boards`: the board definitions (`boards/*.json`), listed, shown and checked."""

from __future__ import annotations

import json

import click

# Fields `citynode boards --json` prints for each board (one JSON object per line).
JSON_FIELDS = (
    "id",
    "name",
    "vendor",
    "mcu",
    "port",
    "mpy_arch",
    "radio",
    "heap_kb",
    "rtc_memory_bytes",
    "flash",
    "url",
)


def _load_all(directory):
    from citynode.base import boards
    from citynode.cli import UserError

    try:
        return boards.load_all(directory)
    except boards.BoardError as e:
        raise UserError(str(e)) from None


def _row(board: dict) -> dict:
    from citynode import fits
    from citynode.base import boards

    s = boards.summary(board)
    out = {k: board.get(k) for k in JSON_FIELDS}
    out.update(radio=s["radio"], flash=s["flash"])
    # Which apps fit: each one's measured emulator heap against the board's emulator heap, and its estimated
    # 32-bit need against the board's own heap (citynode.fits). Nothing here is verified on hardware.
    out["emulator_heap_kb"] = boards.emulator_heap_kb(board)
    out["fits"] = {
        f.app: {
            "needs_kb": f.needs_kb,
            "fits": f.fits,
            "measured_on": f.measured_on,
            "emulator_fits": f.emulator_fits,
            "estimated_32bit_kb": f.est_kb,
            "ratio_32bit": f.ratio,
            "estimate_fits": f.estimate_fits,
            "basis": f.basis(),
        }
        for f in fits.fits_of(board)
    }
    return out


def _kb(v) -> str:
    return str(v) if v is not None else ">?"


def _needs(r: dict, fitting: bool | None) -> str:
    """'classair 62/44, counter 20/14': the apps whose fit is `fitting`, each with the emulator heap it needs
    (measured) and its estimated 32-bit need."""
    return ", ".join(
        f"{app} {_kb(f['needs_kb'])}"
        + (f"/{_kb(f['estimated_32bit_kb'])}" if f["ratio_32bit"] is not None else "")
        + ("*" if f["measured_on"] not in (None, r["id"]) else "")
        for app, f in r["fits"].items()
        if f["fits"] is fitting
    )


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per board, one per line (JSON Lines)")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="read board files from this folder instead of the installed boards/",
)
@click.pass_context
def cli(ctx, as_json, directory):
    """List the boards citynode knows (every file is validated)."""
    ctx.ensure_object(dict)
    ctx.obj["directory"] = directory
    if ctx.invoked_subcommand is not None:
        return
    rows = [_row(b) for b in _load_all(directory)]
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
        return
    from rich.console import Console
    from rich.table import Table

    from citynode.base import boards

    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    for col, just in (
        ("id", "left"),
        ("name", "left"),
        ("MCU", "left"),
        ("radio", "left"),
        ("heap", "right"),
        ("flash", "left"),
        ("emulator", "right"),
        ("fits (KB needed)", "left"),
        ("does not fit (KB needed)", "left"),
    ):
        table.add_column(col, justify=just, no_wrap=col == "id")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["mcu"],
            r["radio"],
            f"{r['heap_kb']} KB",
            r["flash"],
            f"{r['emulator_heap_kb']} KB",
            _needs(r, True),
            _needs(r, False) or "-",
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: no terminal width to respect, keep one board per line
        console = Console(width=220)
    console.print(table)
    unmeasured = sorted({app for r in rows for app, f in r["fits"].items() if f["fits"] is None})
    estimated = any(f["measured_on"] not in (None, r["id"]) for r in rows for f in r["fits"].values())
    notes = [
        "KB needed: emulator/32-bit. emulator: the smallest heap the app ran in on the 64-bit emulator (measured "
        "on the emulator); 32-bit: that x the app's 32-bit/64-bit live-heap ratio (estimated for 32-bit, "
        "hil/heap32.py). It fits when the first is at most the board's emulator heap "
        f"(heap x {boards.HEAP_SCALE_64BIT}) and the second at most its heap. No fit is verified on hardware yet."
    ]
    if estimated:
        notes.append("*: this board is not measured; the figure is the app's largest on a measured board")
    if unmeasured:
        notes.append(f"not measured (no figure to judge by): {', '.join(unmeasured)}")
    for n in notes:
        click.echo(n)


@cli.command()
@click.argument("board_id")
@click.option("--json", "as_json", is_flag=True, help="print the whole board definition as JSON")
@click.pass_context
def show(ctx, board_id, as_json):
    """Show one board: radio pins, buses, LEDs, app wiring, flash recipe."""
    from pathlib import Path

    from citynode.base import boards
    from citynode.cli import UserError

    directory = ctx.obj.get("directory")
    try:
        b = boards.load_file(Path(directory) / f"{board_id}.json") if directory else boards.load(board_id)
    except boards.BoardError as e:
        raise UserError(str(e)) from None
    if as_json:
        click.echo(json.dumps(b, indent=2))
        return
    click.echo(f"{b['name']} ({b['id']}) by {b['vendor']}")
    click.echo(f"  source      {b.get('url', '-')}")
    click.echo(
        f"  mcu         {b['mcu']}, MicroPython port {b['port']}, .mpy arch {b['mpy_arch']}, "
        f"heap {b['heap_kb']} KB, RTC memory {b['rtc_memory_bytes']} bytes, "
        f"cryptolib {'yes' if b.get('cryptolib') else 'no'}"
    )
    click.echo(f"  radio       {_radio_line(b['radio'])}")
    _show_buses_and_io(b)
    _show_fits(b)
    _show_wiring(b)
    click.echo(f"  flash       {_flash_recipe(b['flash'])}")
    if b["flash"].get("usb_vid_pid"):
        click.echo(f"  usb         {', '.join(b['flash']['usb_vid_pid'])}")
    for note in b.get("notes", []):
        click.echo(f"  note        {note}")


def _radio_line(r: dict) -> str:
    """The radio: chip, driver, SPI bus and control pins, then its TCXO and RF switch."""
    pins = [f"{k}={r[k]}" for k in ("cs", "busy", "dio0", "dio1", "reset") if k in r]
    if "spi" in r:
        pins.insert(
            0,
            "SPI"
            + str(r["spi"]["id"])
            + " "
            + " ".join(f"{k}={r['spi'][k]}" for k in ("sck", "mosi", "miso") if k in r["spi"]),
        )
    extra = []
    if r.get("tcxo_millivolts"):
        extra.append(f"TCXO {r['tcxo_millivolts']} mV")
    if r.get("dio2_rf_sw"):
        extra.append("RF switch on DIO2")
    if r.get("rf_switch"):
        extra.append("RF switch " + " ".join(f"{k}={v}" for k, v in r["rf_switch"].get("pins", {}).items()))
    head = " ".join([r["chip"], "(" + r["driver"] + ")", *pins])
    return "; ".join([head, *extra])


def _show_buses_and_io(b: dict):
    """One line per bus (I2C, UART, I2S), LED, the battery's ADC and the button."""
    for kind in ("i2c", "uart", "i2s"):
        for name, bus in b.get(kind, {}).items():
            desc = " ".join(f"{k}={v}" for k, v in bus.items())
            click.echo(f"  {kind:<11} {name}: {desc}")
    for name, led in b.get("leds", {}).items():
        click.echo(
            f"  led         {name}: pin {led['pin']}{' (active low)' if led.get('active_low') else ''}"
        )
    if b.get("battery"):
        bat = b["battery"]
        click.echo(
            f"  battery     ADC pin {bat['adc_pin']}, divider {bat['divider']}"
            + (f", enable pin {bat['enable_pin']}" if "enable_pin" in bat else "")
        )
    if b.get("button"):
        click.echo(f"  button      pin {b['button']['pin']}")


def _show_wiring(b: dict):
    """One line per app wired on the board: its sensors (chip, bus, address) and LEDs."""
    for role, wiring in b["apps"].items():
        parts = [
            f"{n}: {s['chip']} on {s['bus']}" + (f" @ {s['address']:#04x}" if "address" in s else "")
            for n, s in wiring.get("sensors", {}).items()
        ]
        parts += [f"LED {n} on pin {led['pin']}" for n, led in wiring.get("leds", {}).items()]
        click.echo(f"  app         {role}: {', '.join(parts) or 'no wiring'}")


def _flash_recipe(f: dict) -> str:
    """How to put MicroPython on the board by hand, with the tool of its flash method."""
    return {
        "esptool": lambda: (
            f"esptool --chip {f['chip']} write_flash {f['offset']:#x} {f.get('firmware', '<image>')}"
        ),
        "uf2": lambda: (
            f"copy {f.get('firmware', '<image>.uf2')} to the {f['volume_label']} drive (hold BOOTSEL)"
        ),
        "dfu": lambda: f"dfu-util -d {f['dfu_id']} -a 0 -D {f.get('firmware', '<image>.dfu')}",
        "stlink": lambda: (
            f"st-flash --format ihex write {f.get('firmware', '<image>.hex')} (SWD through the ST-LINK)"
        ),
    }[f["method"]]()


def _show_fits(b: dict):
    """One line per app a node can run: the heap it needs (measured), the board's, and whether it fits."""
    from citynode import fits
    from citynode.base import boards

    has = boards.emulator_heap_kb(b)
    click.echo(
        f"  heap        {b['heap_kb']} KB on the board, x{boards.HEAP_SCALE_64BIT} = {has} KB on the emulator "
        "(no fit is verified on hardware yet)"
    )
    for f in fits.fits_of(b):
        if f.fits is None:
            verdict = "not measured"
        else:
            where = f" (measured on {f.measured_on}: this board is not measured)" if f.estimate else ""
            verdict = f"needs {f.needs_text()} of emulator heap, the board has {has} KB{where}: " + (
                "fits" if f.emulator_fits else "does not fit"
            )
            verdict += " (measured on the emulator); "
            if f.ratio is None:
                verdict += "no 32-bit estimate recorded"
            else:
                verdict += f"{f.estimate_text()}, the board has {f.heap_kb} KB: " + (
                    "fits" if f.estimate_fits else "does not fit"
                )
                verdict += " (estimated for 32-bit)"
            if not f.fits:
                verdict += f"; {fits.LATER_FIX}"
        wiring = "" if f.app in b["apps"] else "; the board file has no wiring for it"
        click.echo(
            f"  {'fits' if f.fits else 'no fit' if f.fits is False else 'fit?':<11} {f.app}: {verdict}{wiring}"
        )


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.pass_context
def check(ctx, files):
    """Validate board files (default: all of them); exit 2 at the first bad one."""
    from pathlib import Path

    from citynode.base import boards
    from citynode.cli import UserError

    paths = [Path(f) for f in files] or boards.board_files(ctx.obj.get("directory"))
    for p in paths:
        try:
            boards.load_file(p)
        except boards.BoardError as e:
            raise UserError(str(e)) from None
        click.echo(f"ok {p}")
