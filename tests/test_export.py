"""Exports for The Things Stack (CSV and JSON, field by field against its documented importer rules), the
inventory CSV, the batch import, and the CLI around them (0600 files, warnings, errors)."""

import csv
import io
import json
import os
import re
import stat

import pytest
from kit import MASTER, invoke

from fleet import exports, vault
from fleet.registry import Registry
from fleet.settings import load

# The Things Stack: device IDs are lowercase alphanumerics with single hyphens, 3 to 36 characters.
TTS_ID = re.compile(r"^[a-z0-9](?:[-]?[a-z0-9]){2,}$")
MAC_VERSIONS = {"MAC_V1_0", "MAC_V1_0_1", "MAC_V1_0_2", "MAC_V1_0_3", "MAC_V1_0_4", "MAC_V1_1"}
PHY_VERSIONS = {
    "PHY_V1_0",
    "PHY_V1_0_1",
    "PHY_V1_0_2_REV_A",
    "PHY_V1_0_2_REV_B",
    "PHY_V1_1_REV_A",
    "PHY_V1_1_REV_B",
    "PHY_V1_0_3_REV_A",
    "RP001_V1_0_2",
    "RP001_V1_0_2_REV_B",
    "RP001_V1_0_3_REV_A",
    "RP001_V1_1_REV_A",
    "RP001_V1_1_REV_B",
    "RP002_V1_0_0",
    "RP002_V1_0_1",
    "RP002_V1_0_2",
    "RP002_V1_0_3",
    "RP002_V1_0_4",
}


@pytest.fixture
def env(fleet_env):
    return fleet_env


run = invoke


def seed(tmp_path, n=3):
    with Registry(tmp_path / "fleet.db") as reg:
        reg.unlock(vault.Vault(MASTER))
        rows = [
            {
                "dev_eui": f"70B3D57ED00100{i:02X}",
                "join_eui": "70B3D57ED0000000",
                "role": "classair",
                "site": "École Ferry",
                "location": f"salle {i}; étage 1",
                "status": "provisioned",
                "board": "heltec-wifi-lora32-v3",
                "lat": 43.5 + i / 100,
                "lon": -1.5,
                "app_key": bytes([i + 1]) * 16,
            }
            for i in range(n)
        ]
        reg.import_devices(rows)
        reg.retire("70B3D57ED0010000")
    return rows


def test_tts_csv_field_by_field(env):
    seed(env)
    r = run("fleet", "export", "--format", "tts-csv", "-o", str(env / "out.csv"))
    assert "holds 2 AppKey(s) in clear" in r.stderr
    path = env / "out.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == [
        "id",
        "dev_eui",
        "join_eui",
        "name",
        "description",
        "frequency_plan_id",
        "lorawan_version",
        "lorawan_phy_version",
        "app_key",
    ]
    body = rows[1:]
    assert len(body) == 2  # the retired one is left out
    for i, row in enumerate(body, 1):
        assert len(row) == len(rows[0])  # "the same number of fields as on the header line"
        rec = dict(zip(rows[0], row, strict=True))
        assert rec["id"] == f"eui-70b3d57ed00100{i:02x}" and TTS_ID.match(rec["id"]) and len(rec["id"]) <= 36
        assert rec["dev_eui"] == f"70B3D57ED00100{i:02X}"
        assert rec["join_eui"] == "70B3D57ED0000000"
        assert rec["app_key"] == (bytes([i + 1]) * 16).hex().upper()
        assert rec["lorawan_version"] in MAC_VERSIONS and rec["lorawan_phy_version"] in PHY_VERSIONS
        assert rec["frequency_plan_id"] == "EU_863_870_TTN"
        assert rec["name"] == f"classair École Ferry salle {i}; étage 1"
    # A ';' inside a value is quoted, as the importer requires.
    assert '"classair École Ferry salle 1; étage 1"' in text


def test_tts_json_stream_field_by_field(env):
    seed(env)
    run("fleet", "export", "--format", "tts-json", "-o", str(env / "out.json"))
    lines = (env / "out.json").read_text().splitlines()
    assert len(lines) == 2
    for i, line in enumerate(lines, 1):
        obj = json.loads(line)
        assert set(obj) == {
            "ids",
            "name",
            "description",
            "attributes",
            "lorawan_version",
            "lorawan_phy_version",
            "frequency_plan_id",
            "supports_join",
            "root_keys",
            "locations",
        }
        assert obj["ids"] == {
            "device_id": f"eui-70b3d57ed00100{i:02x}",
            "dev_eui": f"70B3D57ED00100{i:02X}",
            "join_eui": "70B3D57ED0000000",
        }
        assert obj["supports_join"] is True
        assert obj["root_keys"] == {"app_key": {"key": (bytes([i + 1]) * 16).hex().upper()}}
        assert obj["lorawan_version"] == "MAC_V1_0_4" and obj["lorawan_phy_version"] == "RP002_V1_0_3"
        assert obj["attributes"] == {
            "site": "École Ferry",
            "location": f"salle {i}; étage 1",
            "role": "classair",
            "board": "heltec-wifi-lora32-v3",
        }
        assert all(TTS_ID.match(k) for k in obj["attributes"])
        assert obj["locations"]["user"]["latitude"] == pytest.approx(43.5 + i / 100)


def test_config_file_sets_versions_and_plan(env, monkeypatch):
    cfg = env / "c.toml"
    cfg.write_text(
        '[fleet]\nfrequency_plan_id = "EU_863_870"\nlorawan_version = "MAC_V1_0_3"\n'
        'lorawan_phy_version = "RP001_V1_0_3_REV_A"\n'
    )
    monkeypatch.setenv("CITYNODE_CONFIG", str(cfg))
    seed(env)
    run("fleet", "export", "--format", "tts-csv", "-o", str(env / "o.csv"))
    row = list(csv.reader(open(env / "o.csv"), delimiter=";"))[1]
    assert row[5:8] == ["EU_863_870", "MAC_V1_0_3", "RP001_V1_0_3_REV_A"]


def test_key_exports_need_a_file_or_explicit_stdout(env):
    seed(env)
    r = run("fleet", "export", "--format", "tts-csv", ok=False)
    assert r.exit_code == 2 and "give -o FILE" in r.stderr and "0101" not in r.output
    r = run("fleet", "export", "--format", "tts-csv", "-o", "-")
    assert (bytes([2]) * 16).hex().upper() in r.stdout


def test_inventory_csv_has_no_keys_unless_asked(env):
    seed(env)
    r = run("fleet", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 3 and "app_key" not in rows[0]
    assert {r["status"] for r in rows} == {"retired", "provisioned"}
    assert rows[0]["board"] == "heltec-wifi-lora32-v3"
    run("fleet", "export", "--format", "csv", "--with-keys", "-o", str(env / "inv.csv"))
    rows = list(csv.DictReader(open(env / "inv.csv")))
    assert rows[1]["app_key"] == (bytes([2]) * 16).hex().upper()


def test_import_round_trips_our_csv_and_tts_csv(env):
    seed(env)
    run("fleet", "export", "--format", "csv", "--with-keys", "-o", str(env / "inv.csv"))
    run("fleet", "export", "--format", "tts-csv", "-o", str(env / "tts.csv"))
    other = env / "other.db"
    r = run("fleet", "import", str(env / "inv.csv"), "--db", str(other))
    assert "imported 3 device(s)" in r.output
    r = run(
        "fleet", "import", str(env / "tts.csv"), "--db", str(other), "--skip-existing", "--role", "classair"
    )
    assert "skipped 2" in r.output
    with Registry(other) as reg:
        reg.unlock(vault.Vault(MASTER))
        assert reg.app_key("70B3D57ED0010002") == bytes([3]) * 16
        assert reg.get("70B3D57ED0010001")["site"] == "École Ferry"


def test_import_generates_keys_and_checks_lines(env):
    good = "dev_eui;site;location\n70B3D57ED0020001;depot;gate\n70B3D57ED0020002;depot;yard\n"
    (env / "b.csv").write_text(good)
    r = run("fleet", "import", str(env / "b.csv"), ok=False)
    assert r.exit_code == 2 and "line 2: no role" in r.stderr
    r = run("fleet", "import", str(env / "b.csv"), "--role", "bin", ok=False)
    assert r.exit_code == 2 and "--role bin: that role is not built yet" in r.stderr
    run("fleet", "import", str(env / "b.csv"), "--role", "classair")
    with Registry(env / "fleet.db") as reg:
        reg.unlock(vault.Vault(MASTER))
        k1, k2 = reg.app_key("70B3D57ED0020001"), reg.app_key("70B3D57ED0020002")
        assert len(k1) == 16 and k1 != k2
        assert reg.get("70B3D57ED0020001")["status"] == "stock"
    (env / "bad.csv").write_text("dev_eui,role\n70B3D57ED0030001,classair\n70B3D57ED003000,classair\n")
    r = run("fleet", "import", str(env / "bad.csv"), ok=False)
    assert "line 3: DevEUI '70B3D57ED003000' is not 16 hex digits" in r.stderr
    with Registry(env / "fleet.db") as reg:
        assert reg.get("70B3D57ED0030001") is None  # nothing of the bad file went in


def test_parse_import_aliases():
    rows = exports.parse_import(
        "DevEUI,AppEUI,app,latitude\n0011223344556677,8899AABBCCDDEEFF,classair,43.1\n",
        join_eui="70B3D57ED0000000",
    )
    assert (
        rows[0]["join_eui"] == "8899AABBCCDDEEFF" and rows[0]["role"] == "classair" and rows[0]["lat"] == 43.1
    )
    with pytest.raises(exports.ExportError, match="line 2: role 'toaster' is not a role"):
        exports.parse_import("dev_eui,role\n0011223344556677,toaster\n", join_eui="70B3D57ED0000000")


def test_settings_precedence(env, monkeypatch):
    cfg = env / "c.toml"
    cfg.write_text(f'[fleet]\ndb = "{env / "from-config.db"}"\njoin_eui = "0011223344556677"\n')
    monkeypatch.setenv("CITYNODE_CONFIG", str(cfg))
    monkeypatch.delenv("CITYNODE_DB")
    assert load().db == env / "from-config.db"
    monkeypatch.setenv("CITYNODE_DB", str(env / "env.db"))
    assert load().db == env / "env.db"
    assert load(db=str(env / "opt.db")).db == env / "opt.db"
    cfg.write_text("[fleet\n")
    r = run("fleet", "list", ok=False)
    assert r.exit_code == 2 and str(cfg) in r.stderr and "Traceback" not in r.output


def test_export_of_unknown_db_is_clear(env):
    r = run("fleet", "export", "--format", "csv", "--db", str(env / "nope.db"), ok=False)
    assert r.exit_code == 2 and "no registry at" in r.stderr
    assert not os.path.exists(env / "nope.db")


def test_damaged_registry_is_one_line_everywhere(env):
    (env / "fleet.db").write_bytes(b"\x00not a database\x00" * 500)
    for args in (
        ["fleet", "list"],
        ["fleet", "export", "--format", "tts-csv", "-o", str(env / "o.csv")],
        ["provision", "--port", "/dev/null", "--app", "classair", "--site", "A", "--location", "1"],
        ["label", "70B3D57ED0010001"],
        ["fleet", "show", "70B3D57ED0010001"],
    ):
        r = run(*args, ok=False)
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, args
        assert "damaged or not a citynode registry" in r.stderr
    assert not (env / "o.csv").exists()


def test_bad_dev_eui_arguments(env):
    seed(env)
    for args in (
        ["fleet", "show", "70B3D57ED001"],
        ["fleet", "retire", "XYZ"],
        ["label", "70B3D57ED00100GG"],
    ):
        r = run(*args, ok=False)
        assert r.exit_code == 2 and "is not 16 hex digits" in r.stderr
