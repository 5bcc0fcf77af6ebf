"""`citynode fleet push` against a real gRPC server serving ChirpStack v4's DeviceService (chirpstack-api's
generated servicer) on 127.0.0.1: what it receives (auth metadata, fields, tags, keys in nwk_key), idempotence,
dry runs, and the errors of a ChirpStack that refuses or does not answer."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from chirpstack_api import api
from google.protobuf import empty_pb2

from fleet import vault
from fleet.registry import Registry

MASTER = bytes(range(32))
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.test-token"
APP_ID = "1a3c2e9a-7f43-4c64-9d0c-6b0b0e6a1f00"
PROFILE = "5b9d6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"
BIN_PROFILE = "77aa6a70-1a1c-4d3e-8c8f-0a8e7e2c0b11"


class FakeChirpStack(api.DeviceServiceServicer):
    """Keeps devices and keys like ChirpStack does, refuses a wrong token, and writes down every call.

    Runs in its own process (`python tests/test_chirpstack.py --serve DIR`): gRPC's threads must not live in the
    test process, whose other tests fork emulated boards. In DIR: calls.jsonl (one line per call: method,
    dev_eui, the authorization metadata, the request), state.json (devices and keys after each change); the
    test may drop delay (seconds to stall each call) and tamper.json (keys to overwrite) there.
    """

    def __init__(self, d: Path):
        self.d = d
        self.devices: dict[str, dict] = {}
        self.keys: dict[str, dict] = {}
        self.lock = threading.Lock()

    def _enter(self, name, context, eui, request):
        from google.protobuf.json_format import MessageToDict

        md = dict(context.invocation_metadata())
        with self.lock:
            tamper = self.d / "tamper.json"
            if tamper.exists():
                self.keys.update(json.loads(tamper.read_text()))
                tamper.unlink()
            with open(self.d / "calls.jsonl", "a") as f:
                f.write(
                    json.dumps(
                        {
                            "method": name,
                            "dev_eui": eui,
                            "auth": md.get("authorization", ""),
                            "request": MessageToDict(request, preserving_proto_field_name=True),
                        }
                    )
                    + "\n"
                )
        delay = self.d / "delay"
        if delay.exists():
            time.sleep(float(delay.read_text()))
        if md.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization token is invalid")

    def _save(self):
        tmp = self.d / "state.tmp"
        tmp.write_text(json.dumps({"devices": self.devices, "keys": self.keys}))
        tmp.replace(self.d / "state.json")

    def Get(self, request, context):
        from google.protobuf.json_format import ParseDict

        self._enter("Get", context, request.dev_eui, request)
        if request.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceResponse(device=ParseDict(self.devices[request.dev_eui], api.Device()))

    def Create(self, request, context):
        from google.protobuf.json_format import MessageToDict

        d = request.device
        self._enter("Create", context, d.dev_eui, request)
        if d.dev_eui in self.devices:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Object already exists")
        if not d.application_id or not d.device_profile_id:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "application_id and device_profile_id are required"
            )
        self.devices[d.dev_eui] = MessageToDict(d, preserving_proto_field_name=True)
        self._save()
        return empty_pb2.Empty()

    def Update(self, request, context):
        from google.protobuf.json_format import MessageToDict

        d = request.device
        self._enter("Update", context, d.dev_eui, request)
        if d.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        self.devices[d.dev_eui] = MessageToDict(d, preserving_proto_field_name=True)
        self._save()
        return empty_pb2.Empty()

    def CreateKeys(self, request, context):
        from google.protobuf.json_format import MessageToDict

        k = request.device_keys
        self._enter("CreateKeys", context, k.dev_eui, request)
        if k.dev_eui not in self.devices:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        if k.dev_eui in self.keys:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Object already exists")
        self.keys[k.dev_eui] = MessageToDict(k, preserving_proto_field_name=True)
        self._save()
        return empty_pb2.Empty()

    def GetKeys(self, request, context):
        from google.protobuf.json_format import ParseDict

        self._enter("GetKeys", context, request.dev_eui, request)
        if request.dev_eui not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, "Object does not exist")
        return api.GetDeviceKeysResponse(device_keys=ParseDict(self.keys[request.dev_eui], api.DeviceKeys()))

    def UpdateKeys(self, request, context):
        from google.protobuf.json_format import MessageToDict

        k = request.device_keys
        self._enter("UpdateKeys", context, k.dev_eui, request)
        self.keys[k.dev_eui] = MessageToDict(k, preserving_proto_field_name=True)
        self._save()
        return empty_pb2.Empty()


def serve(d: Path):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    api.add_DeviceServiceServicer_to_server(FakeChirpStack(d), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


class Server:
    """The fake ChirpStack's process, and what it saw."""

    def __init__(self, d: Path):
        self.d = d
        d.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(d)], stdout=subprocess.PIPE, text=True
        )
        self.target = f"127.0.0.1:{self.proc.stdout.readline().strip()}"

    def calls(self) -> list[dict]:
        p = self.d / "calls.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []

    def clear_calls(self):
        (self.d / "calls.jsonl").unlink(missing_ok=True)

    def state(self) -> dict:
        p = self.d / "state.json"
        return json.loads(p.read_text()) if p.exists() else {"devices": {}, "keys": {}}

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def chirpstack(tmp_path):
    s = Server(tmp_path / "chirpstack")
    yield s
    s.stop()


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
    """The CLI in its own process (gRPC's client threads stay out of the test process too)."""
    r = subprocess.run(
        [sys.executable, "-m", "citynode", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    r.output = r.stdout + r.stderr
    if ok:
        assert r.returncode == 0, r.output
    return r


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
    t0 = time.monotonic()
    r = run("fleet", "push", "--chirpstack", f"127.0.0.1:{port}", "--timeout", "1", ok=False)
    assert r.returncode == 2 and "not reachable" in r.stderr and time.monotonic() - t0 < 6


def test_chirpstack_that_does_not_answer(env, chirpstack):
    (chirpstack.d / "delay").write_text("1.5")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, "--timeout", "0.5", ok=False)
    assert r.returncode == 2 and "did not answer within 0.5 s" in r.stderr


def test_missing_settings_are_named(env, chirpstack, monkeypatch):
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_APPLICATION")
    monkeypatch.delenv("CITYNODE_CHIRPSTACK_TOKEN")
    r = run("fleet", "push", "--chirpstack", chirpstack.target, ok=False)
    assert "application id" in r.stderr and "API token" in r.stderr
    r = run("fleet", "push", "--chirpstack", "localhost", ok=False)
    assert "HOST:PORT" in r.stderr


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    serve(Path(sys.argv[2]))
