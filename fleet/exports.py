"""Exports of the fleet for network servers and spreadsheets, and the CSV import of a pre-provisioned batch.

- ``tts-csv``: The Things Stack's CSV importer ("the-things-stack-csv"): ';' delimiter, a header row, the columns
  it recognises (``id;dev_eui;join_eui;name;description;frequency_plan_id;lorawan_version;lorawan_phy_version;
  app_key``); ``id`` is ``eui-<deveui in lower case>``, the ID The Things Stack would give itself.
- ``tts-json``: The Things Stack's JSON importer ("the-things-stack"): a stream of EndDevice objects, one a line,
  with ``ids``, ``name``, ``description``, MAC and PHY versions, frequency plan, ``supports_join``,
  ``root_keys.app_key.key`` and our site, location, role and board as ``attributes``.
- ``csv``: our inventory, ',' delimited, every registry field; AppKeys only when asked (``with_keys``).

The network-server formats carry AppKeys in clear (their importers need them): files are written 0600 and the
command warns. Retired devices are left out of them.
"""

from __future__ import annotations

import csv
import io
import json

from citynode.base import roles

from fleet import vault as vault_mod
from fleet.settings import Settings
from fleet.text import check_line

TTS_CSV_COLUMNS = (
    "id",
    "dev_eui",
    "join_eui",
    "name",
    "description",
    "frequency_plan_id",
    "lorawan_version",
    "lorawan_phy_version",
    "app_key",
)
INVENTORY_COLUMNS = (
    "dev_eui",
    "join_eui",
    "role",
    "board",
    "site",
    "location",
    "lat",
    "lon",
    "installer",
    "status",
    "firmware_version",
    "bundle_hash",
    "serial",
    "board_uid",
    "created_at",
    "provisioned_at",
    "installed_at",
    "joined_at",
    "retired_at",
    "replaces",
    "replaced_by",
    "notes",
)
FORMATS = ("tts-csv", "tts-json", "csv")


class ExportError(ValueError):
    pass


def device_id(dev_eui: str) -> str:
    return f"eui-{dev_eui.lower()}"


def device_name(d: dict) -> str:
    parts = [d.get("role") or "node", d.get("site"), d.get("location")]
    return " ".join(str(p) for p in parts if p)


def description(d: dict) -> str:
    where = " / ".join(str(x) for x in (d.get("site"), d.get("location")) if x)
    return f"citynode {d.get('role') or 'node'}" + (f" at {where}" if where else "")


def for_network_server(devices: list[dict], keys: dict[str, bytes]) -> tuple[list[dict], list[str]]:
    """Devices a network server should know (live, with a key), and the DevEUIs left out for lack of a key."""
    out, keyless = [], []
    for d in devices:
        if d["status"] == "retired":
            continue
        if d["dev_eui"] not in keys:
            keyless.append(d["dev_eui"])
            continue
        out.append(d)
    return out, keyless


def tts_csv(devices: list[dict], keys: dict[str, bytes], settings: Settings) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(TTS_CSV_COLUMNS)
    for d in devices:
        w.writerow(
            (
                device_id(d["dev_eui"]),
                d["dev_eui"],
                d["join_eui"],
                device_name(d),
                description(d),
                settings.frequency_plan_id,
                settings.lorawan_version,
                settings.lorawan_phy_version,
                keys[d["dev_eui"]].hex().upper(),
            )
        )
    return buf.getvalue()


def tts_json(devices: list[dict], keys: dict[str, bytes], settings: Settings) -> str:
    lines = []
    for d in devices:
        attrs = {k: str(d[k])[:200] for k in ("site", "location", "role", "board") if d.get(k)}
        obj = {
            "ids": {"device_id": device_id(d["dev_eui"]), "dev_eui": d["dev_eui"], "join_eui": d["join_eui"]},
            "name": device_name(d),
            "description": description(d),
            "attributes": attrs,
            "lorawan_version": settings.lorawan_version,
            "lorawan_phy_version": settings.lorawan_phy_version,
            "frequency_plan_id": settings.frequency_plan_id,
            "supports_join": True,
            "root_keys": {"app_key": {"key": keys[d["dev_eui"]].hex().upper()}},
        }
        if d.get("lat") is not None and d.get("lon") is not None:
            obj["locations"] = {
                "user": {"latitude": d["lat"], "longitude": d["lon"], "source": "SOURCE_REGISTRY"}
            }
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def inventory_csv(devices: list[dict], keys: dict[str, bytes] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = INVENTORY_COLUMNS + (("app_key",) if keys is not None else ())
    w.writerow(cols)
    for d in devices:
        row = ["" if d.get(c) is None else d.get(c) for c in INVENTORY_COLUMNS]
        if keys is not None:
            k = keys.get(d["dev_eui"])
            row.append(k.hex().upper() if k else "")
        w.writerow(row)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ import

_ALIASES = {
    "app_eui": "join_eui",
    "app": "role",
    "appkey": "app_key",
    "deveui": "dev_eui",
    "joineui": "join_eui",
    "appeui": "join_eui",
    "latitude": "lat",
    "longitude": "lon",
}
_IMPORTABLE = {
    "dev_eui",
    "join_eui",
    "app_key",
    "role",
    "board",
    "site",
    "location",
    "lat",
    "lon",
    "installer",
    "serial",
    "board_uid",
    "notes",
    "firmware_version",
}


def parse_import(text: str, *, join_eui: str, role: str | None = None, site: str | None = None) -> list[dict]:
    """Rows of a batch CSV (',' or ';' delimited, as ours or The Things Stack's) ready for Registry.import_devices.

    Required: dev_eui, and a role (column ``role``/``app`` or the `role` argument). join_eui defaults to the
    fleet's; app_key, when absent, is drawn fresh. Errors name the line.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim, skipinitialspace=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ExportError("the file is empty") from None
    cols = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    if "dev_eui" not in cols:
        raise ExportError("no dev_eui column in the header")
    rows, seen = [], set()
    for lineno, rec in enumerate(reader, 2):
        if not any(x.strip() for x in rec):
            continue
        if len(rec) != len(cols):
            raise ExportError(f"line {lineno}: {len(rec)} fields, the header has {len(cols)}")
        raw = {c: v.strip() for c, v in zip(cols, rec, strict=True) if c in _IMPORTABLE and v.strip()}
        for c, v in raw.items():
            try:
                check_line(v, c)  # refused before anything is recorded: labels and tables could not print it
            except ValueError as e:
                raise ExportError(f"line {lineno}: {e}") from None
        try:
            row = {
                "dev_eui": vault_mod.parse_eui(raw.get("dev_eui", ""), "DevEUI"),
                "join_eui": vault_mod.parse_eui(raw.get("join_eui") or join_eui, "JoinEUI"),
            }
            if "app_key" in raw:
                row["app_key"] = vault_mod.parse_key(raw["app_key"])
            else:
                row["app_key"] = vault_mod.new_app_key()
        except ValueError as e:
            raise ExportError(f"line {lineno}: {e}") from None
        if row["dev_eui"] in seen:
            raise ExportError(f"line {lineno}: DevEUI {row['dev_eui']} appears twice in the file")
        seen.add(row["dev_eui"])
        row["role"] = raw.get("role") or role
        if not row["role"]:
            raise ExportError(f"line {lineno}: no role (add a role column or give --role)")
        try:
            roles.check(row["role"], option="role")
        except roles.UnknownRole as e:
            raise ExportError(f"line {lineno}: {e}") from None
        for k in ("board", "site", "location", "installer", "serial", "notes", "firmware_version"):
            if k in raw:
                row[k] = raw[k]
        if "board_uid" in raw:
            row["board_uid"] = raw["board_uid"].lower()
        if site and "site" not in row:
            row["site"] = site
        for k in ("lat", "lon"):
            if k in raw:
                try:
                    row[k] = float(raw[k])
                except ValueError:
                    raise ExportError(f"line {lineno}: {k} {raw[k]!r} is not a number") from None
        rows.append(row)
    return rows
