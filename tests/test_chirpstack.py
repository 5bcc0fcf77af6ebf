"""`citynode fleet push` against a real gRPC server serving ChirpStack v4's DeviceService (chirpstack-api's
generated servicer) on 127.0.0.1: what it receives (auth metadata, fields, tags, keys in nwk_key), idempotence,
dry runs, and the errors of a ChirpStack that refuses or does not answer."""

import socket
import threading
import time
from concurrent import futures

import grpc
import pytest
from chirpstack_api import api
from citynode.cli import cli
from click.testing import CliRunner

from fleet import vault
from fleet.registry import Registry

MASTER = bytes(range(32))
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.test-token"
APP_ID = "1a3c2e9a-7f43-4c64-9d0c-6b0b0e6a1f00"
PROFILE = "5b9d6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"
BIN_PROFILE = "77aa6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"


class FakeChirpStack(api.DeviceServiceServicer):
    """Keeps devices and keys like ChirpStack does, and refuses a wrong token."""

    def __init__(self):
        self.devices: dict[str, api.Device] = {}
        self.keys: dict[str, api.DeviceKeys] = {}
        self.calls: list[tuple[str, str]] = []
        self.auth: list[str] = []
        self.delay = 0.0
        self.lock = threading.Lock()

    def _enter(self, name, context, eui):
        md = dict(context.invocation_metadata())
        with self.lock:
            self.calls.append((name, eui))
            self.auth.append(md.get("authorization", ""))
        if self.delay:
            time.sleep(self.delay)
        if md.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization token is invalid")

    def Get(self, request, context):
        self._enter("Get", context, request.dev_eui)
        if request.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceResponse(device=self.devices[request.dev_eui])

    def Create(self, request, context):
        d = request.device
        self._enter("Create", context, d.dev_eui)
        if d.dev_eui in self.devices:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Object already exists")
        if not d.application_id or not d.device_profile_id:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "application_id and device_profile_id are required"
            )
        self.devices[d.dev_eui] = d
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()

    def Update(self, request, context):
        d = request.device
        self._enter("Update", context, d.dev_eui)
        if d.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        self.devices[d.dev_eui] = d
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()

    def CreateKeys(self, request, context):
        k = request.device_keys
        self._enter("CreateKeys", context, k.dev_eui)
        if k.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        if k.dev_eui in self.keys:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Object already exists")
        self.keys[k.dev_eui] = k
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()

    def GetKeys(self, request, context):
        self._enter("GetKeys", context, request.dev_eui)
        if request.dev_eui not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceKeysResponse(device_keys=self.keys[request.dev_eui])

    def UpdateKeys(self, request, context):
        k = request.device_keys
        self._enter("UpdateKeys", context, k.dev_eui)
        self.keys[k.dev_eui] = k
        from google.protobuf import empty_pb2

        return empty_pb2.Empty()


@pytest.fixture
def chirpstack():
    servicer = FakeChirpStack()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_DeviceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.target = f"127.0.0.1:{port}"
    yield servicer
    server.stop(0)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CITYNODE_DB", str(tmp_path / "fleet.db"))
    monkeypatch.setenv("CITYNODE_MASTER_KEY", MASTER.hex())
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", TOKEN)
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_APPLICATION", APP_ID)
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_DEVICE_PROFILE", raising=False)
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


def run(*args, ok=True):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def test_push_creates_devices_and_keys(env, chirpstack):
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert "2 created" in r.stderr and "1 skipped" in r.stderr
    assert set(chirpstack.auth) == {f"Bearer {TOKEN}"}
    d = chirpstack.devices["70b3d57ed0010001"]
    assert d.application_id == APP_ID and d.device_profile_id == PROFILE
    assert d.join_eui == "70b3d57ed0000000" and not d.is_disabled
    assert dict(d.tags) == {
        "site": "school-a",
        "location": "room 1",
        "role": "classair",
        "board": "heltec-wifi-lora32-v3",
    }
    assert d.name == "classair school-a room 1"
    assert chirpstack.devices["70b3d57ed0010002"].device_profile_id == BIN_PROFILE
    k = chirpstack.keys["70b3d57ed0010001"]
    assert k.nwk_key == "2b7e151628aed2a6abf7158809cf4f3c"  # LoRaWAN 1.0.x: the AppKey goes in nwk_key
    assert k.app_key == ""
    assert "70b3d57ed0010003" not in chirpstack.devices  # retired: never created
    # Order per device: Get, Create, CreateKeys.
    assert [c for c in chirpstack.calls if c[1] == "70b3d57ed0010001"] == [
        ("Get", "70b3d57ed0010001"),
        ("Create", "70b3d57ed0010001"),
        ("CreateKeys", "70b3d57ed0010001"),
    ]
    # The token is never printed.
    assert TOKEN not in r.output and "2b7e1516" not in r.output.lower()


def test_push_is_idempotent_and_updates_what_changed(env, chirpstack):
    run("fleet", "push", "--chirpstack", chirpstack.target)
    chirpstack.calls.clear()
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert "2 unchanged" in r.stderr
    assert not [c for c in chirpstack.calls if c[0] not in ("Get", "GetKeys")]
    # Move a device and retire another: the next push updates one, disables none (the retired was never there)...
    with Registry(env / "fleet.db") as reg:
        reg.update("70B3D57ED0010001", {"location": "room 2"})
        reg.retire("70B3D57ED0010002")
    r = run("fleet", "push", "--chirpstack", chirpstack.target)
    assert chirpstack.devices["70b3d57ed0010001"].tags["location"] == "room 2"
    assert chirpstack.devices["70b3d57ed0010002"].is_disabled
    assert "1 disabled" in r.stderr and "1 updated" in r.stderr
    # ... and keys that differ there are put right.
    chirpstack.keys["70b3d57ed0010001"] = api.DeviceKeys(dev_eui="70b3d57ed0010001", nwk_key="00" * 16)
    run("fleet", "push", "--chirpstack", chirpstack.target)
    assert chirpstack.keys["70b3d57ed0010001"].nwk_key == "2b7e151628aed2a6abf7158809cf4f3c"
    with Registry(env / "fleet.db") as reg:
        assert "pushed" in [e["event"] for e in reg.history("70B3D57ED0010001")]


def test_dry_run_writes_nothing(env, chirpstack):
    r = run("fleet", "push", "--chirpstack", chirpstack.target, "--dry-run")
    assert "would be created" in r.stdout and "dry run, nothing written" in r.stderr
    assert not chirpstack.devices and {c[0] for c in chirpstack.calls} == {"Get"}


def test_wrong_token_is_refused_clearly(env, chirpstack, monkeypatch):
    monkeypatch.setenv("CITYNODE_CHIRPSTACK_TOKEN", "wrong")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, ok=False)
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "refused the API token" in r.stderr
    assert not chirpstack.devices


def test_unreachable_chirpstack(env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t0 = time.monotonic()
    r = run("fleet", "push", "--chirpstack", f"127.0.0.1:{port}", "--timeout", "1", ok=False)
    assert r.exit_code == 2 and "not reachable" in r.stderr and time.monotonic() - t0 < 5


def test_chirpstack_that_does_not_answer(env, chirpstack):
    chirpstack.delay = 1.5
    r = run("fleet", "push", "--chirpstack", chirpstack.target, "--timeout", "0.5", ok=False)
    assert r.exit_code == 2 and "did not answer within 0.5 s" in r.stderr


def test_missing_settings_are_named(env, chirpstack, monkeypatch):
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_APPLICATION")
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_TOKEN")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, ok=False)
    assert "application id" in r.stderr and "API token" in r.stderr
    r = run("fleet", "push", "--chirpstack", "localhost", ok=False)
    assert "HOST:PORT" in r.stderr
