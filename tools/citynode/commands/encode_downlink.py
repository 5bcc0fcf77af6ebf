"""`citynode encode-downlink --app ROLE key=value ...`: a configuration downlink, checked against the schema: each
value's range, then the role's rules between settings, as the node will check them (the node's other settings:
`--node KEY=VALUE`, else the role's defaults)."""

from __future__ import annotations

import base64
import json

import click

from citynode.cli import role_option


def parse_setting(role: str, item: str) -> tuple[str, object]:
    """'red_ppm=800' -> ('red_ppm', 800), typed by the schema's field."""
    from citynode.cli import UserError
    from fleet import payloads as P

    if "=" not in item:
        raise UserError(f"expected key=value, got {item!r}")
    key, raw = (s.strip() for s in item.split("=", 1))
    msg = P.config_message(role)
    for f in msg.fields:
        if f["type"] != "pack" and f["name"] == key:
            kind = f["type"]
            break
        if f["type"] == "pack":
            part = next((p for p in f["parts"] if p["name"] == key), None)
            if part is not None:
                kind = part["kind"]
                break
    else:
        names = [n for f in msg.fields for n in P._names(f)]
        raise UserError(f"{role} has no setting {key!r} (settings: {', '.join(names)})")
    low = raw.lower()
    if kind == "bool":
        if low in ("1", "true", "yes", "on"):
            return key, True
        if low in ("0", "false", "no", "off"):
            return key, False
        raise UserError(f"{key}: expected on/off, true/false, yes/no or 1/0, got {raw!r}")
    if kind == "num":
        try:
            return key, int(raw, 0) if low.lstrip("-").isdigit() or low.startswith(("0x", "0b")) else float(
                raw
            )
        except ValueError:
            raise UserError(f"{key}: expected a number, got {raw!r}") from None
    if kind == "enum":
        return key, int(raw) if raw.isdigit() else raw
    if kind in ("uint", "flags", "steps"):
        try:
            return key, int(raw, 0)
        except ValueError:
            raise UserError(f"{key}: expected an integer (0x.. and 0b.. accepted), got {raw!r}") from None
    if kind == "bytes":
        from citynode.commands.decode import parse_hex

        return key, parse_hex(raw)
    return key, raw


@click.command()
@role_option("--app", "role", required=True, what="the node's role")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option(
    "--node",
    "node_settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="the node's current setting, for the rules between settings (default: the role's default); repeatable",
)
@click.argument("settings", nargs=-1, required=True)
def cli(role, as_json, node_settings, settings):
    """Encode a configuration downlink from key=value settings. Prints FPort, hex and base64.

    Each value's range is checked, then the role's rules between settings (red above orange, ...) over the
    settings the node will have: a downlink the node would refuse is refused here first, with the reason."""
    from citynode.cli import UserError
    from fleet import payloads as P
    from fleet import role_settings

    values = dict(parse_setting(role, s) for s in settings)
    try:
        node = role_settings.check(
            role, dict(role_settings.parse(role, s) for s in node_settings), rules=False
        )
    except role_settings.SettingError as e:
        raise UserError(f"--node: {e}") from None
    try:
        port, data = P.encode_downlink(role, values, node)
    except P.RuleError as e:
        raise UserError(e.text(P.ASSUMED_NODE[:-1] + ": say the node's own with --node KEY=VALUE)")) from None
    except P.PayloadError as e:
        raise UserError(str(e)) from None
    b64 = base64.b64encode(data).decode()
    if as_json:
        click.echo(json.dumps({"fport": port, "hex": data.hex(), "base64": b64, "bytes": len(data)}))
        return
    click.echo(f"fport   {port}")
    click.echo(f"hex     {data.hex()}")
    click.echo(f"base64  {b64}")
    click.echo(f"bytes   {len(data)}")
