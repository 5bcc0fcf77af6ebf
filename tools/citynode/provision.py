"""Provisioning one node on site: identity from the board, keys from the vault, config on the node, a record in
the registry, a label, and (optionally) proof that it joined.

Order of operations, chosen so that a failure at any point leaves nothing half-done:
1. Check the input (role, site, location, coordinates, DevEUI of a node to replace) and open the registry with
   the master key: a wrong key or a damaged registry stops here, before the board is touched.
2. Over the raw REPL (`citynode.transport`, the session deploy uses): read ``machine.unique_id()``, the board id
   from board.json, the firmware version, and what the current config.json holds (without its key) and its SHA-256.
3. Find the board's identity: the device the registry already has for this board, else an identity already
   handed to it by an unfinished run (table ``pending``), else a new one: DevEUI from the unique id (MAC-48 ->
   EUI-64) or the configured block, a fresh AppKey. A new identity goes to ``pending`` first, so a re-run after
   any failure gives the same board the same identity, never a second one.
4. Write ``config.json.tmp`` on the node, read its SHA-256 back and compare, then ``os.rename`` it over
   config.json and read that hash back too. A cable pulled before the rename leaves the old config; after it, the
   whole new one (a re-run sees the hash match and goes on).
5. Only then record the device (and, with --replace, retire the old one and link both) in ONE transaction.
6. Soft-reset the node so it boots with its new config; write its label; with --wait-join follow its serial log
   until it says it joined, or until the timeout, and say what it saw.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from citynode import fits
from citynode.base import boards, roles
from citynode.ports import PortError, open_serial
from citynode.transport import (
    BOOT_RE,
    IDENTIFY,
    LineReader,
    RawRepl,
    ReplError,
    rename_checked,
    write_checked,
)
from fleet import role_settings
from fleet import vault as vault_mod
from fleet.registry import Registry, RegistryError
from fleet.settings import Settings
from fleet.text import check_line

CONFIG = "config.json"
CONFIG_TMP = "config.json.tmp"
IDENTITY_FIELDS = ("dev_eui", "join_eui", "app_key")
RESERVED = set(IDENTITY_FIELDS) | {"app", "site", "location", "unprovisioned"}


class ProvisionError(Exception):
    """One line for the installer: what went wrong and what state the node and the registry are in."""


def bundle_hash(manifest: dict) -> str:
    """The hash `provision` records for the firmware on a node, from a bundle's manifest: SHA-256 of the sorted
    lines "<path in the slot> <sha256>\n" of the slot's files (the node computes the same over fw/<active>)."""
    lines = sorted(f"{k[3:]} {v}\n" for k, v in manifest["files"].items() if k.startswith("fw/"))
    return hashlib.sha256("".join(lines).encode()).hexdigest()


@dataclass
class NodeIdentity:
    uid: str  # hex of machine.unique_id(), lower case
    board: str | None
    version: str | None
    config: dict | None  # current config.json without its app_key
    config_sha: str | None
    bundle: str | None = None  # see bundle_hash()
    apps: list[str] | None = None  # roles the firmware on the node has


class NodeLink:
    """A raw-REPL session with one board (`citynode.transport.RawRepl`). Errors: ProvisionError."""

    def __init__(self, port: str, *, secrets: list[bytes] | None = None, timeout: float = 10.0):
        self.port = port
        self.secrets = secrets if secrets is not None else []
        self.timeout = timeout  # seconds a board may take to answer one step
        self.repl = None

    def _fail(self, doing: str, e: BaseException, state: str = "") -> ProvisionError:
        text = str(e).strip()
        text = vault_mod.redact(text.splitlines()[-1] if text else e.__class__.__name__, self.secrets)
        # TimeoutError is an OSError: ask about it first, or a silent board reads as a pulled cable.
        if isinstance(e, TimeoutError) or "timed out" in text:
            why = "the board stopped answering (cable pulled? board reset?)"
        elif (
            isinstance(e, OSError) or "went away" in text or "no such port" in text or "Input/output" in text
        ):
            why = "the port went away (cable unplugged or board reset)"
        else:
            why = text[:200]
        return ProvisionError(f"{self.port}: {doing} failed: {why}" + (f"; {state}" if state else ""))

    def open(self):
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.repl = RawRepl(self.port)
                break
            except PortError as e:
                # A port still held for a moment by the previous session (or a monitor closing) gets a retry.
                if "busy" not in str(e) or time.monotonic() > deadline:
                    raise ProvisionError(str(e)) from None
                time.sleep(0.1)
        try:
            self.repl.enter()
        except PortError as e:
            self.close()
            raise ProvisionError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - one clear line whatever the port did
            self.close()
            raise self._fail("entering the raw REPL", e) from None
        return self

    def _exec(self, code: str, doing: str, state: str = "", timeout: float | None = None) -> str:
        # A last resort against a board that stalls mid-transfer: the whole step is bounded too.
        timeout = timeout or self.timeout
        try:
            return self.repl.exec(code, timeout, limit=timeout * 1.5 + 1.0).decode(errors="replace")
        except ReplError as e:
            raise self._fail(doing, Exception(str(e).replace("the board said: ", "")), state) from None
        except Exception as e:  # noqa: BLE001 - port gone, timeout, short read: one clear line
            raise self._fail(doing, e, state) from None

    def identify(self) -> NodeIdentity:
        out = self._exec(IDENTIFY, "reading the board's identity")
        try:
            d = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise ProvisionError(
                f"{self.port}: the board's answer is not what a MicroPython node says"
            ) from None
        return NodeIdentity(
            uid=d["uid"].lower(),
            board=d.get("board"),
            version=d.get("version"),
            config=d.get("cfg"),
            config_sha=d.get("cfg_sha"),
            bundle=d.get("bundle"),
            apps=d.get("apps"),
        )

    def write_config(self, data: bytes, on_step: Callable[[str], None] | None = None) -> None:
        """config.json.tmp, hash checked, renamed over config.json, hash checked again."""
        want = hashlib.sha256(data).hexdigest()
        got = self._exec(
            write_checked(CONFIG_TMP, data), "writing config.json.tmp", "the node keeps its previous config"
        ).strip()
        if got.splitlines()[-1:] != [want]:
            raise ProvisionError(
                f"{self.port}: config.json.tmp read back with another hash: the node keeps its "
                "previous config; try again"
            )
        if on_step:
            on_step("written")
        got = self._exec(
            rename_checked(CONFIG_TMP, CONFIG),
            "switching to the new config.json",
            "the node has its previous config or the whole new one: run the same command again",
        ).strip()
        if got.splitlines()[-1:] != [want]:
            raise ProvisionError(
                f"{self.port}: config.json read back with another hash after the switch: run the "
                "same command again"
            )

    def reboot(self) -> None:
        """Leave the raw REPL and soft-reset, so main.py starts with the new config."""
        try:
            self.repl.soft_reset_and_run()
        except Exception as e:  # noqa: BLE001 - reported as one line
            raise self._fail("restarting the node", e, "its config is in place; press RST") from None

    @property
    def serial(self):
        return self.repl.ser

    def close(self):
        if self.repl is not None:
            self.repl.close()
            self.repl = None


# ------------------------------------------------------------------------------------------------ request


@dataclass
class Request:
    port: str
    app: str | None
    site: str | None
    location: str | None
    lat: float | None = None
    lon: float | None = None
    installer: str | None = None
    board: str | None = None
    replace: str | None = None
    settings: dict = field(default_factory=dict)  # extra app settings for config.json (e.g. interval_s)
    ignore_heap: bool = False  # go ahead even if the role needs more heap than the board has (citynode.fits)


@dataclass
class Result:
    device: dict
    code: str  # TR005
    label: Path | None
    resumed: bool
    wrote_config: bool
    replaced: str | None = None
    seconds: float = 0.0
    join: JoinReport | None = None


def check_request(req: Request, reg: Registry) -> tuple[dict | None, Request]:
    """Validate; with --replace, fill site/location/role from the old device. Returns (old device, request)."""
    old = None
    if req.replace:
        try:
            old_eui = vault_mod.parse_eui(req.replace, "DevEUI")
        except ValueError as e:
            raise ProvisionError(f"--replace: {e}") from None
        old = reg.get(old_eui)
        if old is None:
            raise ProvisionError(f"--replace: no device {old_eui} in the registry")
        if old["status"] == "retired":
            raise ProvisionError(f"--replace: {old_eui} is already retired")
        req.site = req.site or old["site"]
        req.location = req.location or old["location"]
        req.app = req.app or old["role"]
        if req.lat is None and req.lon is None:
            req.lat, req.lon = old["lat"], old["lon"]
    if not req.app:
        raise ProvisionError("no role: give --app (one of " + ", ".join(roles.BUILT) + ")")
    try:
        roles.check(req.app)
    except roles.UnknownRole as e:
        raise ProvisionError(str(e)) from None
    for name in ("site", "location"):
        v = getattr(req, name)
        if v is None or not str(v).strip():
            raise ProvisionError(f"--{name} is missing: say where the node is installed")
        try:
            setattr(req, name, check_line(str(v).strip(), f"--{name}"))
        except ValueError as e:
            raise ProvisionError(str(e)) from None
    if (req.lat is None) != (req.lon is None):
        raise ProvisionError("give both --lat and --lon, or neither")
    if req.lat is not None and not (-90 <= req.lat <= 90 and -180 <= req.lon <= 180):
        raise ProvisionError(f"--lat {req.lat} --lon {req.lon} is not a place on Earth")
    for k in req.settings:
        if k in RESERVED:
            raise ProvisionError(f"setting {k!r} is set by provisioning itself")
    try:
        # keys and values here; the rules between settings once the node's current config is known (node_config)
        req.settings = role_settings.check(req.app, req.settings, rules=False)
    except role_settings.SettingError as e:
        raise ProvisionError(f"--set: {e}") from None
    check_fit(req.board, req)  # --board: known before the board is touched
    return old, req


def check_fit(board_id: str | None, req: Request) -> None:
    """ProvisionError (one line, both figures) if req.app needs more heap than board `board_id` has, measured
    (citynode.fits); a board this desktop has no file for, or a role not known yet, cannot be judged and passes."""
    if not board_id or not req.app or req.ignore_heap:
        return
    try:
        spec = boards.load(board_id)
    except boards.BoardError:
        return
    try:
        fits.require(spec, req.app)
    except fits.DoesNotFit as e:
        raise ProvisionError(str(e)) from None


def node_config(req: Request, dev_eui: str, join_eui: str, app_key: bytes, current: dict | None) -> bytes:
    """The config.json bytes: identity, role, place, and app settings (kept from the node's config if same role)."""
    cfg: dict = {}
    if current and current.get("app") == req.app:
        cfg.update({k: v for k, v in current.items() if k not in RESERVED})
    try:
        role_settings.check(req.app, req.settings, base=cfg)  # the rules the given settings take part in
    except role_settings.SettingError as e:
        raise ProvisionError(f"--set: {e}") from None
    cfg.update(req.settings)
    cfg.update(
        {
            "app": req.app,
            "dev_eui": dev_eui,
            "join_eui": join_eui,
            "app_key": app_key.hex().upper(),
            "site": req.site,
            "location": req.location,
        }
    )
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _identity_for(reg: Registry, s: Settings, uid: str) -> tuple[str, bytes, dict | None, bool]:
    """(dev_eui, app_key, existing device or None, resumed). Never two identities for one board."""
    existing = reg.by_board(uid)
    if existing is not None:
        key = reg.app_key(existing["dev_eui"])
        if key is None:
            key = vault_mod.new_app_key()
        return existing["dev_eui"], key, existing, True
    pend = reg.pending(uid)
    if pend is not None:
        dev = reg.get(pend[0])
        return pend[0], pend[1], dev, True
    if s.dev_eui_block:
        try:
            dev_eui = reg.next_block_eui(s.dev_eui_block)
        except ValueError as e:
            raise ProvisionError(f"fleet.dev_eui_block: {e}") from None
    else:
        try:
            dev_eui = vault_mod.eui64_from_uid(bytes.fromhex(uid))
        except ValueError as e:
            raise ProvisionError(str(e)) from None
    dev = reg.get(dev_eui)
    key = None
    if dev is not None:
        if dev.get("board_uid") and dev["board_uid"] != uid:
            raise ProvisionError(
                f"DevEUI {dev_eui} already belongs to board {dev['board_uid']} in the registry"
            )
        key = reg.app_key(
            dev_eui
        )  # pre-provisioned by `fleet import`: its key is already on the network server
    key = key or vault_mod.new_app_key()
    reg.set_pending(uid, dev_eui, key)
    return dev_eui, key, dev, dev is not None


def provision(
    req: Request,
    reg: Registry,
    s: Settings,
    *,
    label_dir: Path | None = None,
    say: Callable[[str], None] = lambda m: None,
    reboot: bool = True,
    wait_join_s: float | None = None,
    check_network: Callable[[str], bool] | None = None,
    on_recorded: Callable[[Result], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    link_factory: Callable[[str, list], NodeLink] | None = None,
) -> Result:
    """Provision the board on req.port. `check_network(dev_eui)` (emulated boards) confirms a join server-side."""
    from fleet.labels import Label, write_png

    t0 = time.perf_counter()
    old, req = check_request(req, reg)
    secrets: list[bytes] = []
    link = (link_factory or (lambda p, sec: NodeLink(p, secrets=sec)))(req.port, secrets)
    link.open()
    try:
        ident = link.identify()
        _check_board(req, ident, old)
        dev_eui, app_key, existing, resumed = _identity_for(reg, s, ident.uid)
        secrets.append(app_key)
        join_eui = (existing or {}).get("join_eui") or reg.join_eui(s.join_eui)
        data = node_config(req, dev_eui, join_eui, app_key, ident.config)
        want = hashlib.sha256(data).hexdigest()
        wrote = ident.config_sha != want
        if wrote:
            say(f"writing config.json on {req.port}")
            link.write_config(data)
        else:
            say("the node already has this config")
        record = _record(reg, req, ident, dev_eui, join_eui, app_key, existing, old, want)
        label = Label.for_device(record, s.profile_id)
        path = None
        if label_dir is not None:
            path = write_png(label, Path(label_dir) / f"{dev_eui}.png")
            reg.add_event("label_printed", dev_eui=dev_eui, detail={"file": str(path)})
        result = Result(
            record,
            label.code,
            path,
            resumed,
            wrote,
            old["dev_eui"] if old else None,
            time.perf_counter() - t0,
        )
        if reboot or wait_join_s:
            link.reboot()
        if on_recorded:
            on_recorded(result)
        if wait_join_s:
            check = (lambda: check_network(dev_eui)) if check_network else None
            rep = wait_join(req.port, wait_join_s, ser=link.serial, check_network=check, on_line=on_line)
            result.join = rep
            if rep.joined:
                from fleet.registry import now

                result.device = reg.update(
                    dev_eui,
                    {"status": "installed", "installed_at": now(), "joined_at": now()},
                    event="joined",
                    detail={"dev_addr": rep.dev_addr, "seconds": round(rep.seconds, 1)},
                )
    finally:
        link.close()
    return result


def _check_board(req: Request, ident: NodeIdentity, old: dict | None) -> None:
    """What the board says it is and runs, against the request: before anything is written."""
    if req.board and ident.board and ident.board != req.board:
        raise ProvisionError(f"the board on {req.port} is a {ident.board}, not a {req.board}")
    if not req.board:
        check_fit(ident.board, req)  # the board says what it is (board.json)
    if ident.apps is not None and req.app not in ident.apps:
        raise ProvisionError(
            f"the firmware on {req.port} has no {req.app} app (it has: "
            f"{', '.join(ident.apps) or 'none'}): `citynode deploy --app {req.app}` first"
        )
    if old is not None and old.get("board_uid") == ident.uid:
        raise ProvisionError(f"--replace {old['dev_eui']}: that is this very board; plug in the new one")


def _record(
    reg: Registry,
    req: Request,
    ident: NodeIdentity,
    dev_eui: str,
    join_eui: str,
    app_key: bytes,
    existing: dict | None,
    old: dict | None,
    config_sha: str,
) -> dict:
    from fleet.registry import now

    t = now()
    fields = {
        "join_eui": join_eui,
        "board_uid": ident.uid,
        "role": req.app,
        "board": ident.board,
        "firmware_version": ident.version,
        "bundle_hash": ident.bundle,
        "config_hash": config_sha,
        "site": req.site,
        "location": req.location,
        "lat": req.lat,
        "lon": req.lon,
        "installer": req.installer,
        "status": "provisioned",
        "provisioned_at": t,
    }
    detail = {"site": req.site, "location": req.location, "port": req.port}
    try:
        with reg.transaction():
            if existing is None:
                fields["dev_eui"] = dev_eui
                if old is not None:
                    fields["replaces"] = old["dev_eui"]
                reg.add_device(fields, app_key=app_key, event="provisioned", detail=detail)
            else:
                if existing["site"] != req.site or existing["location"] != req.location:
                    detail["moved_from"] = f"{existing['site']} / {existing['location']}"
                if old is not None:
                    fields["replaces"] = old["dev_eui"]
                reg.update(dev_eui, fields, event="provisioned", detail=detail)
                if reg.app_key(dev_eui) != app_key:
                    reg.set_app_key(dev_eui, app_key)
            if old is not None:
                reg.update(
                    old["dev_eui"],
                    {"status": "retired", "retired_at": t, "replaced_by": dev_eui},
                    event="replaced",
                    detail={"by": dev_eui},
                )
                reg.add_event("retired", dev_eui=old["dev_eui"], detail={"reason": f"replaced by {dev_eui}"})
                reg.add_event("replaced", dev_eui=dev_eui, detail={"replaces": old["dev_eui"]})
            reg.clear_pending(ident.uid)
    except RegistryError as e:
        raise ProvisionError(
            f"{e} (the node has its new config; run the same command again to record it)"
        ) from None
    return reg.get(dev_eui)


# ------------------------------------------------------------------------------------------------ wait for the join

_JOINED = re.compile(r"lorawan: joined devaddr=([0-9a-fA-F]{8})")


@dataclass
class JoinReport:
    joined: bool
    dev_addr: str | None = None
    seconds: float = 0.0
    boots: int = 0
    tries: int = 0
    lines: list[str] = field(default_factory=list)
    why: str = ""


def explain_no_join(lines: list[str], boots: int, timeout: float) -> str:
    text = "\n".join(lines)
    if boots == 0:
        return (
            f"no boot line from the node in {timeout:g} s: is the firmware deployed (`citynode deploy`) and "
            "is this the node's serial port?"
        )
    if "no valid dev_eui/join_eui/app_key" in text:
        return "the node says its config has no valid keys: provision again"
    m = re.findall(r"error in app: (.+)", text)
    if m and not re.search(r"lorawan: join", text):
        return f"the node's app fails before it joins: {m[-1].strip()[:160]} (see `citynode monitor`)"
    m = re.findall(r"join back-off: next try in (\d+) s", text)
    if m:
        return f"the node is in join back-off (next try in {m[-1]} s): it is trying but not heard or not accepted"
    return (
        f"no join-accept in {timeout:g} s: is the device on the network server with this AppKey "
        "(`citynode fleet push` or an export), and is a gateway in range?"
    )


def wait_join(
    port: str,
    timeout: float,
    *,
    on_line: Callable[[str], None] | None = None,
    check_network: Callable[[], bool] | None = None,
    ser=None,
) -> JoinReport:
    """Follow the node's serial log until it logs its join (and `check_network()` agrees), or `timeout`."""
    own = ser is None
    if own:
        ser = open_serial(port, timeout=0.2)
    ser.timeout = 0.2
    rep = JoinReport(False)
    t0 = time.monotonic()
    lines = LineReader()
    try:
        while time.monotonic() - t0 < timeout:
            try:
                chunk = ser.read(4096)
            except Exception as e:  # noqa: BLE001 - the port went away: say so
                rep.why = f"{port}: the port went away while waiting for the join ({e.__class__.__name__})"
                break
            if not chunk:
                continue
            for line in lines.feed(chunk):
                line = line.strip()
                if not line:
                    continue
                rep.lines.append(line)
                if on_line:
                    on_line(line)
                if BOOT_RE.search(line):
                    rep.boots += 1
                m = _JOINED.search(line)
                if m:
                    rep.dev_addr = m.group(1).upper()
                    if check_network is None or check_network():
                        rep.joined = True
                        rep.seconds = time.monotonic() - t0
                        return rep
                    rep.why = "the node says it joined but the network server has no session for it"
                    return rep
    finally:
        if own:
            ser.close()
    rep.seconds = time.monotonic() - t0
    rep.why = rep.why or explain_no_join(rep.lines, rep.boots, timeout)
    return rep
