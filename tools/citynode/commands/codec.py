"""`citynode codec --format tts|chirpstack -o codec.js`: the JavaScript payload codec for a network server."""

from __future__ import annotations

import os
from pathlib import Path

import click

from citynode.cli import role_option


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tts", "chirpstack"]),
    default="tts",
    show_default=True,
    help="The Things Stack or ChirpStack v4 conventions",
)
@role_option(
    "--app", "role", default=None, what="only this role (smaller script; downlinks need no data.role)"
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write here (default: standard output)",
)
def cli(fmt, role, output):
    """Write the self-contained JavaScript codec (decodeUplink, encodeDownlink, decodeDownlink)."""
    from citynode.cli import UserError
    from fleet import codec_js
    from fleet.payloads import PayloadError

    try:
        text = codec_js.generate(fmt, role, built_only=True)
    except PayloadError as e:
        raise UserError(str(e)) from None
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, output)
    except OSError as e:
        raise UserError(f"cannot write {output}: {e.strerror}") from None
    click.echo(f"wrote {output} ({len(text.encode())} bytes, format {fmt})", err=True)
