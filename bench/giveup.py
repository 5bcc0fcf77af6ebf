"""How soon the toolkit gives up, in one line, when the other side is gone or stuck (the tests check the line;
the time a user waits for it is this figure):

- `flash` when the cable comes out mid-write (no reconnect loop: the port is gone) <= 3 s;
- `flash` on a port where no ESP32 bootloader answers <= 10 s;
- a registry write while another citynode holds the lock, with a 0.3 s lock timeout <= 2 s;
- `fleet push` to a ChirpStack address nobody listens on, --timeout 1 <= 6 s (the command, in its process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(fn) -> float:
    t0 = time.perf_counter()
    try:
        fn()
    except Exception:  # noqa: BLE001 - giving up is what is timed
        pass
    return time.perf_counter() - t0


def _flash_unplugged(tmp: Path) -> float:
    from citynode.base import boards
    from citynode.flash import flash_esp

    from hil.rom_image import make_firmware_image
    from hil.rom_loader import FakeRom

    image = tmp / "fw.bin"
    image.write_bytes(make_firmware_image("esp32s3", 600_000, seed=7))
    with FakeRom("esp32s3", tmp / "f.bin", "8MB", link=tmp / "ttyUSB0", unplug_after=200_000).start() as r:
        return _timed(lambda: flash_esp(r.port, boards.load("heltec-wifi-lora32-v3"), image))


def _flash_nothing_answers(tmp: Path) -> float:
    from citynode.base import boards
    from citynode.flash import flash_esp

    m, s = os.openpty()
    try:
        return _timed(lambda: flash_esp(os.ttyname(s), boards.load("heltec-wifi-lora32-v3"), tmp / "fw.bin"))
    finally:
        os.close(m)
        os.close(s)


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""


def _locked_registry(tmp: Path) -> float:
    from fleet import vault
    from fleet.registry import Registry

    path = tmp / "fleet.db"
    with Registry(path) as first:
        first.unlock(vault.Vault(bytes(range(32))))  # the master key is set before the lock is taken
    reg = Registry(path, timeout=0.3)
    reg.unlock(vault.Vault(bytes(range(32))))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        holder.stdout.readline()
        return _timed(lambda: reg.add_device(_device(), app_key=bytes(16)))
    finally:
        reg.close()
        holder.kill()
        holder.wait()


def _unreachable_chirpstack(tmp: Path) -> float:
    from fleet import vault
    from fleet.registry import Registry

    with Registry(tmp / "push.db") as reg:
        reg.unlock(vault.Vault(bytes(range(32))))
        reg.add_device(_device(), app_key=bytes(16))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    env = dict(os.environ, CITYNODE_DB=str(tmp / "push.db"), CITYNODE_MASTER_KEY=bytes(range(32)).hex(),
               CITYNODE_CHIRPSTACK_TOKEN="t", CITYNODE_CHIRPSTACK_APPLICATION="a",
               CITYNODE_CHIRPSTACK_DEVICE_PROFILE="p")  # fmt: skip
    cmd = [
        sys.executable,
        "-m",
        "citynode",
        "fleet",
        "push",
        "--chirpstack",
        f"127.0.0.1:{port}",
        "--timeout",
        "1",
    ]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    t = time.perf_counter() - t0
    if "not reachable" not in r.stderr:
        raise RuntimeError(f"fleet push did not say 'not reachable': {r.stderr}")
    return t


def _device() -> dict:
    return {"dev_eui": "70B3D57ED0010001", "join_eui": "70B3D57ED0000000", "role": "classair", "site": "s",
            "location": "l", "status": "provisioned"}  # fmt: skip


def run():
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows = [
            ("`flash`, cable out mid-write: the error", _flash_unplugged(tmp), 3.0),
            ("`flash`, no bootloader answers: the error", _flash_nothing_answers(tmp), 10.0),
            ("registry locked by another citynode (0.3 s timeout): the error", _locked_registry(tmp), 2.0),
            (
                "`fleet push`, ChirpStack unreachable (--timeout 1): the error",
                _unreachable_chirpstack(tmp),
                6.0,
            ),
        ]
    return [(what, f"{t:.2f} s", f"<= {goal:g} s", t <= goal) for what, t, goal in rows]
