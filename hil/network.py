"""Put an emulated board on a LoRaWAN network: its identity in config.json, its device in the network server,
and `board.radio` connecting the two through the radio path model.

    radio = attach_network(board)                       # demo identity, a fresh server
    attach_network(board2, dev_eui=..., radio=radio)    # many boards, one server
"""

from __future__ import annotations

import json
import os
import tempfile

from hil.radio import Radio

# A fixed demo identity (locally administered EUIs) used when none is given. Not a secret worth keeping.
DEMO_DEV_EUI = "02c17e0de0000001"
DEMO_JOIN_EUI = "02c17e0de0000000"
DEMO_APP_KEY = "c17e0de0c17e0de0c17e0de0c17e0de0"


def check_identity(dev_eui: str, join_eui: str, app_key: str) -> tuple[str, str, str]:
    """Lower-cased identity, or ValueError with one line saying which value is wrong."""
    out = []
    for label, v, n in (("DevEUI", dev_eui, 16), ("JoinEUI", join_eui, 16), ("AppKey", app_key, 32)):
        v = (v or "").strip().lower()
        try:
            ok = len(v) == n and len(bytes.fromhex(v)) * 2 == n
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{label} must be {n} hex digits")
        out.append(v)
    return out[0], out[1], out[2]


def _write_config(board, updates: dict):
    path = board.flash / "config.json"
    cfg = json.loads(path.read_text()) if path.exists() else {"app": board.app}
    cfg.update(updates)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=board.flash)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def attach_network(
    board,
    *,
    dev_eui: str | None = None,
    join_eui: str | None = None,
    app_key: str | None = None,
    server=None,
    radio: Radio | None = None,
    position: tuple[float, float] = (500.0, 0.0),
    seed: int | None = None,
    path=None,
) -> Radio:
    """Provision `board` with a LoRaWAN identity and put it on `radio` (a new one with `server` and `path`, a
    fleet.lorawan.pathmodel.PathModel, if not given)."""
    dev_eui, join_eui, app_key = check_identity(
        dev_eui or DEMO_DEV_EUI, join_eui or DEMO_JOIN_EUI, app_key or DEMO_APP_KEY
    )
    if radio is None:
        radio = Radio(server, path, seed=board.seed if seed is None else seed)
    _write_config(board, {"dev_eui": dev_eui, "join_eui": join_eui, "app_key": app_key})
    radio.server.register(dev_eui, join_eui, app_key)
    radio.attach(board, position=position, name=dev_eui)
    return radio
