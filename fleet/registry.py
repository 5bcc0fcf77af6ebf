"""The fleet registry: every node the city owns, where it is, what it runs, and what happened to it.

One SQLite file (stdlib `sqlite3`), safe to use from several terminals at once: WAL journal (readers never
block the writer), a busy timeout (a second writer waits instead of failing), and every change that belongs
together in one ``BEGIN IMMEDIATE`` transaction, so the file holds all of it or none of it.

Tables (schema version in ``PRAGMA user_version``, upgraded in order by `MIGRATIONS`):
- ``devices``: identity (DevEUI, JoinEUI, board unique id, serial), role, board, firmware version and bundle hash,
  site, location, lat/lon, installer, status (stock -> provisioned -> installed -> faulty -> retired), notes and
  timestamps.
- ``secrets``: the AppKey of each device sealed by `fleet.vault` (AES-GCM under the master key); never plain.
- ``history``: append-only events (triggers refuse UPDATE and DELETE): flashed, provisioned, label_printed,
  joined, replaced, retired, ...; keyed by DevEUI, or by board unique id for what happens before a board has one.
- ``pending``: an identity handed to a board whose config write is not yet confirmed, so a re-run gives the
  same board the same identity; it becomes a device only once the board's config is checked.
- ``meta``: the fleet's JoinEUI, the master key check, the DevEUI block counter.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from fleet import vault as vault_mod

STATUSES = ("stock", "provisioned", "installed", "faulty", "retired")
EVENTS = (
    "flashed",
    "deployed",
    "imported",
    "provisioned",
    "label_printed",
    "joined",
    "installed",
    "moved",
    "status",
    "faulty",
    "replaced",
    "retired",
    "pushed",
    "note",
)
# Which status may follow which. Provisioning again (new site, new key) is allowed from any live state;
# a retired device comes back only through provisioning the same board again.
TRANSITIONS = {
    "stock": {"provisioned", "retired"},
    "provisioned": {"provisioned", "installed", "faulty", "retired"},
    "installed": {"provisioned", "installed", "faulty", "retired"},
    "faulty": {"provisioned", "installed", "retired"},
    "retired": {"provisioned"},
}
FIELDS = (
    "dev_eui",
    "join_eui",
    "board_uid",
    "serial",
    "role",
    "board",
    "firmware_version",
    "bundle_hash",
    "config_hash",
    "site",
    "location",
    "lat",
    "lon",
    "installer",
    "status",
    "notes",
    "replaces",
    "replaced_by",
    "created_at",
    "updated_at",
    "provisioned_at",
    "installed_at",
    "joined_at",
    "retired_at",
)

MIGRATIONS = [
    # 1: the first schema
    f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        dev_eui TEXT NOT NULL UNIQUE CHECK (length(dev_eui) = 16),
        join_eui TEXT NOT NULL CHECK (length(join_eui) = 16),
        board_uid TEXT UNIQUE,
        serial TEXT,
        role TEXT NOT NULL,
        board TEXT,
        firmware_version TEXT,
        bundle_hash TEXT,
        config_hash TEXT,
        site TEXT,
        location TEXT,
        lat REAL,
        lon REAL,
        installer TEXT,
        status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
        notes TEXT NOT NULL DEFAULT '',
        replaces TEXT,
        replaced_by TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        provisioned_at TEXT,
        installed_at TEXT,
        joined_at TEXT,
        retired_at TEXT
    );
    CREATE INDEX devices_site ON devices (site, location);
    CREATE INDEX devices_role ON devices (role);
    CREATE INDEX devices_status ON devices (status);
    CREATE TABLE secrets (
        dev_eui TEXT PRIMARY KEY REFERENCES devices (dev_eui),
        app_key BLOB NOT NULL,
        key_id TEXT NOT NULL
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        t TEXT NOT NULL,
        dev_eui TEXT,
        board_uid TEXT,
        event TEXT NOT NULL,
        actor TEXT,
        detail TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX history_dev ON history (dev_eui);
    CREATE INDEX history_uid ON history (board_uid);
    CREATE TRIGGER history_no_update BEFORE UPDATE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    CREATE TRIGGER history_no_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
    CREATE TABLE pending (
        board_uid TEXT PRIMARY KEY,
        dev_eui TEXT NOT NULL UNIQUE,
        app_key BLOB NOT NULL,
        key_id TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class RegistryError(Exception):
    """A registry problem in one line: missing site, unknown DevEUI, damaged or busy database, wrong key."""


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dict(row: sqlite3.Row | None) -> dict | None:
    return dict(row) if row is not None else None


def _busy(e: Exception) -> bool:
    return "locked" in str(e) or "busy" in str(e)


class Registry:
    """A connection to the registry file. Use as a context manager, or call close()."""

    def __init__(
        self, path: str | Path, *, timeout: float | None = None, create: bool = True, actor: str | None = None
    ):
        import os

        self.path = Path(path)
        self.timeout = float(timeout if timeout is not None else os.environ.get("CITYNODE_DB_TIMEOUT", 10.0))
        self.actor = actor
        self.vault: vault_mod.Vault | None = None
        self._depth = 0
        if not create and not self.path.exists():
            raise RegistryError(
                f"no registry at {self.path} (set --db, CITYNODE_DB or fleet.db in the config file)"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RegistryError(
                f"cannot create the registry's folder {self.path.parent}: {e.strerror}"
            ) from None
        try:
            self.db = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise self._error(e) from None
        self.db.row_factory = sqlite3.Row
        import time

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._open()
                break
            except sqlite3.Error as e:
                # Two citynodes opening a new registry at once: switching it to WAL needs the file to itself, and
                # SQLite answers "locked" at once there, without its busy handler. Retry until the timeout.
                if _busy(e) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self.db.close()
                raise self._error(e) from None

    def _open(self):
        self.db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        self.db.execute("PRAGMA foreign_keys = ON")
        mode = self.db.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")  # durable at each checkpoint; safe with WAL
        self._migrate()

    # ------------------------------------------------------------------------------------------ plumbing

    def _error(self, e: Exception) -> RegistryError:
        msg = str(e)
        if _busy(e):
            return RegistryError(
                f"the registry {self.path} is locked by another citynode (waited {self.timeout:g} s): try again"
            )
        if "unable to open" in msg or "readonly" in msg or "read-only" in msg:
            return RegistryError(f"cannot open the registry {self.path} for writing: {msg}")
        if isinstance(e, sqlite3.IntegrityError):
            return RegistryError(f"the registry refused the change: {msg}")
        if isinstance(e, sqlite3.DatabaseError):
            return RegistryError(f"the registry {self.path} is damaged or not a citynode registry ({msg})")
        return RegistryError(f"registry {self.path}: {msg}")

    def _migrate(self):
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"the registry {self.path} has schema version {version}; this citynode knows up to "
                f"{SCHEMA_VERSION}: upgrade citynode"
            )
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            # Someone else may have migrated while we waited for the lock: read the version again.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, SCHEMA_VERSION):
                for stmt in _statements(MIGRATIONS[i]):
                    self.db.execute(stmt)
                self.db.execute(f"PRAGMA user_version = {i + 1}")

    @contextmanager
    def transaction(self) -> Iterator[Registry]:
        """All writes inside happen together or not at all. Nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise self._error(e) from None
        self._depth = 1
        try:
            yield self
        except BaseException as exc:
            self._depth = 0
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise
        else:
            self._depth = 0
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as e:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise self._error(e) from None

    def _q(self, sql: str, args: Iterable = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, tuple(args))
        except sqlite3.Error as e:
            if self._depth:
                raise  # the transaction rolls back and reports it
            raise self._error(e) from None

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------------------------------ meta

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str):
        with self.transaction():
            self._q(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def join_eui(self, configured: str | None = None) -> str:
        """The fleet's JoinEUI: the configured one, else the one this registry drew the first time."""
        if configured:
            return vault_mod.parse_eui(configured, "JoinEUI")
        current = self.meta("join_eui")
        if current:
            return current
        with self.transaction():
            current = self.meta("join_eui")
            if not current:
                current = vault_mod.new_join_eui()
                self.set_meta("join_eui", current)
        return current

    def next_block_eui(self, block: str) -> str:
        """The next unused DevEUI of a configured block; a number once handed out is never handed out again."""
        first, size = vault_mod.parse_block(block)
        with self.transaction():
            key = f"block_next:{block.upper()}"
            while True:
                n = int(self.meta(key, "0"))
                if n >= size:
                    raise RegistryError(f"the DevEUI block {block} is used up ({size} DevEUIs)")
                self.set_meta(key, str(n + 1))
                eui = f"{first + n:016X}"
                taken = self._q(
                    "SELECT 1 FROM devices WHERE dev_eui = ? UNION SELECT 1 FROM pending WHERE dev_eui = ?",
                    (eui, eui),
                ).fetchone()
                if not taken:
                    return eui

    # ------------------------------------------------------------------------------------------ keys

    def unlock(self, vault: vault_mod.Vault) -> None:
        """Use this master key for AppKeys. A registry remembers the first key used; any other is refused."""
        token = self.meta("key_check")
        if token is None:
            with self.transaction():
                if self.meta("key_check") is None:
                    sealed = self._q("SELECT count(*) FROM secrets").fetchone()[0]
                    if sealed:
                        raise RegistryError(
                            f"the registry {self.path} has sealed keys but no key check: damaged?"
                        )
                    self.set_meta("key_check", vault.check_token().hex())
                    self.set_meta("key_id", vault.key_id)
                token = self.meta("key_check")
        if not vault.verifies(bytes.fromhex(token)):
            raise RegistryError(
                f"wrong master key: the registry {self.path} was sealed with key id {self.meta('key_id')}, "
                f"the key from {vault.master.source} has id {vault.key_id}"
            )
        self.vault = vault

    def has_secrets(self) -> bool:
        return self.meta("key_check") is not None

    def _need_vault(self) -> vault_mod.Vault:
        if self.vault is None:
            raise RegistryError(
                "no master key: set CITYNODE_MASTER_KEY or a key file (see `citynode fleet --help`)"
            )
        return self.vault

    def app_key(self, dev_eui: str) -> bytes | None:
        row = self._q("SELECT app_key FROM secrets WHERE dev_eui = ?", (dev_eui,)).fetchone()
        if row is None:
            return None
        try:
            return self._need_vault().open(dev_eui, row[0])
        except vault_mod.VaultError as e:
            raise RegistryError(str(e)) from None

    def app_keys(self) -> dict[str, bytes]:
        """Every device's AppKey, opened (for exports and pushes, which the user asked for explicitly)."""
        v = self._need_vault()
        out = {}
        try:
            for dev_eui, blob in self._q("SELECT dev_eui, app_key FROM secrets"):
                out[dev_eui] = v.open(dev_eui, blob)
        except vault_mod.VaultError as e:
            raise RegistryError(str(e)) from None
        return out

    def set_app_key(self, dev_eui: str, app_key: bytes):
        v = self._need_vault()
        with self.transaction():
            self._q(
                "INSERT INTO secrets (dev_eui, app_key, key_id) VALUES (?, ?, ?) ON CONFLICT (dev_eui) DO UPDATE "
                "SET app_key = excluded.app_key, key_id = excluded.key_id",
                (dev_eui, v.seal(dev_eui, app_key), v.key_id),
            )

    # ------------------------------------------------------------------------------------------ pending identities

    def pending(self, board_uid: str) -> tuple[str, bytes] | None:
        row = self._q("SELECT dev_eui, app_key FROM pending WHERE board_uid = ?", (board_uid,)).fetchone()
        if row is None:
            return None
        try:
            return row[0], self._need_vault().open(row[0], row[1])
        except vault_mod.VaultError as e:
            raise RegistryError(str(e)) from None

    def set_pending(self, board_uid: str, dev_eui: str, app_key: bytes):
        v = self._need_vault()
        with self.transaction():
            self._q("DELETE FROM pending WHERE board_uid = ?", (board_uid,))
            self._q(
                "INSERT INTO pending (board_uid, dev_eui, app_key, key_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (board_uid, dev_eui, v.seal(dev_eui, app_key), v.key_id, now()),
            )

    def clear_pending(self, board_uid: str):
        with self.transaction():
            self._q("DELETE FROM pending WHERE board_uid = ?", (board_uid,))

    # ------------------------------------------------------------------------------------------ devices

    def get(self, dev_eui: str) -> dict | None:
        return _dict(self._q("SELECT * FROM devices WHERE dev_eui = ?", (dev_eui,)).fetchone())

    def require(self, dev_eui: str) -> dict:
        d = self.get(dev_eui)
        if d is None:
            raise RegistryError(f"no device {dev_eui} in the registry {self.path}")
        return d

    def by_board(self, board_uid: str) -> dict | None:
        return _dict(self._q("SELECT * FROM devices WHERE board_uid = ?", (board_uid,)).fetchone())

    def devices(
        self,
        *,
        site: str | None = None,
        role: str | None = None,
        status: str | None = None,
        location: str | None = None,
    ) -> list[dict]:
        where, args = [], []
        for col, val in (("site", site), ("role", role), ("status", status), ("location", location)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = (
            "SELECT * FROM devices"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY site, location, dev_eui"
        )
        cur = self._q(sql, args)
        names = [c[0] for c in cur.description]
        cur.row_factory = None  # plain tuples: 10,000 rows become dicts twice as fast as through sqlite3.Row
        return [dict(zip(names, r, strict=True)) for r in cur]

    def count(self) -> int:
        return self._q("SELECT count(*) FROM devices").fetchone()[0]

    def add_device(
        self,
        fields: dict,
        *,
        app_key: bytes | None = None,
        event: str = "provisioned",
        detail: dict | None = None,
    ) -> dict:
        """Insert a device (and its sealed AppKey, and one history event) in one transaction."""
        f = _clean(fields)
        t = now()
        f.setdefault("status", "stock")
        f.setdefault("notes", "")
        f["created_at"] = f["updated_at"] = t
        if f["status"] == "provisioned":
            f.setdefault("provisioned_at", t)
        cols = [c for c in FIELDS if c in f]
        with self.transaction():
            if self.get(f["dev_eui"]) is not None:
                raise RegistryError(f"device {f['dev_eui']} is already in the registry")
            self._q(
                f"INSERT INTO devices ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [f[c] for c in cols],
            )
            if app_key is not None:
                self.set_app_key(f["dev_eui"], app_key)
            self.add_event(event, dev_eui=f["dev_eui"], board_uid=f.get("board_uid"), detail=detail)
        return self.get(f["dev_eui"])

    def update(
        self, dev_eui: str, fields: dict, *, event: str | None = None, detail: dict | None = None
    ) -> dict:
        f = _clean(fields)
        f.pop("dev_eui", None)
        f["updated_at"] = now()
        with self.transaction():
            old = self.require(dev_eui)
            if (
                "status" in f
                and f["status"] != old["status"]
                and f["status"] not in TRANSITIONS[old["status"]]
            ):
                raise RegistryError(f"device {dev_eui} is {old['status']}: it cannot become {f['status']}")
            sets = ", ".join(f"{c} = ?" for c in f)
            self._q(f"UPDATE devices SET {sets} WHERE dev_eui = ?", [*f.values(), dev_eui])
            if event:
                self.add_event(event, dev_eui=dev_eui, board_uid=old.get("board_uid"), detail=detail)
        return self.get(dev_eui)

    def set_status(self, dev_eui: str, status: str, *, note: str | None = None) -> dict:
        if status not in STATUSES:
            raise RegistryError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        fields: dict = {"status": status}
        stamp = {"provisioned": "provisioned_at", "installed": "installed_at", "retired": "retired_at"}.get(
            status
        )
        if stamp:
            fields[stamp] = now()
        event = {"retired": "retired", "faulty": "faulty", "installed": "installed"}.get(status, "status")
        with self.transaction():
            old = self.require(dev_eui)
            if note:
                fields["notes"] = (old["notes"] + "\n" if old["notes"] else "") + note
            return self.update(
                dev_eui,
                fields,
                event=event,
                detail={"from": old["status"], "to": status, **({"note": note} if note else {})},
            )

    def retire(self, dev_eui: str, *, reason: str | None = None) -> dict:
        return self.set_status(dev_eui, "retired", note=reason)

    # ------------------------------------------------------------------------------------------ history

    def add_event(
        self,
        event: str,
        *,
        dev_eui: str | None = None,
        board_uid: str | None = None,
        detail: dict | None = None,
        actor: str | None = None,
    ) -> int:
        """Append one event. Other tools use it too (e.g. deploy records `flashed` by board unique id)."""
        if event not in EVENTS:
            raise RegistryError(f"unknown event {event!r}")
        if dev_eui is None and board_uid is None:
            raise RegistryError("an event needs a DevEUI or a board unique id")
        with self.transaction():
            cur = self._q(
                "INSERT INTO history (t, dev_eui, board_uid, event, actor, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    now(),
                    dev_eui,
                    board_uid,
                    event,
                    actor or self.actor,
                    json.dumps(detail or {}, sort_keys=True),
                ),
            )
            return cur.lastrowid

    def history(self, dev_eui: str) -> list[dict]:
        d = self.require(dev_eui)
        rows = self._q(
            "SELECT * FROM history WHERE dev_eui = ? OR (board_uid IS NOT NULL AND board_uid = ? AND dev_eui IS NULL)"
            " ORDER BY id",
            (dev_eui, d.get("board_uid")),
        )
        out = []
        for r in rows:
            e = dict(r)
            e["detail"] = json.loads(e["detail"] or "{}")
            out.append(e)
        return out

    # ------------------------------------------------------------------------------------------ batches

    def import_devices(self, rows: list[dict], *, on_conflict: str = "error") -> tuple[int, int]:
        """Insert many devices (status stock unless given) in ONE transaction. Returns (added, skipped).

        Each row: the device fields, plus ``app_key`` (bytes) when known. on_conflict: error | skip.
        """
        v = self._need_vault()
        t = now()
        added = skipped = 0
        with self.transaction():
            existing = {r[0] for r in self._q("SELECT dev_eui FROM devices")}
            for i, row in enumerate(rows, 1):
                row = dict(row)
                key = row.pop("app_key", None)
                f = _clean(row)
                if f["dev_eui"] in existing:
                    if on_conflict == "skip":
                        skipped += 1
                        continue
                    raise RegistryError(f"row {i}: device {f['dev_eui']} is already in the registry")
                existing.add(f["dev_eui"])
                f.setdefault("status", "stock")
                f.setdefault("notes", "")
                f["created_at"] = f["updated_at"] = t
                cols = [c for c in FIELDS if c in f]
                self._q(
                    f"INSERT INTO devices ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [f[c] for c in cols],
                )
                if key is not None:
                    self._q(
                        "INSERT INTO secrets (dev_eui, app_key, key_id) VALUES (?, ?, ?)",
                        (f["dev_eui"], v.seal(f["dev_eui"], key), v.key_id),
                    )
                self._q(
                    "INSERT INTO history (t, dev_eui, event, actor, detail) VALUES (?, ?, 'imported', ?, '{}')",
                    (t, f["dev_eui"], self.actor),
                )
                added += 1
        return added, skipped


def _statements(script: str) -> list[str]:
    """Split a migration into statements (CREATE TRIGGER bodies contain ';')."""
    out, buf = [], ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _clean(fields: dict) -> dict:
    """Validate and normalise device fields (EUIs upper-case hex, status known, lat/lon numbers)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise RegistryError(f"unknown device field(s): {', '.join(sorted(unknown))}")
    f = {k: v for k, v in fields.items() if v is not None}
    try:
        if "dev_eui" in f:
            f["dev_eui"] = vault_mod.parse_eui(f["dev_eui"], "DevEUI")
        if "join_eui" in f:
            f["join_eui"] = vault_mod.parse_eui(f["join_eui"], "JoinEUI")
    except ValueError as e:
        raise RegistryError(str(e)) from None
    if "status" in f and f["status"] not in STATUSES:
        raise RegistryError(f"status {f['status']!r} is not one of {', '.join(STATUSES)}")
    for k, lo, hi in (("lat", -90, 90), ("lon", -180, 180)):
        if k in f:
            try:
                f[k] = float(f[k])
            except (TypeError, ValueError):
                raise RegistryError(f"{k} {f[k]!r} is not a number") from None
            if not lo <= f[k] <= hi:
                raise RegistryError(f"{k} {f[k]} is out of range ({lo} to {hi})")
    for k in ("site", "location", "role"):
        if k in f and not str(f[k]).strip():
            raise RegistryError(f"{k} is empty")
    return f
