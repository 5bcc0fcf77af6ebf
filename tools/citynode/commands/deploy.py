"""`citynode deploy`: build the bundle and put it on one board, or on every attached board at once."""

from __future__ import annotations

import sys

import click

from citynode.cli import UserError, ignore_heap_option, role_option


def _check_fit(board, app):
    """An app that needs more heap than the board has is refused here, before any port is opened."""
    from citynode import boards, fits

    try:
        fits.require(boards.load(board), app)
    except (boards.BoardError, fits.DoesNotFit) as e:
        raise UserError(str(e)) from None


def _bundle(board, app, bundle_dir):
    from citynode import boards
    from citynode.build import BuildError, build, load_bundle

    try:
        if bundle_dir:
            b = load_bundle(bundle_dir)
            if b.manifest["board"] != boards.load(board)["id"] or b.manifest["app"] != app:
                raise UserError(f"{bundle_dir} is a bundle for {b.manifest['board']}/{b.manifest['app']}")
            return b
        return build(board, app)
    except (BuildError, boards.BoardError, RuntimeError) as e:
        raise UserError(str(e)) from None


@click.command()
@click.option("--board", "-b", required=True, help="Board id (boards/*.json).")
@role_option("--app", "-a", required=True, tools=True)
@click.option(
    "--port",
    "-p",
    default="auto",
    show_default=True,
    help="auto, id:<usb serial>, a path, or a pyserial URL.",
)
@click.option("--all-ports", is_flag=True, help="Deploy to every attached board of this type at once.")
@click.option(
    "--bundle",
    "bundle_dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Use a bundle made by `citynode build` instead of building now.",
)
@click.option("--no-mip", is_flag=True, help="Do not install missing micropython-lib packages.")
@click.option("--force", is_flag=True, help="Deploy even if the board says (board.json) it is another board.")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    show_default=True,
    help="Wait this long for the port to appear (30 after flashing an ESP32-S3 on native USB: it re-enumerates).",
)
@ignore_heap_option("Deploy it")
def cli(board, app, port, all_ports, bundle_dir, no_mip, force, wait_s, ignore_heap):
    """Put the bundle on the board: only changed files, verified, switched atomically, then wait for its boot line.
    An app that needs more heap than the board has (measured: `citynode boards show BOARD`) is refused."""
    from rich.console import Console

    from citynode import ports
    from citynode.deploy import DeployError, deploy
    from citynode.multiboard import any_failed, print_results, run_on_ports

    if not ignore_heap:
        _check_fit(board, app)
    bundle = _bundle(board, app, bundle_dir)
    console = Console(stderr=True)
    board_id = bundle.manifest["board"]
    if all_ports:
        found = ports.candidates(board_id)
        if not found:
            raise UserError(ports._no_board_message())

        def job(dev, prog):
            def cb(done, total, status):
                prog.update(completed=done, total=total, status=status)

            try:
                r = deploy(bundle, dev, progress=cb, install_packages=not no_mip, force=force)
            except (DeployError, ports.PortError) as e:
                raise RuntimeError(str(e)) from None
            return r.summary()

        results = run_on_ports([p.device for p in found], job, title="deploy", console=console)
        print_results(results, "deploy", console=console)
        sys.exit(1 if any_failed(results) else 0)
    try:
        # A board may be re-enumerating (an ESP32-S3 just flashed or reset): --wait waits for it.
        dev = ports.resolve_port(
            port,
            board=board_id,
            interactive=True,
            wait_s=wait_s,
            on_wait=lambda msg: click.echo(
                f"waiting up to {wait_s:.0f} s for the board to appear: {msg}", err=True
            ),
        )
    except ports.PortError as e:
        raise UserError(str(e)) from None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(
        TextColumn(f"deploy {dev}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("deploy", total=None, status="")

        def cb(done, total, status):
            progress.update(task, completed=done, total=total, status=status)

        try:
            r = deploy(bundle, dev, progress=cb, install_packages=not no_mip, force=force)
        except (DeployError, ports.PortError) as e:
            raise UserError(str(e)) from None
    for n in r.notes:
        click.echo(f"note: {n}", err=True)
    click.echo(f"{dev}: {r.summary()}")
    click.echo(r.boot_line)
