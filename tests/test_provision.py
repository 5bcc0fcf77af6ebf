"""`citynode provision` end to end on an emulated serial board (a pty with the real MicroPython REPL, driven by
mpremote's raw-REPL transport): identity, keys, the config on the node, the registry, labels, resuming, the
replacement of a broken node, the errors that must leave nothing half-written, and the join with the very keys
that provisioning wrote, seen by the emulated network server."""

import hashlib
import json
import shutil
import threading

import pytest
import zxingcpp
from citynode import boards
from citynode.cli import cli
from citynode.paths import FIRMWARE_DIR
from click.testing import CliRunner
from PIL import Image

from fleet import vault
from fleet.provision import NodeLink, ProvisionError, Request, bundle_hash, provision
from fleet.registry import Registry
from fleet.settings import load

serial_bridge = pytest.importorskip("hil.serial_bridge")

MASTER = bytes(range(32))
UID = "f412fa4a5b7c"
DEV_EUI = "F412FAFFFE4A5B7C"  # the MAC with FFFE in the middle


# A test role that does nothing but use the link, so the join proof depends on provisioning and the MAC only.
PROBE = """
def run(node):
    dl = node.link.send(9, b"\\x01")
    node.log("probe: joined=%s downlink=%s" % (node.link.joined, dl))
    return 60
"""
BOARD = "heltec-wifi-lora32-v3"


@pytest.fixture(autouse=True)
def probe_role(monkeypatch):
    """joinprobe, the probe app these tests build (PROBE), counts as a built role here."""
    from fleet import roles

    monkeypatch.setattr(roles, "BUILT", [*roles.BUILT, "joinprobe"])


@pytest.fixture(scope="session")
def bundles(tmp_path_factory):
    """Bundles as `citynode build` makes them: the real ClassAir one, and one of the probe role."""
    import copy

    from citynode.build import build

    d = tmp_path_factory.mktemp("bundles")
    fw = d / "fw"
    shutil.copytree(FIRMWARE_DIR, fw, ignore=shutil.ignore_patterns("__pycache__"))
    (fw / "apps" / "joinprobe").mkdir()
    (fw / "apps" / "joinprobe" / "__init__.py").write_text(PROBE)
    spec = copy.deepcopy(boards.load(BOARD))
    spec["apps"]["joinprobe"] = spec["apps"]["classair"]
    return fw, {
        app: build(spec, app, d / app, fw=fw, version="0.1.0-test") for app in ("classair", "joinprobe")
    }


def install(flash, bundle):
    """What `citynode deploy` leaves on a board: the loader, board.json, the slot fw/a, fw/active."""
    flash.mkdir(parents=True, exist_ok=True)
    for rel in bundle.manifest["files"]:
        dst = flash / rel.replace("fw/", "fw/a/", 1) if rel.startswith("fw/") else flash / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.out / rel, dst)
    (flash / "fw" / "active").write_text("a")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CITYNODE_DB", str(tmp_path / "fleet.db"))
    monkeypatch.setenv("CITYNODE_MASTER_KEY", MASTER.hex())
    monkeypatch.setenv("CITYNODE_JOIN_EUI", "70B3D57ED0000000")
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(tmp_path / "ports"))
    for k in ("CITYNODE_CONFIG", "CITYNODE_MASTER_KEY_FILE", "CITYNODE_INSTALLER"):
        monkeypatch.delenv(k, raising=False)
    return tmp_path


@pytest.fixture
def firmware(bundles, monkeypatch):
    """The firmware tree with the probe role, known to provisioning's role check."""
    monkeypatch.setattr("citynode.paths.FIRMWARE_DIR", bundles[0])
    return bundles[0]


@pytest.fixture
def board(env, firmware, bundles):
    """Emulated boards with a bundle deployed, each served on a pty (the real MicroPython REPL behind it)."""
    made = []
    model_failures = []  # a device model that raised: the node saw EIO from a sensor that is not broken

    def log(msg, name):
        print(f"[bridge {name}] {msg}", flush=True)
        if "device model failed" in msg:
            model_failures.append(msg)

    def make(uid=UID, app="classair", name="flash"):
        flash = env / f"{name}-{uid}"
        install(flash, bundles[1][app])
        b = serial_bridge.SerialBridge(
            BOARD,
            "classair",
            flash,
            max_sleep_s=0.5,
            register=False,
            log=lambda m, n=name: log(m, n),
        )
        b.eb.unique_id = bytes.fromhex(uid)
        b.start()
        made.append(b)
        return b

    def close(b):
        # Close a bridge once, and only once: a second close would close file descriptor numbers that another
        # bridge may have been given since.
        made.remove(b)
        b.close()

    make.close = close
    yield make
    for b in list(made):
        close(b)
    assert not model_failures, model_failures


def run(*args, ok=True):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def registry():
    reg = Registry(load().db)
    reg.unlock(vault.Vault(MASTER))
    return reg


def node_config(b) -> dict:
    return json.loads((b.flash / "config.json").read_text())


def test_provision_writes_keys_records_and_labels(board, bundles):
    b = board()
    r = run(
        "provision",
        "--port",
        b.path,
        "--app",
        "classair",
        "--site",
        "École Ferry",
        "--location",
        "salle 12",
        "--lat",
        "43.48",
        "--lon",
        "-1.55",
        "--installer",
        "Ana",
    )
    assert f"provisioned {DEV_EUI} (classair) at École Ferry / salle 12" in r.stdout
    code = f"LW:D0:70B3D57ED0000000:{DEV_EUI}:00000000:S{UID.upper()}"
    assert f"TR005  {code}" in r.stdout
    cfg = node_config(b)
    with registry() as reg:
        d = reg.get(DEV_EUI)
        key = reg.app_key(DEV_EUI)
        assert (
            d["status"] == "provisioned" and d["board_uid"] == UID and d["board"] == "heltec-wifi-lora32-v3"
        )
        assert d["installer"] == "Ana" and d["lat"] == 43.48 and d["firmware_version"] == "0.1.0-test"
        assert d["bundle_hash"] == bundle_hash(bundles[1]["classair"].manifest)
        assert d["config_hash"] == hashlib.sha256((b.flash / "config.json").read_bytes()).hexdigest()
        events = [e["event"] for e in reg.history(DEV_EUI)]
    assert events == ["provisioned", "label_printed"]
    assert cfg == {
        "app": "classair",
        "dev_eui": DEV_EUI,
        "join_eui": "70B3D57ED0000000",
        "app_key": key.hex().upper(),
        "site": "École Ferry",
        "location": "salle 12",
    }
    assert key.hex() not in r.output.lower()
    assert not (b.flash / "config.json.tmp").exists()
    label = r.stdout.split("label  ")[1].split()[0]
    assert [x.text for x in zxingcpp.read_barcodes(Image.open(label))] == [code]


def test_rerun_resumes_same_identity(board):
    b = board()
    run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    first = node_config(b)
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    assert "re-provisioned" in r.stdout and "already had this config" in r.stdout
    assert node_config(b) == first
    # Moving it keeps the identity and the key, and says where it came from.
    run("provision", "--port", b.path, "--app", "classair", "--site", "B", "--location", "2")
    cfg = node_config(b)
    assert (cfg["dev_eui"], cfg["app_key"]) == (first["dev_eui"], first["app_key"]) and cfg["site"] == "B"
    with registry() as reg:
        assert reg.count() == 1
        h = reg.history(DEV_EUI)
        assert h[-2]["detail"]["moved_from"] == "A / 1"


def test_block_allocation_and_pending_identity_survive_a_failure(board, env, monkeypatch):
    cfg = env / "c.toml"
    cfg.write_text('[fleet]\ndev_eui_block = "70B3D57ED0100000/48"\n')
    monkeypatch.setenv("CITYNODE_CONFIG", str(cfg))
    b = board()
    # The cable goes 60 bytes into the write of config.json.tmp.
    orig = NodeLink.write_config

    def cut(self, data, on_step=None):
        b.unplug_after_bytes = b.bytes_from_host + 60
        return orig(self, data, on_step)

    monkeypatch.setattr(NodeLink, "write_config", cut)
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1", ok=False)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "the port went away" in r.stderr and "keeps its previous config" in r.stderr
    assert "Traceback" not in r.output
    with registry() as reg:
        assert reg.count() == 0  # nothing recorded
        assert reg.pending(UID)[0] == "70B3D57ED0100000"
    monkeypatch.setattr(NodeLink, "write_config", orig)
    b.replug()
    run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    assert node_config(b)["dev_eui"] == "70B3D57ED0100000"  # the same identity, not the block's next one
    with registry() as reg:
        assert reg.count() == 1 and reg.pending(UID) is None


def test_unplug_during_write_keeps_old_config_whole(board, monkeypatch):
    b = board()
    run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    before = (b.flash / "config.json").read_bytes()
    orig = NodeLink.write_config

    def cut(self, data, on_step=None):
        b.unplug_after_bytes = b.bytes_from_host + 150
        return orig(self, data, on_step)

    monkeypatch.setattr(NodeLink, "write_config", cut)
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "B", "--location", "2", ok=False)
    assert r.exit_code == 2 and "keeps its previous config" in r.stderr
    assert (b.flash / "config.json").read_bytes() == before
    with registry() as reg:
        assert reg.get(DEV_EUI)["site"] == "A"


def test_replace_moves_place_and_retires_old(board):
    old = board(uid="f412fa4a0001", name="old")
    run(
        "provision",
        "--port",
        old.path,
        "--app",
        "classair",
        "--site",
        "Ferry",
        "--location",
        "salle 3",
        "--lat",
        "43.4",
        "--lon",
        "-1.5",
    )
    board.close(old)  # the broken node leaves
    new = board(uid="f412fa4a0002", name="new")
    r = run("provision", "--port", new.path, "--replace", "F412FAFFFE4A0001")
    assert "replacing F412FAFFFE4A0001" in r.stdout
    with registry() as reg:
        o, n = reg.get("F412FAFFFE4A0001"), reg.get("F412FAFFFE4A0002")
        assert o["status"] == "retired" and o["replaced_by"] == "F412FAFFFE4A0002"
        assert (n["site"], n["location"], n["lat"], n["role"]) == ("Ferry", "salle 3", 43.4, "classair")
        assert n["replaces"] == "F412FAFFFE4A0001"
        assert [e["event"] for e in reg.history("F412FAFFFE4A0001")][-2:] == ["replaced", "retired"]
        assert "replaced" in [e["event"] for e in reg.history("F412FAFFFE4A0002")]
    assert node_config(new)["location"] == "salle 3"


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--app", "classair", "--location", "1"], "--site is missing"),
        (["--app", "classair", "--site", "A"], "--location is missing"),
        (["--app", "toaster", "--site", "A", "--location", "1"], "not a role"),
        (["--app", "counter", "--site", "A", "--location", "1"], "counter is a tool app, not a role"),
        (["--app", "bin", "--site", "A", "--location", "1"], "bin: that role is not built yet"),
        (
            ["--app", "classair", "--site", "A", "--location", "1", "--lat", "95", "--lon", "0"],
            "not a place on Earth",
        ),
        (
            ["--app", "classair", "--site", "A", "--location", "1", "--replace", "F412FAFF"],
            "not 16 hex digits",
        ),
        (
            ["--app", "classair", "--site", "A", "--location", "1", "--replace", "0011223344556677"],
            "no device",
        ),
        (
            ["--app", "classair", "--site", "A", "--location", "1", "--board", "rp2040-lora"],
            "not a rp2040-lora",
        ),
    ],
)
def test_bad_input_touches_nothing(board, args, msg):
    b = board()
    before = (b.flash / "config.json").read_bytes() if (b.flash / "config.json").exists() else None
    r = run("provision", "--port", b.path, *args, ok=False)
    assert r.exit_code == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    after = (b.flash / "config.json").read_bytes() if (b.flash / "config.json").exists() else None
    assert after == before
    with registry() as reg:
        assert reg.count() == 0


def test_wrong_master_key_stops_before_the_board(board, monkeypatch):
    b = board()
    run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    cfg = (b.flash / "config.json").read_bytes()
    monkeypatch.setenv("CITYNODE_MASTER_KEY", bytes(32).hex())
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "B", "--location", "1", ok=False)
    assert r.exit_code == 2 and "wrong master key" in r.stderr
    assert (b.flash / "config.json").read_bytes() == cfg


def test_locked_registry_is_one_line(board, env, monkeypatch):
    b = board()
    monkeypatch.setenv("CITYNODE_DB_TIMEOUT", "0.3")
    with registry():
        pass
    import sqlite3

    holder = sqlite3.connect(env / "fleet.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = run(
            "provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1", ok=False
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 2 and "locked by another citynode" in r.stderr


def test_vanished_port_is_one_line(env):
    r = run(
        "provision",
        "--port",
        str(env / "ttyUSB9"),
        "--app",
        "classair",
        "--site",
        "A",
        "--location",
        "1",
        ok=False,
    )
    assert r.exit_code == 2 and "no such port" in r.stderr


def test_keys_written_are_the_keys_the_node_joins_with(board):
    """The end-to-end proof: provision, register what the registry holds on the network server (what
    `fleet push` does for ChirpStack), and the node joins: the server checked the join-request's MIC with that
    AppKey and the node decrypted the join-accept with the AppKey in its config.json."""
    from fleet.lorawan.server import NetworkServer
    from hil.radio import Radio

    b = board(app="joinprobe")
    radio = Radio(NetworkServer(seed=1), seed=1)
    radio.attach(b.eb)

    def push(result):
        with registry() as reg:
            d = result.device
            radio.server.register(d["dev_eui"], d["join_eui"], reg.app_key(d["dev_eui"]).hex())

    lines = []
    with registry() as reg:
        res = provision(
            Request(port=b.path, app="joinprobe", site="A", location="1"),
            reg,
            load(),
            wait_join_s=30,
            on_recorded=push,
            on_line=lines.append,
            check_network=lambda eui: radio.server.session(eui.lower()) is not None,
        )
        assert res.join.joined, (res.join.why, lines[-20:])
        assert res.device["status"] == "installed" and res.device["joined_at"]
        assert "joined" in [e["event"] for e in reg.history(DEV_EUI)]
        key = reg.app_key(DEV_EUI)
    assert radio.server.session(DEV_EUI.lower()) is not None
    assert node_config(b)["app_key"] == key.hex().upper()
    joins = [f for f in radio.frames if f["frame"] == "join_request"]
    assert joins and all(f["mic_ok"] for f in joins) and joins[0]["dev_eui"].upper() == DEV_EUI


def test_join_timeout_says_why(board):
    """Not registered on the network server: the node never gets a join-accept, and the error says so."""
    from fleet.lorawan.server import NetworkServer
    from hil.radio import Radio

    b = board(app="joinprobe")
    Radio(NetworkServer(seed=1), seed=1).attach(b.eb)
    with registry() as reg:
        res = provision(
            Request(port=b.path, app="joinprobe", site="A", location="1"), reg, load(), wait_join_s=3
        )
        assert not res.join.joined
        assert "no join-accept" in res.join.why or "join back-off" in res.join.why
        assert reg.get(DEV_EUI)["status"] == "provisioned"


def test_two_provisions_at_once_from_two_terminals(board):
    """Two installers, two boards, one registry: both recorded, neither corrupts the other."""
    b1, b2 = board(uid="f412fa4a0011", name="t1"), board(uid="f412fa4a0012", name="t2")
    errors = []

    def go(b, loc):
        try:
            with Registry(load().db) as reg:
                reg.unlock(vault.Vault(MASTER))
                provision(Request(port=b.path, app="classair", site="A", location=loc), reg, load())
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    ts = [threading.Thread(target=go, args=(b, f"room {i}")) for i, b in enumerate((b1, b2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert not errors, errors
    with registry() as reg:
        assert {d["dev_eui"] for d in reg.devices()} == {"F412FAFFFE4A0011", "F412FAFFFE4A0012"}


def test_failure_after_the_write_resumes_without_rewriting(board, monkeypatch):
    """The node got its whole new config but the registry could not record it: the re-run finds the same
    identity pending, sees the node's config hash already right, and records it."""
    import fleet.provision as prov

    b = board()
    orig = prov._record

    def fail(*a, **kw):
        raise ProvisionError("the registry refused (simulated)")

    monkeypatch.setattr(prov, "_record", fail)
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1", ok=False)
    assert r.exit_code == 2
    written = node_config(b)
    with registry() as reg:
        assert reg.count() == 0 and reg.pending(UID)[1].hex().upper() == written["app_key"]
    monkeypatch.setattr(prov, "_record", orig)
    r = run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1")
    assert "already had this config" in r.stdout
    assert node_config(b) == written
    with registry() as reg:
        assert reg.app_key(DEV_EUI).hex().upper() == written["app_key"]


def test_preregistered_batch_then_wait_join_from_the_cli(board, env):
    """The workshop imports a batch with its keys and registers it on the network server; on site the installer
    runs `provision --wait-join`: the board adopts the imported identity (its DevEUI from the MAC) and key, and
    the command returns once the node has joined."""
    from fleet.lorawan.server import NetworkServer
    from hil.radio import Radio

    key = "2B7E151628AED2A6ABF7158809CF4F3C"
    (env / "batch.csv").write_text(
        f"dev_eui;join_eui;app_key;role\n{DEV_EUI};70B3D57ED0000000;{key};joinprobe\n"
    )
    run("fleet", "import", str(env / "batch.csv"))
    b = board(app="joinprobe")
    radio = Radio(NetworkServer(seed=2), seed=2)
    radio.attach(b.eb)
    radio.server.register(DEV_EUI, "70B3D57ED0000000", key)  # what `fleet push` does on a real network server
    r = run(
        "provision",
        "--port",
        b.path,
        "--app",
        "joinprobe",
        "--site",
        "depot",
        "--location",
        "bay 1",
        "--wait-join",
        "--join-timeout",
        "30",
        "--json",
    )
    out = json.loads(r.stdout)
    assert out["joined"] is True and out["status"] == "installed" and out["resumed"] is True
    assert out["dev_addr"] == f"{radio.server.session(DEV_EUI.lower())['dev_addr']:08X}"
    assert node_config(b)["app_key"] == key
    assert key not in r.output
    with registry() as reg:
        events = [e["event"] for e in reg.history(DEV_EUI)]
    assert events[0] == "imported" and "provisioned" in events and events[-1] == "joined"


def test_a_board_that_stalls_mid_transfer_fails_in_one_line(env):
    """A device that enters the raw REPL, grants one raw-paste window and then never another (a wedged USB
    bridge): provisioning gives up with one line instead of waiting for ever, and records nothing."""
    import os
    import struct
    import time

    from fleet.settings import load

    master, slave = os.openpty()
    stop = threading.Event()

    def device():
        buf = b""
        while not stop.is_set():
            try:
                data = os.read(master, 1024)
            except OSError:
                return
            buf += data
            if b"\x01" in buf and b"\x05A\x01" not in buf:
                os.write(master, b"raw REPL; CTRL-B to exit\r\n>")
                buf = b""
            elif b"\x05A\x01" in buf:
                os.write(master, b"R\x01" + struct.pack("<H", 32))
                buf = b""  # and never a second window

    t = threading.Thread(target=device, daemon=True)
    t.start()
    port = os.ttyname(slave)
    t0 = time.monotonic()
    try:
        with registry() as reg:
            with pytest.raises(ProvisionError) as e:
                provision(
                    Request(port=port, app="classair", site="A", location="1"),
                    reg,
                    load(),
                    link_factory=lambda p, sec: NodeLink(p, secrets=sec, timeout=1.0),
                )
            assert reg.count() == 0
    finally:
        stop.set()
        os.close(slave)
        os.close(master)
    assert "reading the board's identity failed" in str(e.value) and "\n" not in str(e.value)
    assert "the board stopped answering" in str(e.value)  # not "the port went away": the cable is in
    assert time.monotonic() - t0 < 10


def test_app_settings_go_in_the_config_and_survive_a_move(board):
    b = board()
    run(
        "provision",
        "--port",
        b.path,
        "--app",
        "classair",
        "--site",
        "A",
        "--location",
        "1",
        "--set",
        "interval_s=300",
        "--set",
        "red_ppm=1200",
    )
    cfg = node_config(b)
    assert cfg["interval_s"] == 300 and cfg["red_ppm"] == 1200
    run("provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "2")
    assert node_config(b)["interval_s"] == 300  # kept from the node's config
    r = run(
        "provision",
        "--port",
        b.path,
        "--app",
        "classair",
        "--site",
        "A",
        "--location",
        "2",
        "--set",
        "app_key=00",
        ok=False,
    )
    assert r.exit_code == 2 and "set by provisioning itself" in r.stderr


def test_settings_are_checked_against_the_roles_ranges_and_rules(board):
    b = board()
    base = ["provision", "--port", b.path, "--app", "classair", "--site", "A", "--location", "1"]
    for item, words in [
        ("tz_min=61", "--set: tz_min: 61 is not a multiple of 15 min"),
        ("colour=red", "--set: classair has no setting 'colour' (settings: interval_s,"),
        (
            "orange_ppm=900",
            "--set: orange_ppm must be below red_ppm (or 0) (orange_ppm=900, red_ppm=800): orange comes before "
            "red; red_ppm=800 by default",
        ),
    ]:
        r = run(*base, "--set", item, ok=False)
        assert r.exit_code == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (b.flash / "config.json").exists()  # nothing written
    run(*base, "--set", "red_ppm=1200", "--set", "dst=none")
    run(*base, "--set", "orange_ppm=900")  # over the node's red_ppm, kept from its config
    assert node_config(b)["orange_ppm"] == 900 and node_config(b)["red_ppm"] == 1200
    r = run(*base, "--set", "red_ppm=850", ok=False)
    assert r.exit_code == 2 and "(orange_ppm=900, red_ppm=850)" in r.stderr
    assert "orange_ppm=900 in the node's config" in r.stderr
