import copy
import shutil
from pathlib import Path

import pytest
from kit import HELTEC, JOIN_EUI, MASTER, install

from hil.emulator import EmulatedBoard
from hil.mpyrun import run_mpy


@pytest.fixture
def mpy():
    """Run code under the MicroPython unix port: `mpy("print(1)") == "1\\n"`."""
    return run_mpy


@pytest.fixture
def make_board(tmp_path):
    """Factory for emulated boards with their flash in tmp_path; closed at the end of the test."""
    made = []

    def factory(board="heltec-wifi-lora32-v3", app="counter", **kw):
        kw.setdefault("flash_dir", tmp_path / f"flash{len(made)}")
        b = EmulatedBoard(board, app, **kw)
        made.append(b)
        return b

    yield factory
    for b in made:
        b.close()


# ---------------------------------------------------------------- boards served on ptys


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Factory for emulated boards served on a pty (hil.serial_bridge: the real MicroPython REPL behind it), as
    `citynode emulator serve` serves them; registered as emulated ports in this test's own registry.

    `served(board, app, bundle=..., uid=..., **SerialBridge options)`: the flash is a fresh directory of tmp_path
    (or flash_dir=), with the bundle deployed on it when one is given; the USB serial is emu-N. Every board is
    closed at the end (`served.close(b)` closes one before). A device model that raised fails the test: the node
    saw an error from a sensor that is not broken."""
    from hil.serial_bridge import SerialBridge

    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(tmp_path / "ports"))
    made, model_failures, count = [], [], [0]

    def log(msg, name):
        print(f"[bridge {name}] {msg}", flush=True)
        if "device model failed" in msg:
            model_failures.append(msg)

    def factory(board=HELTEC, app=None, *, flash_dir=None, bundle=None, uid=None, **kw):
        n = count[0]
        count[0] += 1
        flash = Path(flash_dir or tmp_path / f"flash{n}")
        flash.mkdir(parents=True, exist_ok=True)
        if bundle is not None:
            install(flash, bundle)
        kw.setdefault("serial_number", f"emu-{n}")
        kw.setdefault("log", lambda m, name=kw["serial_number"]: log(m, name))
        b = SerialBridge(board, app, flash, **kw)
        if uid:
            b.eb.unique_id = bytes.fromhex(uid)
        made.append(b)
        b.start()
        return b

    def close(b):
        # Once, and only once: a second close would close file descriptor numbers that another bridge may have
        # been given since.
        made.remove(b)
        b.close()

    factory.close = close
    try:
        yield factory
    finally:
        for b in list(made):
            close(b)
    assert not model_failures, model_failures


# ---------------------------------------------------------------- fake ESP ROM loaders


@pytest.fixture
def rom(tmp_path):
    """Factory for fake ESP ROM loaders on ptys (hil.rom_loader), each flash a file in tmp_path; closed at the end."""
    from hil.rom_loader import FakeRom

    made = []

    def factory(chip="esp32s3", size="8MB", **kw):
        r = FakeRom(chip, tmp_path / f"flash{len(made)}.bin", size, **kw).start()
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


# ---------------------------------------------------------------- the fleet's registry


@pytest.fixture
def fleet_env(tmp_path, monkeypatch):
    """A registry of this test's own (tmp_path/fleet.db) sealed with kit.MASTER, and nothing of the user's
    settings: no config file, no JOIN_EUI, no ChirpStack; emulated ports in this test's own registry."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CITYNODE_DB", str(tmp_path / "fleet.db"))
    monkeypatch.setenv("CITYNODE_MASTER_KEY", MASTER.hex())
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(tmp_path / "ports"))
    for k in (
        "CITYNODE_CONFIG",
        "CITYNODE_MASTER_KEY_FILE",
        "CITYNODE_INSTALLER",
        "CITYNODE_JOIN_EUI",
        "CITYNODE_DB_TIMEOUT",
        "CITYNODE_CHIRPSTACK_TOKEN",
        "CITYNODE_CHIRPSTACK_APPLICATION",
        "CITYNODE_CHIRPSTACK_DEVICE_PROFILE",
    ):
        monkeypatch.delenv(k, raising=False)
    return tmp_path


@pytest.fixture
def provision_env(fleet_env, monkeypatch):
    """The fleet's registry, with the JoinEUI that provisioning gives the nodes."""
    monkeypatch.setenv("CITYNODE_JOIN_EUI", JOIN_EUI)
    return fleet_env


# ---------------------------------------------------------------- provisioning on served boards

# A test role that does nothing but use the link, so the join proof depends on provisioning and the MAC only.
PROBE = """
def run(node):
    dl = node.link.send(9, b"\\x01")
    node.log("probe: joined=%s downlink=%s" % (node.link.joined, dl))
    return 60
"""


@pytest.fixture(scope="session")
def provision_bundles(tmp_path_factory):
    """(firmware tree, {app: bundle}): bundles as `citynode build` makes them, the real ClassAir one and one of
    joinprobe (PROBE), built from a copy of the firmware with the probe role in it."""
    from citynode.base import boards
    from citynode.base.paths import FIRMWARE_DIR
    from citynode.build import build

    d = tmp_path_factory.mktemp("bundles")
    fw = d / "fw"
    shutil.copytree(FIRMWARE_DIR, fw, ignore=shutil.ignore_patterns("__pycache__"))
    (fw / "apps" / "joinprobe").mkdir()
    (fw / "apps" / "joinprobe" / "__init__.py").write_text(PROBE)
    spec = copy.deepcopy(boards.load(HELTEC))
    spec["apps"]["joinprobe"] = spec["apps"]["classair"]
    return fw, {
        app: build(spec, app, d / app, fw=fw, version="0.1.0-test") for app in ("classair", "joinprobe")
    }


@pytest.fixture
def provision_board(provision_env, provision_bundles, served, monkeypatch):
    """Factory for served boards ready to provision: `provision_board(uid, app, name)` has the bundle of app
    deployed and the unique id uid. The firmware tree with the probe role is the toolkit's for the test."""
    monkeypatch.setattr("citynode.base.paths.FIRMWARE_DIR", provision_bundles[0])

    def make(uid="f412fa4a5b7c", app="classair", name="flash"):
        return served(
            HELTEC,
            "classair",
            flash_dir=provision_env / f"{name}-{uid}",
            bundle=provision_bundles[1][app],
            uid=uid,
            max_sleep_s=0.5,
            register=False,
            serial_number=name,
        )

    make.close = served.close
    return make
