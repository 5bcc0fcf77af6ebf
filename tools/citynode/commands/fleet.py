"""`citynode fleet ...`: the registry of nodes: list, show, history, retire, mark, import, export, push, info.

The registry is a SQLite file (--db, CITYNODE_DB, fleet.db in ~/.config/citynode/config.toml, else
~/.local/share/citynode/fleet.db). AppKeys in it are sealed under the master key (CITYNODE_MASTER_KEY, a 0600
key file, or the OS keyring); they are shown only with --show-secrets and written only by exports.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from citynode.cli import UserError, role_option

STATUS_CHOICE = click.Choice(["stock", "provisioned", "installed", "faulty", "retired"])


# ------------------------------------------------------------------------------------------------ shared plumbing


def user_errors(fn):
    """Turn every fleet error into one line on stderr and exit status 2 (keys scrubbed from the text).

    The fleet's errors (RegistryError, VaultError, SettingsError, LabelError, ExportError, PushError) all live
    in `fleet.*` modules, and ProvisionError in `citynode.provision`; matching on those keeps this wrapper from
    importing them all.
    """

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except click.ClickException:
            raise
        except Exception as e:
            module = type(e).__module__
            if module.startswith("fleet.") or module == "citynode.provision" or type(e) is ValueError:
                raise UserError(str(e)) from None
            raise

    return wrapper


def db_option(fn):
    return click.option(
        "--db",
        type=click.Path(dir_okay=False),
        default=None,
        help="registry file (default: CITYNODE_DB, the config file, ~/.local/share/citynode/fleet.db)",
    )(fn)


def open_fleet(db, *, keys: bool = False, create_key: bool = False, must_exist: bool = False):
    """(settings, registry) for this command; with `keys`, the master key is loaded and checked."""
    from fleet import settings as settings_mod
    from fleet import vault as vault_mod
    from fleet.registry import Registry

    s = settings_mod.load(db)
    reg = Registry(s.db, create=not must_exist)
    if keys:
        try:
            mk = vault_mod.load_master_key(
                s.master_key_file, s.keyring, create=create_key and not reg.has_secrets()
            )
        except vault_mod.VaultError:
            reg.close()
            raise
        if mk is None:
            reg.close()
            raise UserError(
                "no master key: set CITYNODE_MASTER_KEY (64 hex digits), or put it in "
                f"{s.master_key_file or vault_mod.default_key_file()} (mode 0600)"
            )
        if mk.created:
            click.echo(
                f"created a new fleet master key in {mk.source} (mode 0600, key id {mk.id}): back it up; "
                "without it the AppKeys in the registry cannot be recovered",
                err=True,
            )
        try:
            reg.unlock(vault_mod.Vault(mk))
        except Exception:
            reg.close()
            raise
    return s, reg


def parse_dev_euis(values) -> list[str]:
    from fleet.vault import parse_eui

    return [parse_eui(v, "DevEUI") for v in values]


def _table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    columns = [[h] + ["" if r[k] is None else str(r[k]) for r in rows] for k, h in cols]
    widths = [max(map(len, c)) for c in columns]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*cells).rstrip() for cells in zip(*columns, strict=True))


LIST_COLS = [
    ("dev_eui", "DEVEUI"),
    ("status", "STATUS"),
    ("role", "ROLE"),
    ("site", "SITE"),
    ("location", "LOCATION"),
    ("board", "BOARD"),
    ("firmware_version", "FIRMWARE"),
]


def write_export(text: str, out: str | None, n_keys: int, what: str) -> None:
    """Write export text: to a 0600 file with a warning when it carries keys, or to stdout with `-o -`."""
    from fleet.vault import write_secret_file

    if out in (None, "-"):
        if n_keys and out is None:
            raise UserError(f"{what} holds AppKeys: give -o FILE (written 0600), or -o - for standard output")
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(out)
    try:
        if n_keys:
            write_secret_file(path, text)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    if n_keys:
        click.echo(
            f"warning: {path} holds {n_keys} AppKey(s) in clear (file mode 0600): keep it private and "
            "delete it once imported",
            err=True,
        )
    else:
        click.echo(f"wrote {path}", err=True)


# ------------------------------------------------------------------------------------------------ commands


@click.group()
def cli():
    """The fleet registry: list, show, history, retire, import, export, push to ChirpStack."""


@cli.command("list")
@click.option("--site")
@role_option("--role", what="only devices of this role")
@click.option("--status", type=STATUS_CHOICE)
@click.option("--json", "as_json", is_flag=True, help="a JSON array of devices")
@db_option
@user_errors
def list_cmd(site, role, status, as_json, db):
    """List devices, optionally of one site, role or status."""
    _, reg = open_fleet(db, must_exist=True)
    with reg:
        rows = reg.devices(site=site, role=role, status=status)
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    if not rows:
        click.echo("no devices", err=True)
        return
    sys.stdout.write(_table(rows, LIST_COLS) + "\n")


@cli.command()
@click.argument("dev_eui")
@click.option("--json", "as_json", is_flag=True)
@click.option("--show-secrets", is_flag=True, help="also print the AppKey (needs the master key)")
@db_option
@user_errors
def show(dev_eui, as_json, show_secrets, db):
    """Everything the registry knows about one device (the AppKey only with --show-secrets)."""
    (eui,) = parse_dev_euis([dev_eui])
    s, reg = open_fleet(db, keys=show_secrets, must_exist=True)
    with reg:
        d = reg.require(eui)
        if show_secrets:
            k = reg.app_key(eui)
            d["app_key"] = k.hex().upper() if k else None
        from fleet.labels import Label

        d["tr005"] = Label.for_device(d, s.profile_id).code
    if as_json:
        click.echo(json.dumps(d, ensure_ascii=False, indent=2))
        return
    w = max(len(k) for k in d)
    for k, v in d.items():
        if v not in (None, ""):
            click.echo(f"{k.ljust(w)}  {v}")


@cli.command()
@click.argument("dev_eui")
@click.option("--json", "as_json", is_flag=True)
@db_option
@user_errors
def history(dev_eui, as_json, db):
    """The device's events, oldest first (flashed, provisioned, label_printed, joined, replaced, retired...)."""
    (eui,) = parse_dev_euis([dev_eui])
    _, reg = open_fleet(db, must_exist=True)
    with reg:
        events = reg.history(eui)
    if as_json:
        click.echo(json.dumps(events, ensure_ascii=False))
        return
    for e in events:
        detail = " ".join(f"{k}={v}" for k, v in e["detail"].items())
        who = f" by {e['actor']}" if e.get("actor") else ""
        click.echo(f"{e['t']}  {e['event']:<13}{who}  {detail}".rstrip())


@cli.command()
@click.argument("dev_euis", nargs=-1, required=True)
@click.option("--reason", help="why (kept in the notes and the history)")
@db_option
@user_errors
def retire(dev_euis, reason, db):
    """Retire devices: they stay in the registry and its history, and leave network-server exports."""
    euis = parse_dev_euis(dev_euis)
    _, reg = open_fleet(db, must_exist=True)
    with reg, reg.transaction():
        for eui in euis:
            reg.retire(eui, reason=reason)
    for eui in euis:
        click.echo(f"{eui} retired")


@cli.command()
@click.argument("dev_eui")
@click.argument("status", type=STATUS_CHOICE)
@click.option("--note", help="kept in the notes and the history")
@db_option
@user_errors
def mark(dev_eui, status, note, db):
    """Set a device's status (installed, faulty, ...), e.g. `citynode fleet mark 70B3... faulty --note 'no LED'`."""
    (eui,) = parse_dev_euis([dev_eui])
    _, reg = open_fleet(db, must_exist=True)
    with reg:
        reg.set_status(eui, status, note=note)
    click.echo(f"{eui} {status}")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@role_option("--role", what="role of rows without a role column")
@click.option("--site", help="site of rows without a site column")
@click.option("--skip-existing", is_flag=True, help="skip DevEUIs already in the registry instead of failing")
@db_option
@user_errors
def import_cmd(file, role, site, skip_existing, db):
    """Pre-provision a batch from CSV (',' or ';'): dev_eui, [join_eui], [app_key], role, site, location, ...

    Rows without an app_key get a fresh one. All rows go in, or none (an error names the line).
    """
    from fleet.exports import parse_import

    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {file}: {e}") from None
    s, reg = open_fleet(db, keys=True, create_key=True)
    with reg:
        rows = parse_import(text, join_eui=reg.join_eui(s.join_eui), role=role, site=site)
        added, skipped = reg.import_devices(rows, on_conflict="skip" if skip_existing else "error")
    click.echo(f"imported {added} device(s)" + (f", skipped {skipped} already known" if skipped else ""))


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tts-csv", "tts-json", "csv"]),
    required=True,
    help="tts-csv / tts-json: The Things Stack's importers; csv: the inventory",
)
@click.option("-o", "--output", help="file to write (0600 when it holds keys); - for standard output")
@click.option("--site")
@role_option("--role", what="only devices of this role")
@click.option("--status", type=STATUS_CHOICE)
@click.option("--with-keys", is_flag=True, help="csv: add an app_key column")
@db_option
@user_errors
def export(fmt, output, site, role, status, with_keys, db):
    """Export devices for The Things Stack (with AppKeys, as its importer needs) or as an inventory CSV."""
    from fleet import exports

    needs_keys = fmt != "csv" or with_keys
    s, reg = open_fleet(db, keys=needs_keys, must_exist=True)
    with reg:
        devices = reg.devices(site=site, role=role, status=status)
        keys = reg.app_keys() if needs_keys else {}
    if fmt == "csv":
        text = exports.inventory_csv(devices, keys if with_keys else None)
        n = sum(1 for d in devices if d["dev_eui"] in keys) if with_keys else 0
    else:
        live, keyless = exports.for_network_server(devices, keys)
        if keyless:
            click.echo(
                f"warning: {len(keyless)} device(s) without an AppKey left out: {', '.join(keyless[:5])}"
                + (" ..." if len(keyless) > 5 else ""),
                err=True,
            )
        text = (exports.tts_csv if fmt == "tts-csv" else exports.tts_json)(live, keys, s)
        n = len(live)
    write_export(text, output, n, f"the {fmt} export")


@cli.command()
@click.option("--chirpstack", "target", required=True, metavar="HOST:PORT", help="ChirpStack v4 gRPC API")
@click.option("--dry-run", is_flag=True, help="read ChirpStack and say what would change; write nothing")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="seconds per request")
@click.option("--site")
@role_option("--role", what="only devices of this role")
@db_option
@user_errors
def push(target, dry_run, timeout, site, role, db):
    """Create or update the devices in ChirpStack (DeviceService Create + CreateKeys); safe to repeat."""
    from fleet import chirpstack

    if ":" not in target:
        raise UserError(f"--chirpstack {target!r}: give HOST:PORT (ChirpStack's gRPC API, usually port 8080)")
    s, reg = open_fleet(db, keys=True, must_exist=True)
    with reg:
        devices = reg.devices(site=site, role=role)
        keys = reg.app_keys()
        counts: dict[str, int] = {}

        def done(o):
            counts[o.action] = counts.get(o.action, 0) + 1
            click.echo(
                f"{o.dev_eui}  {'would be ' if dry_run and o.action != 'unchanged' else ''}{o.action}"
                + (f" ({o.detail})" if o.detail else "")
            )
            if not dry_run and o.action in ("created", "updated", "disabled"):
                reg.add_event(
                    "pushed", dev_eui=o.dev_eui, detail={"to": f"chirpstack {target}", "action": o.action}
                )

        chirpstack.push(target, devices, keys, s.chirpstack, dry_run=dry_run, timeout=timeout, on_done=done)
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no devices"
    click.echo(("dry run, nothing written: " if dry_run else "") + summary, err=True)


@cli.command()
@db_option
@user_errors
def info(db):
    """Where the registry is, how many devices it holds, the fleet's JoinEUI and master key id."""
    from fleet import vault as vault_mod

    s, reg = open_fleet(db)
    with reg:
        n = reg.count()
        join = reg.meta("join_eui") or s.join_eui or "(drawn at the first provisioning)"
        kid = reg.meta("key_id") or "(none yet)"
    try:
        mk = vault_mod.load_master_key(s.master_key_file, s.keyring)
        here = f"{mk.id} from {mk.source}" if mk else "none found"
    except vault_mod.VaultError as e:
        here = f"unusable: {e}"
    click.echo(
        f"registry     {s.db}\ndevices      {n}\njoin_eui     {join}\nkey id       {kid}\n"
        f"master key   {here}\nconfig file  {s.source or '(none)'}"
    )
