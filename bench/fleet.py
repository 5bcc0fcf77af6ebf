"""Fleet figures, measured as an installer or an operator meets them: the `citynode` command in a fresh process.

- a registry of 10,000 devices: `citynode fleet list` and `citynode fleet export --format tts-csv` (every AppKey
  opened) each <= 1 s;
- `citynode fleet import` of a 1,000-device CSV (a fresh AppKey each, sealed) <= 3 s;
- `citynode provision` of one node end to end on an emulated serial board (pty, real MicroPython REPL, no
  --wait-join) <= 3 s.
Each is the best of three runs (the first warms the OS caches).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Spread, spread

MASTER = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def _env(d: Path) -> dict:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(d / "config"),
        XDG_DATA_HOME=str(d / "data"),
        CITYNODE_DB=str(d / "fleet.db"),
        CITYNODE_MASTER_KEY=MASTER,
        CITYNODE_JOIN_EUI="70B3D57ED0000000",
    )
    env.pop("CITYNODE_CONFIG", None)
    return env


def _cli(env, *args) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "citynode", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def _seed(db: Path, n: int):
    from fleet import vault
    from fleet.registry import Registry

    with Registry(db) as reg:
        reg.unlock(vault.Vault(bytes.fromhex(MASTER)))
        roles = ("classair", "bin", "parking", "sonometer", "greenhouse")
        reg.import_devices(
            [
                {
                    "dev_eui": f"70B3D57E{i:08X}",
                    "join_eui": "70B3D57ED0000000",
                    "role": roles[i % 5],
                    "site": f"site-{i // 40}",
                    "location": f"spot {i % 40}",
                    "status": "installed",
                    "board": "heltec-wifi-lora32-v3",
                    "app_key": os.urandom(16),
                }
                for i in range(n)
            ]
        )


def _provision(d: Path, env: dict) -> Spread:
    from citynode.build import build

    from hil.serial_bridge import SerialBridge

    bundle = build("heltec-wifi-lora32-v3", "classair", d / "bundle")
    flash = d / "flash"
    for rel in bundle.manifest["files"]:  # the board as `citynode deploy` leaves it (slot a active)
        dst = flash / (rel.replace("fw/", "fw/a/", 1) if rel.startswith("fw/") else rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.out / rel, dst)
    (flash / "fw" / "active").write_text("a")
    times = []
    for i in range(5):
        (flash / "config.json").unlink(missing_ok=True)
        with SerialBridge("heltec-wifi-lora32-v3", "classair", flash, register=False) as b:
            b.eb.unique_id = bytes.fromhex(f"f412fa4a00{i:02x}")  # a new board each time: a full provisioning
            times.append(
                _cli(
                    env,
                    "provision",
                    "--port",
                    b.path,
                    "--app",
                    "classair",
                    "--site",
                    "bench",
                    "--location",
                    f"room {i}",
                )
            )
    return Spread(tuple(sorted(times)))


def run():
    rows = []
    with tempfile.TemporaryDirectory(prefix="citynode-bench-fleet-") as tmp:
        d = Path(tmp)
        env = _env(d)
        _seed(d / "fleet.db", 10_000)
        t_list = spread(lambda: _cli(env, "fleet", "list"))
        t_export = spread(
            lambda: _cli(env, "fleet", "export", "--format", "tts-csv", "-o", str(d / "tts.csv"))
        )
        rows.append(("fleet list, 10,000 devices (CLI process)", t_list.fmt(), "<= 1 s", t_list.max <= 1.0))
        rows.append(
            (
                "fleet export tts-csv, 10,000 devices, keys opened",
                t_export.fmt(),
                "<= 1 s",
                t_export.max <= 1.0,
            )
        )

        csv_text = "dev_eui,role,site,location\n" + "".join(
            f"70B3D57F{i:08X},classair,beach,room {i}\n" for i in range(1000)
        )
        (d / "batch.csv").write_text(csv_text)

        def one_import():
            db = d / f"imp-{time.perf_counter_ns()}.db"
            return _cli(dict(env, CITYNODE_DB=str(db)), "fleet", "import", str(d / "batch.csv"))

        t_import = spread(one_import)
        rows.append(
            ("fleet import, 1,000 devices (fresh keys)", t_import.fmt(), "<= 3 s", t_import.max <= 3.0)
        )
        pd = d / "prov"
        pd.mkdir()
        t_prov = _provision(pd, _env(pd))
        rows.append(
            (
                "provision one node end to end (emulated serial board)",
                t_prov.fmt(),
                "<= 3 s",
                t_prov.max <= 3.0,
            )
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
