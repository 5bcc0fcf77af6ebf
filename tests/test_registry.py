"""Fleet registry on real SQLite: schema, lifecycle, append-only history, atomicity, two processes at once."""

import os
import sqlite3
import subprocess
import sys

import pytest

from fleet import vault
from fleet.registry import SCHEMA_VERSION, Registry, RegistryError


@pytest.fixture
def reg(tmp_path):
    r = Registry(tmp_path / "fleet.db")
    r.unlock(vault.Vault(bytes(range(32))))
    yield r
    r.close()


def dev(n, **kw):
    d = {
        "dev_eui": f"70B3D57ED00100{n:02X}",
        "join_eui": "70B3D57ED0000000",
        "role": "classair",
        "site": "school-a",
        "location": f"room {n}",
        "status": "provisioned",
    }
    d.update(kw)
    return d


def test_schema_version_wal_and_migrations_idempotent(tmp_path):
    path = tmp_path / "fleet.db"
    Registry(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    Registry(path).close()  # opening again migrates nothing and fails nothing


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "fleet.db"
    Registry(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RegistryError, match="upgrade citynode"):
        Registry(path)


def test_add_get_list_filters(reg):
    reg.add_device(dev(1), app_key=bytes(16))
    reg.add_device(dev(2, site="school-b", role="bin"), app_key=bytes(range(16)))
    reg.add_device(dev(3, status="stock"))
    assert reg.get("70B3D57ED0010001")["location"] == "room 1"
    assert [d["dev_eui"][-2:] for d in reg.devices(site="school-a")] == ["01", "03"]
    assert [d["dev_eui"][-2:] for d in reg.devices(role="bin")] == ["02"]
    assert [d["dev_eui"][-2:] for d in reg.devices(status="stock")] == ["03"]
    assert reg.app_key("70B3D57ED0010002") == bytes(range(16))
    assert reg.app_key("70B3D57ED0010003") is None
    with pytest.raises(RegistryError, match="already in the registry"):
        reg.add_device(dev(1))


def test_keys_are_sealed_in_the_file(reg, tmp_path):
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    reg.add_device(dev(1), app_key=key)
    reg.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("fleet.db*"))
    assert len(raw) > 4096
    assert key not in raw and key.hex().encode() not in raw and key.hex().upper().encode() not in raw


def test_wrong_master_key_refused(reg, tmp_path):
    reg.add_device(dev(1), app_key=bytes(16))
    other = Registry(tmp_path / "fleet.db")
    with pytest.raises(RegistryError, match="wrong master key"):
        other.unlock(vault.Vault(bytes(32)))
    other.close()


def test_lifecycle_transitions(reg):
    reg.add_device(dev(1, status="stock"))
    reg.set_status("70B3D57ED0010001", "provisioned")
    reg.set_status("70B3D57ED0010001", "installed")
    reg.set_status("70B3D57ED0010001", "faulty", note="LED dead")
    reg.retire("70B3D57ED0010001", reason="replaced")
    d = reg.get("70B3D57ED0010001")
    assert d["status"] == "retired" and d["retired_at"] and "LED dead" in d["notes"]
    with pytest.raises(RegistryError, match="cannot become installed"):
        reg.set_status("70B3D57ED0010001", "installed")
    events = [e["event"] for e in reg.history("70B3D57ED0010001")]
    assert events == ["provisioned", "status", "installed", "faulty", "retired"]


def test_history_is_append_only(reg, tmp_path):
    reg.add_device(dev(1))
    db = sqlite3.connect(tmp_path / "fleet.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE history SET event = 'joined'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM history")
    db.close()


def test_board_events_before_provisioning_show_in_history(reg):
    reg.add_event("flashed", board_uid="f412fa4a5b7c", detail={"image": "v1.24"})
    reg.add_device(dev(1, board_uid="f412fa4a5b7c"))
    h = reg.history("70B3D57ED0010001")
    assert [e["event"] for e in h] == ["flashed", "provisioned"] and h[0]["detail"]["image"] == "v1.24"


def test_bad_fields_record_nothing(reg):
    for bad, msg in (
        (dev(1, dev_eui="12345"), "not 16 hex"),
        (dev(1, lat=91), "out of range"),
        (dev(1, site=" "), "site is empty"),
        (dev(1, status="lost"), "not one of"),
    ):
        with pytest.raises(RegistryError, match=msg):
            reg.add_device(bad, app_key=bytes(16))
    assert reg.count() == 0


def test_failed_transaction_leaves_nothing(reg):
    with pytest.raises(RuntimeError), reg.transaction():
        reg.add_device(dev(1), app_key=bytes(16))
        reg.add_event("joined", dev_eui="70B3D57ED0010001")
        raise RuntimeError("port vanished")
    assert reg.count() == 0 and reg.app_key("70B3D57ED0010001") is None
    assert reg.db.execute("SELECT count(*) FROM history").fetchone()[0] == 0


def test_import_is_all_or_nothing(reg):
    rows = [dev(i, status="stock", app_key=bytes([i]) * 16) for i in range(1, 6)]
    rows.append(dev(3, status="stock"))  # duplicate in the batch
    with pytest.raises(RegistryError, match="row 6"):
        reg.import_devices(rows)
    assert reg.count() == 0
    assert reg.import_devices(rows[:5]) == (5, 0)
    assert reg.import_devices(rows, on_conflict="skip") == (0, 6)
    assert reg.app_key("70B3D57ED0010004") == bytes([4]) * 16


def test_block_allocation_never_repeats(reg):
    got = [reg.next_block_eui("70B3D57ED0020000/62") for _ in range(4)]
    assert got == [f"70B3D57ED002000{i}" for i in range(4)]
    with pytest.raises(RegistryError, match="used up"):
        reg.next_block_eui("70B3D57ED0020000/62")


def test_join_eui_drawn_once(reg):
    j = reg.join_eui()
    assert len(j) == 16 and reg.join_eui() == j
    assert reg.join_eui("0011223344556677") == "0011223344556677"


def test_corrupt_file_is_one_clear_error(tmp_path):
    path = tmp_path / "fleet.db"
    path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(RegistryError, match="damaged or not a citynode registry"):
        Registry(path)
    assert path.read_bytes().startswith(b"this is not sqlite")  # untouched


def test_truncated_file_is_one_clear_error(tmp_path):
    path = tmp_path / "fleet.db"
    with Registry(path) as r:
        r.unlock(vault.Vault(bytes(32)))
        r.import_devices([dev(i, status="stock", app_key=bytes(16)) for i in range(200)])
        r.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * 3000 + data[3100:])
    with pytest.raises(RegistryError, match="damaged"):
        with Registry(path) as r:
            r.devices()


HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # until the test lets go
db.execute("ROLLBACK")
"""


def test_locked_database_is_one_clear_error(reg, tmp_path):
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "fleet.db")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout.readline().strip() == "locked"
        other = Registry(tmp_path / "fleet.db", timeout=0.3)
        other.unlock(vault.Vault(bytes(range(32))))
        # The lock is held until the test ends: the 0.3 s timeout must give up (how soon: bench/giveup.py).
        with pytest.raises(RegistryError, match="locked by another citynode"):
            other.add_device(dev(1), app_key=bytes(16))
        other.close()
    finally:
        p.kill()
        p.wait()
    assert reg.count() == 0


WRITER = """
import sys
from fleet.registry import Registry
from fleet import vault
path, who, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = Registry(path)
r.unlock(vault.Vault(bytes(range(32))))
for i in range(n):
    eui = f"{who:08X}{i:08X}"
    with r.transaction():
        r.add_device({"dev_eui": eui, "join_eui": "70B3D57ED0000000", "role": "bin", "site": f"s{who}",
                      "location": str(i), "status": "provisioned"}, app_key=bytes([who]) * 16)
        r.add_event("label_printed", dev_eui=eui)
    r.devices(site=f"s{who}")
print("done", flush=True)
"""


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "fleet.db"
    env = dict(os.environ, CITYNODE_DB_TIMEOUT="20")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(w), "150"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in (1, 2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    with Registry(path) as r:
        r.unlock(vault.Vault(bytes(range(32))))
        assert r.count() == 300
        assert len(r.devices(site="s1")) == 150 and len(r.devices(site="s2")) == 150
        assert r.db.execute("SELECT count(*) FROM history").fetchone()[0] == 600
        assert r.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert r.app_key("0000000200000095") == bytes([2]) * 16


OPENER = """
import sys
from fleet.registry import Registry
for i in range(int(sys.argv[2])):
    Registry(f"{sys.argv[1]}/r{i}.db").close()
print("done", flush=True)
"""


def test_two_processes_create_registries_at_once(tmp_path):
    """Two citynodes creating the same new registry race to switch it to WAL; SQLite answers that switch with
    'locked' at once, without waiting: the loser must wait and retry, not fail."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path), "100"],
            env=dict(os.environ, CITYNODE_DB_TIMEOUT="20"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done"
