"""`citynode flash`: write the MicroPython image onto one board, or a whole tray of them at once."""

from __future__ import annotations

import click

PHASE_TEXT = {
    "connect": "connecting",
    "stub": "starting stub",
    "baud": "changing baud",
    "erase": "erasing",
    "write": "writing",
    "verify": "verifying MD5",
    "reset": "resetting",
    "retry": "retrying at 115200",
    "done": "done",
}


@click.command()
@click.option(
    "--board", "-b", "board_name", required=True, help="Board id (`citynode boards list`) or JSON file."
)
@click.option(
    "--port",
    "-p",
    "port_specs",
    multiple=True,
    help="auto (default), id:<usb serial>, a path or a pyserial URL. Repeat it to flash several boards at once.",
)
@click.option(
    "--firmware",
    "-f",
    type=click.Path(dir_okay=False),
    help="The MicroPython image (.bin for ESP32, .uf2 for RP2040, .hex/.bin/.dfu for STM32).",
)
@click.option(
    "--erase", is_flag=True, help="Erase the whole flash first (ESP32: also wipes the file system)."
)
@click.option(
    "--all-ports", is_flag=True, help="Every attached board (or BOOTSEL drive) at once, one bar each."
)
@click.option(
    "--baud", type=int, help="ESP32: transfer baud rate (default: the board file's, then 115200 on retry)."
)
@click.option("--no-stub", is_flag=True, help="ESP32: talk to the ROM loader directly (slower).")
@click.option(
    "--mount-root",
    type=click.Path(file_okay=False),
    envvar="CITYNODE_MOUNT_ROOT",
    help="RP2040: look for the BOOTSEL drive (a directory named by its label) under here, not in /proc/mounts.",
)
def cli(board_name, port_specs, firmware, erase, all_ports, baud, no_stub, mount_root):
    """Write the MicroPython image: esptool for the ESP32 family (chip checked, stub, fast baud with fallback,
    MD5 verified), the BOOTSEL drive for RP2040, dfu-util/st-flash for STM32.

    Without --firmware it says where to download the board's image.
    """
    from citynode.base import boards
    from citynode.cli import UserError
    from citynode.flash import FlashError, read_image

    try:
        board = boards.load(board_name)
    except boards.BoardError as e:
        raise UserError(str(e)) from None
    try:
        image, data = read_image(board, firmware)
    except FlashError as e:
        raise UserError(str(e)) from None
    method = board["flash"]["method"]
    if erase and method == "uf2":
        raise UserError(
            "--erase: an RP2040 is wiped by copying flash_nuke.uf2 (https://datasheets.raspberrypi.com/soft/"
            "flash_nuke.uf2) onto its BOOTSEL drive first; then flash without --erase"
        )
    if erase and method != "esptool":
        raise UserError(
            f"--erase is for ESP32 boards; {board['id']} is erased by its {method} tool's own option"
        )
    if method == "esptool":
        _esp(board, image, data, port_specs, all_ports, erase, baud, not no_stub)
    elif method == "uf2":
        _uf2(board, image, data, all_ports, mount_root)
    else:
        if all_ports or len(port_specs) > 1:
            raise UserError(f"{board['id']} is flashed through a {method} probe, one board at a time")
        from citynode.flash import flash_stm32

        try:
            with _single_bar(board["id"]) as progress:
                res = flash_stm32(board, image, data, progress=progress)
        except FlashError as e:
            raise UserError(str(e)) from None
        click.echo(f"flashed {board['id']} with {res.target}: {res.summary()} in {res.seconds:.1f} s")


class _single_bar:
    """One rich progress bar on stderr, fed with (phase, done, total)."""

    def __init__(self, label: str):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(label, total=None)
        self.label = label

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, phase: str, done: int, total: int):
        self.progress.update(
            self.task, completed=done, total=total, description=f"{self.label} {PHASE_TEXT.get(phase, phase)}"
        )


def _esp(board, image, data, port_specs, all_ports, erase, baud, stub):
    from citynode.cli import UserError
    from citynode.flash import FlashError, flash_esp
    from citynode.ports import PortError, candidates, resolve_port

    try:
        if all_ports and not port_specs:
            found = candidates(board["id"])
            if not found:
                raise PortError(
                    "no board found on any serial port: plug them in with data cables; `citynode ports` lists "
                    "what is attached"
                )
            ports = [p.device for p in found]
        elif all_ports or len(port_specs) > 1:
            ports = [resolve_port(s, board=board["id"]) for s in port_specs]
        else:
            ports = [resolve_port(port_specs[0] if port_specs else "auto", board=board["id"])]
    except PortError as e:
        raise UserError(str(e)) from None
    if len(set(ports)) != len(ports):
        raise UserError(f"the same port is named twice: {', '.join(ports)}")

    if len(ports) == 1 and not all_ports:
        port = ports[0]
        try:
            with _single_bar(f"{board['id']} {port}") as bar:
                res = flash_esp(
                    port,
                    board,
                    image,
                    data,
                    erase=erase,
                    baud=baud,
                    stub=stub,
                    progress=bar,
                    log=None,
                    on_command=lambda c: bar.progress.console.print(f"[dim]same as: {c}[/]", highlight=False),
                )
        except FlashError as e:
            raise UserError(str(e)) from None
        click.echo(f"flashed {board['id']} on {port}: {res.summary()} in {res.seconds:.1f} s")
        return

    from citynode.multiboard import any_failed, print_results, run_on_ports

    commands = []

    def job(port, handle):
        def progress(phase, done, total):
            handle.update(completed=done, total=total or None, status=PHASE_TEXT.get(phase, phase))

        try:
            res = flash_esp(
                port,
                board,
                image,
                data,
                erase=erase,
                baud=baud,
                stub=stub,
                progress=progress,
                on_command=commands.append,
            )
        except FlashError as e:
            raise RuntimeError(str(e).removeprefix(f"{port}: ")) from None
        return res.summary()

    results = run_on_ports(ports, job, title="flash")
    print_results(results, title=f"flash {board['id']}: {len(ports)} boards")
    if commands:
        click.echo(f"same as, per port: {commands[0]}", err=True)
    if any_failed(results):
        raise SystemExit(1)


def _uf2(board, image, data, all_ports, mount_root):
    from citynode.cli import UserError
    from citynode.flash import FlashError, find_volumes, flash_uf2

    label = board["flash"].get("volume_label", "RPI-RP2")
    if not all_ports:
        try:
            with _single_bar(board["id"]) as bar:
                res = flash_uf2(board, image, data, mount_root=mount_root, progress=bar)
        except FlashError as e:
            raise UserError(str(e)) from None
        click.echo(f"flashed {board['id']}: {res.summary()}; the board reboots into MicroPython")
        return
    vols = [str(v) for v in find_volumes(label, mount_root)]
    if not vols:
        raise UserError(f"no {label} drive is mounted: hold BOOTSEL while plugging each board in")
    from citynode.multiboard import any_failed, print_results, run_on_ports

    def job(vol, handle):
        res = flash_uf2(
            board,
            image,
            data,
            volume=vol,
            progress=lambda ph, d, t: handle.update(completed=d, total=t, status=ph),
        )
        return res.summary()

    results = run_on_ports(vols, job, title="uf2")
    print_results(results, title=f"flash {board['id']}: {len(vols)} drives")
    if any_failed(results):
        raise SystemExit(1)
