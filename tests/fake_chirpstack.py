"""A fake ChirpStack v4 for the tests: chirpstack-api's generated DeviceService servicer on a real gRPC server on
127.0.0.1, in a process of its own (`Server`)."""

import json
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from chirpstack_api import api
from google.protobuf import empty_pb2

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.test-token"


class FakeChirpStack(api.DeviceServiceServicer):
    """Keeps devices and keys like ChirpStack does, refuses a wrong token, and writes down every call.

    Runs in its own process (`python tests/fake_chirpstack.py --serve DIR`): gRPC's threads must not live in the
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


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    serve(Path(sys.argv[2]))
