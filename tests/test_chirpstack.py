"""`citynode fleet push` against a real gRPC server serving ChirpStack v4's DeviceService (chirpstack-api's
generated servicer) on 127.0.0.1: what it receives (auth metadata, fields, tags, keys in nwk_key), idempotence,
dry runs, and the errors of a ChirpStack that refuses or does not answer."""

import json
import socket

import pytest
from fake_chirpstack import TOKEN, Server
from kit import MASTER
from kit import citynode as run

from fleet import vault
from fleet.registry import Registry

APP_ID = "1a3c2e9a-7f43-4c64-9d0c-6b0b0e6a1f00"
PROFILE = "5b9d6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"
BIN_PROFILE = "77aa6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"


@pytest.fixture
def chirpstack(tmp_path):
    s = Server(tmp_path / "chirpstack")
    yield s
    s.stop()


@pytest.fixture
def env(fleet_env, monkeypatch):
    """The fleet's registry with three devices (one retired), and ChirpStack's settings."""
    tmp_path = fleet_env
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", TOKEN)
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_APPLICATION", APP_ID)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[chirpstack]\ndevice_profile_id = "{PROFILE}"\n[chirpstack.device_profiles]\nbin = "{BIN_PROFILE}"\n'
    )
    monkeypatch.setenv("CITYNODE_CONFIG", str(cfg))
    with Registry(tmp_path / "fleet.db") as reg:
        reg.unlock(vault.Vault(MASTER))
        reg.import_devices(
            [
                {
                    "dev_eui": "70B3D57ED0010001",
                    "join_eui": "70B3D57ED0000000",
                    "role": "classair",
                    "site": "school-a",
                    "location": "room 1",
                    "status": "provisioned",
                    "board": "heltec-wifi-lora32-v3",
                    "app_key": bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"),
                },
                {
                    "dev_eui": "70B3D57ED0010002",
                    "join_eui": "70B3D57ED0000000",
                    "role": "bin",
                    "site": "beach",
                    "location": "bin 7",
                    "status": "installed",
                    "app_key": bytes([7]) * 16,
                },
                {
                    "dev_eui": "70B3D57ED0010003",
                    "join_eui": "70B3D57ED0000000",
                    "role": "bin",
                    "site": "beach",
                    "location": "bin 8",
                    "status": "retired",
                    "app_key": bytes([8]) * 16,
                },
            ]
        )
    return tmp_path


def test_push_creates_devices_and_keys(env, chirpstack):
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert "2 created" in r.stderr and "1 skipped" in r.stderr
    calls = chirpstack.calls()
    assert {c["auth"] for c in calls} == {f"Bearer {TOKEN}"}
    st = chirpstack.state()
    d = st["devices"]["70b3d57ed0010001"]
    assert d["application_id"] == APP_ID and d["device_profile_id"] == PROFILE
    assert d["join_eui"] == "70b3d57ed0000000" and not d.get("is_disabled")
    assert d["tags"] == {
        "site": "school-a",
        "location": "room 1",
        "role": "classair",
        "board": "heltec-wifi-lora32-v3",
    }
    assert d["name"] == "classair school-a room 1"
    assert d["description"] == "citynode classair at school-a / room 1"
    assert st["devices"]["70b3d57ed0010002"]["device_profile_id"] == BIN_PROFILE
    k = st["keys"]["70b3d57ed0010001"]
    assert k["nwk_key"] == "2b7e151628aed2a6abf7158809cf4f3c"  # LoRaWAN 1.0.x: the AppKey goes in nwk_key
    assert k.get("app_key", "") == ""
    assert "70b3d57ed0010003" not in st["devices"]  # retired: never created
    # Order per device: Get, Create, CreateKeys.
    assert [c["method"] for c in calls if c["dev_eui"] == "70b3d57ed0010001"] == [
        "Get",
        "Create",
        "CreateKeys",
    ]
    # The token and the keys are never printed.
    assert TOKEN not in r.output and "2b7e1516" not in r.output.lower()


def test_push_is_idempotent_and_updates_what_changed(env, chirpstack):
    run("fleet", "push", "--chirpstack", chirpstack.target)
    chirpstack.clear_calls()
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert "2 unchanged" in r.stderr
    assert {c["method"] for c in chirpstack.calls()} == {"Get", "GetKeys"}
    # Move a device and retire another: the next push updates one and disables the other.
    with Registry(env / "fleet.db") as reg:
        reg.update("70B3D57ED0010001", {"location": "room 2"})
        reg.retire("70B3D57ED0010002")
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    st = chirpstack.state()
    assert st["devices"]["70b3d57ed0010001"]["tags"]["location"] == "room 2"
    assert st["devices"]["70b3d57ed0010002"]["is_disabled"] is True
    assert "1 disabled" in r.stderr and "1 updated" in r.stderr
    # Keys that differ there are put right.
    (chirpstack.d / "tamper.json").write_text(
        json.dumps({"70b3d57ed0010001": {"dev_eui": "70b3d57ed0010001", "nwk_key": "00" * 16}})
    )
    chirpstack.clear_calls()
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert "(keys)" in r.stdout
    assert chirpstack.state()["keys"]["70b3d57ed0010001"]["nwk_key"] == "2b7e151628aed2a6abf7158809cf4f3c"
    assert "UpdateKeys" in [c["method"] for c in chirpstack.calls()]
    with Registry(env / "fleet.db") as reg:
        assert "pushed" in [e["event"] for e in reg.history("70B3D57ED0010001")]


def test_dry_run_writes_nothing(env, chirpstack):
    r = run("fleet", "push", "--chirpstack", chirpstack.target, "--dry-run")
    assert "would be created" in r.stdout and "dry run, nothing written" in r.stderr
    assert not chirpstack.state()["devices"] and {c["method"] for c in chirpstack.calls()} == {"Get"}


def test_wrong_token_is_refused_clearly(env, chirpstack, monkeypatch):
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", "wrong")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, ok=False)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "refused the API token" in r.stderr
    assert "wrong" not in r.stderr.replace("wrong master", "")
    assert not chirpstack.state()["devices"]


def test_unreachable_chirpstack(env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = run("fleet", "push", "--chirpstack", f"127.0.0.1:{port}", "--timeout", "1", ok=False)
    assert r.returncode == 2 and "not reachable" in r.stderr  # how soon: bench/giveup.py


def test_chirpstack_that_does_not_answer(env, chirpstack):
    (chirpstack.d / "delay").write_text(
        "1.5"
    )  # the server stalls each call (a sleep in its process) past 0.5 s
    r = run("fleet", "push", "--chirpstack", chirpstack.target, "--timeout", "0.5", ok=False)
    assert r.returncode == 2 and "did not answer within 0.5 s" in r.stderr


def test_missing_settings_are_named(env, chirpstack, monkeypatch):
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_APPLICATION")
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_TOKEN")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, ok=False)
    assert "application id" in r.stderr and "API token" in r.stderr
    r = run("fleet", "push", "--chirpstack", "localhost", ok=False)
    assert "HOST:PORT" in r.stderr
