"""Build and deploy against emulated boards served on ptys (real serial plumbing, real MicroPython)."""

import json
import os

import pytest
from citynode.build import build
from citynode.deploy import DeployError, deploy
from citynode.ports import PortError
from kit import citynode, read_until, snapshot, wait_until

BOARD = "heltec-wifi-lora32-v3"


@pytest.fixture
def boards(served):
    """Served boards (conftest.served) that sleep at most half a second: a deploy never waits long for one."""
    return lambda **kw: served(max_sleep_s=0.5, **kw)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundles")
    out = {v: build(BOARD, "counter", d / v, version=v) for v in ("v1", "v2")}
    # A bigger bundle (more modules) for transfers worth cutting in the middle.
    out["big"] = build(BOARD, "classair", d / "big", version="v3")
    return out


def boot_lines(port: str) -> list[str]:
    def whole_boot_line(o):
        return b"\n" in o.partition(b"citynode boot")[2]

    out = read_until(port, whole_boot_line, what="a boot line")
    return [ln for ln in out.decode(errors="replace").splitlines() if "citynode boot" in ln]


def test_build_takes_only_what_the_role_needs(tmp_path):
    counter = build(BOARD, "counter", tmp_path / "c", version="t1")
    assert not any(f.startswith("fw/lorawan") for f in counter.files)
    assert "fw/apps/counter/__init__.mpy" in counter.files
    assert not any(f.startswith(("fw/apps/classair/", "fw/node/pipeline")) for f in counter.files)
    for rel, h in counter.files.items():
        import hashlib

        assert hashlib.sha256((tmp_path / "c" / rel).read_bytes()).hexdigest() == h
    assert counter.manifest["version"] == "t1" and counter.manifest["micropython"].startswith(">=")
    assert json.loads((tmp_path / "c" / "board.json").read_text())["id"] == BOARD
    ca = build(BOARD, "classair", tmp_path / "ca", version="t1")
    assert "fw/lorawan/link.mpy" in ca.files  # a role sends through the pipeline's MAC
    assert {"fw/node/pipeline.mpy", "fw/node/uplink.mpy", "fw/node/downlink.mpy"} <= set(ca.files)
    assert {"fw/apps/classair/settings.mpy", "fw/apps/classair/schedule.mpy"} <= set(
        ca.files
    )  # imported by name
    assert "fw/sensors/scd4x.mpy" in ca.files  # wired on this board
    assert "lora-sync" in ca.manifest["packages"] and "lora-sx126x" in ca.manifest["packages"]


def test_deploy_then_nothing_changed_is_fast_and_writes_nothing(boards, bundles):
    b = boards()
    r1 = deploy(bundles["v1"], b.path)
    assert r1.sent_files == len(bundles["v1"].files)
    assert "citynode boot v=v1 board=heltec-wifi-lora32-v3 app=counter" in r1.boot_line
    before = snapshot(b.flash, mtimes=True)
    r2 = deploy(bundles["v1"], b.path)  # how fast: `make bench` (bench/deploy.py, "nothing changed")
    assert r2.unchanged and r2.sent_files == 0 and r2.sent_bytes == 0
    assert snapshot(b.flash, mtimes=True) == before, "an unchanged deploy must not write to flash"
    # A new version: only the changed module crosses the cable; the rest is copied on the board.
    r3 = deploy(bundles["v2"], b.path)
    assert r3.sent_files == 1 and r3.slot != r1.slot and "v=v2" in r3.boot_line


def test_a_third_version_goes_into_the_slot_the_first_used_and_its_changed_file_arrives(
    boards, bundles, tmp_path
):
    import hashlib

    v3 = build(BOARD, "counter", tmp_path / "v3", version="v3")
    changed = [k for k, h in v3.files.items() if bundles["v1"].files.get(k) != h]
    assert changed == ["fw/node/version.mpy"]  # v3 differs from v1 in one file: the one that says its version
    b = boards()
    r1 = deploy(bundles["v1"], b.path)
    r2 = deploy(bundles["v2"], b.path)
    r3 = deploy(v3, b.path)
    assert r2.slot != r1.slot and r3.slot == r1.slot  # v1's slot, still holding v1's files, is written over
    # The changed file crossed the cable and is on the board's flash: the file v1 left there is not kept.
    on_flash = b.flash / "fw" / r3.slot / "node" / "version.mpy"
    assert hashlib.sha256(on_flash.read_bytes()).hexdigest() == v3.files["fw/node/version.mpy"]
    assert r3.sent_files == 1 and runs_bundle(b, v3)
    assert "citynode boot v=v3 board=heltec-wifi-lora32-v3 app=counter" in r3.boot_line
    lines = boot_lines(b.path)  # and after the next reset too
    assert lines and "v=v3" in lines[0], lines


def test_unplug_mid_deploy_keeps_the_old_firmware_booting(boards, bundles, tmp_path):
    link = tmp_path / "ttyBOARD"
    b = boards(link=link, replug_after_s=0.3)
    deploy(bundles["v1"], str(link))
    # Pull the cable partway through the transfer of a bigger bundle.
    b.unplug_after_bytes = b.bytes_from_host + 8000
    with pytest.raises((DeployError, PortError)):
        deploy(bundles["big"], str(link))
    wait_until(link.exists, what="the board to be plugged back in")
    lines = boot_lines(str(link))
    assert lines and "v=v1" in lines[0], lines  # powered back on: the previous firmware boots
    r = deploy(bundles["big"], str(link))
    assert "v=v3" in r.boot_line and r.sent_files > 0


def test_deploy_to_a_port_with_no_board_answering(tmp_path):
    m, s = os.openpty()  # a port with nothing behind it, like a power-only cable's
    try:
        with pytest.raises(PortError, match="no board answers"):
            deploy(build(BOARD, "counter", tmp_path / "b", version="x"), os.ttyname(s), connect_timeout=1.5)
    finally:
        os.close(m)
        os.close(s)


def test_cli_port_errors(boards):
    r = citynode("deploy", "-b", BOARD, "-a", "counter", "--port", "auto", ok=False)
    assert r.returncode == 2 and "no board found" in r.stderr and "Traceback" not in r.stderr
    boards()
    boards()
    r = citynode("deploy", "-b", BOARD, "-a", "counter", "--port", "auto", ok=False)
    assert r.returncode == 2 and "2 boards attached" in r.stderr and "id:emu-1" in r.stderr
    r = citynode("deploy", "-b", BOARD, "-a", "counter", "--port", "id:emu-9", ok=False)
    assert r.returncode == 2 and "no port with USB serial 'emu-9'" in r.stderr
    r = citynode("deploy", "-b", BOARD, "-a", "counter", "--port", "id:emu-9", "--wait", "1", ok=False)
    assert r.returncode == 2 and "waiting up to 1 s" in r.stderr and "(waited 1 s)" in r.stderr


def test_all_ports_four_boards_at_once(boards, bundles):
    tray = [boards() for _ in range(4)]
    r = citynode(
        "deploy", "-b", BOARD, "-a", "counter", "--bundle", str(bundles["v1"].out), "--all-ports", ok=False
    )
    assert r.returncode == 0, r.stderr
    assert "all 4 boards ok" in r.stderr
    for b in tray:
        assert runs_bundle(b, bundles["v1"])
    # Concurrent, not one after the other: every board was being talked to while every other one was.
    assert max(b.first_rx_at for b in tray) < min(b.last_rx_at for b in tray)
    # How long against one board: bench/deploy.py ("4 boards at once", `--all-ports`).


def runs_bundle(b, bundle) -> bool:
    """The board's active slot holds exactly the bundle's files."""
    import hashlib

    slot = b.flash / "fw" / (b.flash / "fw" / "active").read_text().strip()
    want = {k[3:]: v for k, v in bundle.files.items() if k.startswith("fw/")}
    have = {
        p.relative_to(slot).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in slot.rglob("*")
        if p.is_file()
    }
    return have == want


def test_all_ports_one_failure_fails_the_run_but_not_the_others(boards, bundles):
    for _ in range(2):
        boards()
    boards(unplug_after_bytes=2000)
    r = citynode(
        "deploy", "-b", BOARD, "-a", "counter", "--bundle", str(bundles["v1"].out), "--all-ports", ok=False
    )
    assert r.returncode == 1
    assert "1 of 3 boards failed" in r.stderr


def test_deploy_refuses_a_board_that_says_it_is_another(boards, bundles):
    b = boards()
    spec = json.loads((bundles["v1"].out / "board.json").read_text())
    spec["id"] = "some-other-board"
    (b.flash / "board.json").write_text(json.dumps(spec))
    with pytest.raises(DeployError, match="is a some-other-board .* use --force"):
        deploy(bundles["v1"], b.path)
    assert (b.flash / "board.json").read_text() == json.dumps(spec)  # nothing written
    r = deploy(bundles["v1"], b.path, force=True)
    assert "v=v1" in r.boot_line


def test_a_switch_cut_between_remove_and_rename_still_boots_and_is_repaired(boards, bundles):
    b = boards()
    r1 = deploy(bundles["v1"], b.path)
    fw = b.flash / "fw"
    # On FAT a rename cannot replace a file: the switch removes fw/active first. Cut right there.
    os.replace(fw / "active", fw / "active.new")
    lines = boot_lines(b.path)
    assert lines and "v=v1" in lines[0], lines  # the loader falls back to fw/active.new
    r2 = deploy(bundles["v2"], b.path)
    assert r2.slot != r1.slot, "the slot that boots must not be overwritten"
    assert (fw / "active").read_text().strip() == r2.slot and "v=v2" in r2.boot_line
