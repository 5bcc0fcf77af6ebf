"""`citynode build`: the bundle for one node (board + role), compiled to .mpy, with its manifest."""

from __future__ import annotations

import click

from citynode.cli import UserError, ignore_heap_option, role_option


@click.command()
@click.option("--board", "-b", required=True, help="Board id (boards/*.json) or path to a board file.")
@role_option("--app", "-a", required=True, tools=True)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default build/<board>-<app>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@ignore_heap_option("Build it")
def cli(board, app, out, as_json, ignore_heap):
    """Build the bundle deploy puts on a board: only the modules the role needs, as .mpy. An app that needs more
    heap than the board has (measured: `citynode boards show BOARD`) is refused."""
    import json

    from citynode import boards, fits
    from citynode.build import BuildError, build

    try:
        spec = boards.load(board)
        if not ignore_heap:
            fits.require(spec, app)
        b = build(spec, app, out)
    except (BuildError, boards.BoardError, fits.DoesNotFit) as e:
        raise UserError(str(e)) from None
    except RuntimeError as e:  # mpy-cross refused a module: a syntax error in the firmware
        raise UserError(str(e)) from None
    m = b.manifest
    if as_json:
        click.echo(json.dumps(m, indent=1))
        return
    size = sum((b.out / f).stat().st_size for f in m["files"])
    click.echo(f"{b.out}: {m['board']} {m['app']} v={m['version']}: {len(m['files'])} files, {size} bytes")
    click.echo(f"  modules: {', '.join(b.modules)}")
    if m["packages"]:
        click.echo(f"  micropython-lib packages: {', '.join(m['packages'])}")
    if m["missing_imports"]:
        click.echo(
            f"  note: imported but not in the firmware (optional paths): {', '.join(m['missing_imports'])}"
        )
