"""`citynode provision`: give the node on a serial port its identity and keys, record it, print its label."""

from __future__ import annotations

import json
import os

import click

from citynode.cli import UserError, ignore_heap_option, role_option
from citynode.commands.fleet import db_option, open_fleet, user_errors


def _settings_pairs(pairs) -> dict:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise UserError(f"--set {p!r}: use KEY=VALUE")
        k, v = p.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except ValueError:
            out[k.strip()] = v
    return out


@click.command()
@click.option(
    "--port",
    "-p",
    default="auto",
    show_default=True,
    help="serial port: auto, id:<usb serial>, a path or a pyserial URL",
)
@role_option("--app", "-a", what="the node's role (default with --replace: the old node's)")
@click.option("--site", help="where: the building or street (required unless --replace)")
@click.option(
    "--location", help="where in the site: room, bin number, parking space (required unless --replace)"
)
@click.option("--lat", type=float, help="latitude, decimal degrees")
@click.option("--lon", type=float, help="longitude, decimal degrees")
@click.option("--installer", default=lambda: os.environ.get("CITYNODE_INSTALLER"), help="who installs it")
@click.option("--board", "-b", help="refuse if the attached board is not this one")
@click.option(
    "--replace",
    "replace",
    metavar="OLD_DEVEUI",
    help="this node replaces a broken one: same site and location, the old one is retired",
)
@click.option(
    "--set",
    "set_",
    multiple=True,
    metavar="KEY=VALUE",
    help="an app setting for config.json, checked against the role's ranges and rules (docs/payloads.md)",
)
@click.option("--wait-join", is_flag=True, help="follow the node's log until it has joined the network")
@click.option(
    "--join-timeout", type=float, default=120.0, show_default=True, help="seconds --wait-join waits"
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object on stdout")
@ignore_heap_option("provision it")
@db_option
@user_errors
def cli(
    port,
    app,
    site,
    location,
    lat,
    lon,
    installer,
    board,
    replace,
    set_,
    wait_join,
    join_timeout,
    as_json,
    ignore_heap,
    db,
):
    """Provision the node on PORT: read its unique id, allocate (or resume) its DevEUI and AppKey, write its
    config.json atomically and check it by hash, record it in the registry, and print its label.

    Re-running on the same board is safe: it gets the same identity. The AppKey is never printed; register the
    node on the network server with `citynode fleet push` or `citynode fleet export`.
    """
    from citynode.ports import PortError, resolve_port
    from citynode.provision import ProvisionError, Request, check_fit, provision

    req = Request(
        port=port,
        app=app,
        site=site,
        location=location,
        lat=lat,
        lon=lon,
        installer=installer,
        board=board,
        replace=replace,
        settings=_settings_pairs(set_),
        ignore_heap=ignore_heap,
    )
    from fleet.text import check_line

    for name, v in (("--site", site), ("--location", location), ("--installer", installer)):
        try:
            check_line(v or "", name)  # before anything is recorded: a label could not print it
        except ValueError as e:
            raise UserError(str(e)) from None
    if not replace and not (site and str(site).strip()):
        raise UserError("--site is missing: say where the node is installed")
    check_fit(board, req)  # a role that does not fit the board named: refused before the registry or the port
    s, reg = open_fleet(db, keys=True, create_key=True)
    with reg:
        try:
            req.port = resolve_port(port, board=board)
        except PortError as e:
            raise UserError(str(e)) from None

        try:
            r = provision(
                req,
                reg,
                s,
                label_dir=s.db.parent / "labels",
                wait_join_s=join_timeout if wait_join else None,
                on_recorded=None
                if as_json
                else lambda r: _say_recorded(r, join_timeout if wait_join else None),
            )
        except ProvisionError as e:
            raise UserError(str(e)) from None
    if as_json:
        click.echo(json.dumps(_as_json(r), ensure_ascii=False))
    if r.join is not None:
        if not r.join.joined:
            raise UserError(f"{r.device['dev_eui']} is provisioned but did not join: {r.join.why}")
        if not as_json:
            click.echo(f"joined: DevAddr {r.join.dev_addr} after {r.join.seconds:.1f} s; status installed")
    elif not as_json:
        click.echo(
            "next: put it on the network server (`citynode fleet push --chirpstack HOST:PORT` or "
            "`citynode fleet export`)",
            err=True,
        )


def _as_json(r) -> dict:
    """What `provision --json` prints: one object, without the AppKey."""
    out = {
        "dev_eui": r.device["dev_eui"],
        "join_eui": r.device["join_eui"],
        "role": r.device["role"],
        "site": r.device["site"],
        "location": r.device["location"],
        "status": r.device["status"],
        "tr005": r.code,
        "label": str(r.label) if r.label else None,
        "resumed": r.resumed,
        "wrote_config": r.wrote_config,
        "replaced": r.replaced,
        "seconds": round(r.seconds, 3),
    }
    if r.join is not None:
        out["joined"] = r.join.joined
        out["dev_addr"] = r.join.dev_addr
        if not r.join.joined:
            out["why"] = r.join.why
    return out


def _say_recorded(r, join_timeout: float | None) -> None:
    """What the installer reads once the node is recorded (before any wait for its join)."""
    d = r.device
    click.echo(
        f"{'re-provisioned' if r.resumed else 'provisioned'} {d['dev_eui']} ({d['role']}) at "
        f"{d['site']} / {d['location']}" + (f", replacing {r.replaced}" if r.replaced else "")
    )
    click.echo(f"  TR005  {r.code}")
    if r.label:
        click.echo(f"  label  {r.label}")
    if not r.wrote_config:
        click.echo("  (the node already had this config)")
    if join_timeout is not None:
        click.echo(f"  waiting up to {join_timeout:g} s for the join ...", err=True)
