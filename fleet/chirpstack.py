"""Push the fleet to a ChirpStack v4 network server through its gRPC API (`chirpstack-api`'s DeviceService).

For each live device: Get it; if ChirpStack does not know it, Create it then CreateKeys (LoRaWAN 1.0.x: the
AppKey goes in ``nwk_key``, as ChirpStack v4 expects for 1.0.x devices); if it knows it, Update what differs
(name, description, profile, tags, JoinEUI) and the keys if they differ; otherwise leave it. Running the push
twice changes nothing the second time. Retired devices that ChirpStack knows are disabled, never created.

Site, location, role and board go in as tags. The application id, device profile id (per role or one for all)
and the API token (``authorization: Bearer <token>`` metadata) come from the config file or the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleet.exports import description, device_name
from fleet.settings import ChirpStackSettings
from fleet.vault import redact


class PushError(Exception):
    """One line: unreachable, timed out, token refused, a device refused (and which)."""


@dataclass
class Outcome:
    dev_eui: str
    action: str  # created | updated | unchanged | disabled | skipped
    detail: str = ""


def _grpc():
    import grpc
    from chirpstack_api import api

    return grpc, api


def tags_for(d: dict) -> dict[str, str]:
    return {k: str(d[k]) for k in ("site", "location", "role", "board") if d.get(k)}


def _wanted(d: dict, cs: ChirpStackSettings, api):
    profile = cs.profile_for(d["role"])
    return api.Device(
        dev_eui=d["dev_eui"].lower(),
        name=device_name(d),
        description=description(d),
        application_id=cs.application_id,
        device_profile_id=profile,
        join_eui=d["join_eui"].lower(),
        tags=tags_for(d),
        is_disabled=d["status"] == "retired",
    )


def _same(a, b) -> bool:
    return (
        a.name,
        a.description,
        a.application_id,
        a.device_profile_id,
        a.join_eui.lower(),
        dict(a.tags),
        a.is_disabled,
    ) == (
        b.name,
        b.description,
        b.application_id,
        b.device_profile_id,
        b.join_eui.lower(),
        dict(b.tags),
        b.is_disabled,
    )


def check_settings(cs: ChirpStackSettings, devices: list[dict]) -> None:
    missing = []
    if not cs.application_id:
        missing.append("the application id (chirpstack.application_id or CITYNODE_CHIRPSTACK_APPLICATION)")
    if not cs.token:
        missing.append("an API token (CITYNODE_CHIRPSTACK_TOKEN)")
    roles = sorted({d["role"] for d in devices if not cs.profile_for(d["role"])})
    if roles:
        missing.append(
            f"a device profile id for {', '.join(roles)} (chirpstack.device_profile_id, "
            "[chirpstack.device_profiles] or CITYNODE_CHIRPSTACK_DEVICE_PROFILE)"
        )
    if missing:
        raise PushError("ChirpStack push needs " + "; ".join(missing))


def push(
    target: str,
    devices: list[dict],
    keys: dict[str, bytes],
    cs: ChirpStackSettings,
    *,
    dry_run: bool = False,
    timeout: float = 10.0,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Bring ChirpStack at `target` (host:port) in line with `devices`. `on_done` is called after each device."""
    grpc, api = _grpc()
    check_settings(cs, devices)
    secret_list = list(keys.values()) + [cs.token.encode()]
    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials())
        if cs.tls
        else grpc.insecure_channel(target)
    )
    session = _Session(grpc, api, channel, cs.token, timeout, dry_run)
    out: list[Outcome] = []
    current = None
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise PushError(
                f"ChirpStack at {target} is not reachable (no connection within {timeout:g} s)"
            ) from None
        for d in devices:
            current = d["dev_eui"]
            o = _push_device(session, d, keys.get(d["dev_eui"]), cs)
            out.append(o)
            if on_done:
                on_done(o)
    except grpc.RpcError as e:
        raise PushError(redact(_explain(grpc, e, target, timeout, current), secret_list)) from None
    finally:
        channel.close()
    return out


class _Session:
    """ChirpStack's DeviceService on one channel: reads that say None for an object it does not have, and
    writes that a dry run leaves out."""

    def __init__(self, grpc, api, channel, token: str, timeout: float, dry_run: bool):
        self.grpc, self.api, self.timeout, self.dry_run = grpc, api, timeout, dry_run
        self.stub = api.DeviceServiceStub(channel)
        self.md = (("authorization", f"Bearer {token}"),)

    def read(self, method, request, field: str):
        try:
            return getattr(method(request, metadata=self.md, timeout=self.timeout), field)
        except self.grpc.RpcError as e:
            if e.code() != self.grpc.StatusCode.NOT_FOUND:
                raise
            return None

    def write(self, method, request):
        if not self.dry_run:
            method(request, metadata=self.md, timeout=self.timeout)


def _push_device(s: _Session, d: dict, key: bytes | None, cs: ChirpStackSettings) -> Outcome:
    """One device: created with its keys if ChirpStack does not have it, else updated (or disabled, once
    retired) where it differs."""
    api, stub = s.api, s.stub
    retired = d["status"] == "retired"
    if key is None and not retired:
        return Outcome(d["dev_eui"], "skipped", "no AppKey in the registry")
    want = _wanted(d, cs, api)
    have = s.read(stub.Get, api.GetDeviceRequest(dev_eui=want.dev_eui), "device")
    if have is None:
        if retired:
            return Outcome(d["dev_eui"], "skipped", "retired and unknown to ChirpStack")
        s.write(stub.Create, api.CreateDeviceRequest(device=want))
        keys = api.DeviceKeys(dev_eui=want.dev_eui, nwk_key=key.hex())
        s.write(stub.CreateKeys, api.CreateDeviceKeysRequest(device_keys=keys))
        return Outcome(d["dev_eui"], "created")
    changed = []
    if not _same(have, want):
        changed.append("device")
        s.write(stub.Update, api.UpdateDeviceRequest(device=want))
    if not retired and _sync_keys(s, want.dev_eui, key):
        changed.append("keys")
    action = ("disabled" if retired else "updated") if changed else "unchanged"
    return Outcome(d["dev_eui"], action, ", ".join(changed))


def _sync_keys(s: _Session, dev_eui: str, key: bytes) -> bool:
    """Put the AppKey (in nwk_key, LoRaWAN 1.0.x) on ChirpStack where it is missing or differs: True if so."""
    api, stub = s.api, s.stub
    have = s.read(stub.GetKeys, api.GetDeviceKeysRequest(dev_eui=dev_eui), "device_keys")
    new_keys = api.DeviceKeys(dev_eui=dev_eui, nwk_key=key.hex())
    if have is None:
        s.write(stub.CreateKeys, api.CreateDeviceKeysRequest(device_keys=new_keys))
        return True
    if have.nwk_key.lower() != key.hex():
        s.write(stub.UpdateKeys, api.UpdateDeviceKeysRequest(device_keys=new_keys))
        return True
    return False


def _explain(grpc, e, target: str, timeout: float, dev_eui: str | None) -> str:
    code = e.code()
    details = (e.details() or "").strip().splitlines()[0:1]
    details = details[0] if details else ""
    who = f" (at device {dev_eui})" if dev_eui else ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"ChirpStack at {target} did not answer within {timeout:g} s{who}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"ChirpStack at {target} is not reachable{who}: {details}"
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return f"ChirpStack at {target} refused the API token{who}: {details}"
    return f"ChirpStack at {target} refused{who}: {code.name} {details}"
