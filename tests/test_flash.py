"""`citynode flash`: the real esptool (Python API) against fake ROM loaders on ptys; UF2 onto a stand-in drive."""

import hashlib
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from citynode.base import boards
from citynode.cli import cli
from citynode.flash import FlashError, find_volumes, flash_esp, flash_uf2
from click.testing import CliRunner
from kit import stopped, wait_until

from hil.rom_image import make_firmware_image

S3 = "heltec-wifi-lora32-v3"  # ESP32-S3, image at 0x0, 921600 baud
ESP32 = "ttgo-lora32-v21"  # ESP32, image at 0x1000, 460800 baud
PICO = "rpi-pico-sx1262-hat"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    out = {}
    for chip in ("esp32", "esp32s3"):
        p = d / f"{chip}.bin"
        p.write_bytes(make_firmware_image(chip, 600_000, seed=7))
        out[chip] = p
    return out


def run_cli(*args, env=None):
    r = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("stub", [True, False])
def test_flash_writes_the_image_and_verifies_it(rom, images, stub):
    r = rom("esp32s3")
    image = images["esp32s3"].read_bytes()
    seen = []
    res = flash_esp(r.port, boards.load(S3), images["esp32s3"], stub=stub, progress=lambda *a: seen.append(a))
    assert r.flash_bytes(0, len(image)) == image
    assert r.flash_bytes(len(image) + 0x1000, 0x10000) == b"\xff" * 0x10000
    assert res.md5 == hashlib.md5(image).hexdigest() == hashlib.md5(r.flash_bytes(0, len(image))).hexdigest()
    assert res.chip == "ESP32-S3" and res.stub is stub and res.baud == 921600 and res.attempts == 1
    assert res.mac == ":".join(f"{b:02x}" for b in r.mac)
    kinds = [e["type"] for e in r.events]
    assert ("stub" in kinds) is stub
    # verified by the board: esptool's check after the write, then verify_flash's (padded to 4 bytes)
    md5s = [(e["offset"], e["bytes"]) for e in r.events if e["type"] == "md5"]
    assert md5s == [(0, -(-len(image) // 4) * 4)] * 2
    assert {"type": "baud", "baud": 921600} in [
        {k: e[k] for k in ("type", "baud")} for e in r.events if "baud" in e
    ]
    # progress: phases in order, write counts climb to the whole image, verify comes after the last byte
    phases = [p for p, _, _ in seen]
    order = (
        ["connect", "stub", "baud", "write", "verify", "reset", "done"]
        if stub
        else ["connect", "baud", "write"]
    )
    assert [p for p in dict.fromkeys(phases) if p in order][: len(order)] == order[: len(order)]
    writes = [d for p, d, t in seen if p == "write"]
    assert writes == sorted(writes) and writes[-1] == len(image) and len(writes) > 5
    assert seen[-1] == ("done", len(image), len(image))
    assert (
        "--chip esp32s3" in res.command
        and "--baud 921600" in res.command
        and res.command.endswith(f"write-flash --compress 0x0 {images['esp32s3']}")
    )
    assert ("--no-stub" in res.command) is (not stub)


def test_esp32_image_goes_at_0x1000(rom, images):
    r = rom("esp32", "4MB")
    image = images["esp32"].read_bytes()
    res = flash_esp(r.port, boards.load(ESP32), images["esp32"])
    assert r.flash_bytes(0x1000, len(image)) == image
    assert r.flash_bytes(0, 0x1000) == b"\xff" * 0x1000
    assert res.baud == 460800 and res.chip == "ESP32"


def test_wrong_chip_is_refused_before_anything_is_written(rom, images):
    r = rom("esp32", "4MB")
    with pytest.raises(FlashError) as e:
        flash_esp(r.port, boards.load(S3), images["esp32s3"])
    assert str(e.value) == (
        f"{r.port}: this chip is an ESP32, but heltec-wifi-lora32-v3 has an ESP32-S3: wrong port, or wrong "
        "--board? Nothing was written"
    )
    assert r.flash_bytes(0, 4 << 20) == b"\xff" * (4 << 20)
    assert "stub" not in [ev["type"] for ev in r.events]


def test_wrong_chip_on_the_command_line_is_one_line_exit_2(rom, images):
    r = rom("esp32", "4MB")
    code, out, err = run_cli("flash", "--board", S3, "--port", r.port, "--firmware", str(images["esp32s3"]))
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("citynode: error: ") and "this chip is an ESP32" in err
    assert "Traceback" not in err


def test_an_image_for_the_other_chip_is_refused_without_touching_the_board(rom, images):
    r = rom("esp32s3")
    code, out, err = run_cli("flash", "-b", S3, "-p", r.port, "-f", str(images["esp32"]))
    assert code == 2 and "is an ESP32 image but heltec-wifi-lora32-v3 has an ESP32-S3" in err
    assert r.events[-1]["type"] == "plugged"  # nobody even opened the port


def test_without_firmware_it_says_where_to_download_it():
    code, out, err = run_cli("flash", "-b", S3, "-p", "/dev/null")
    assert code == 2
    assert (
        "download ESP32_GENERIC_S3-20250415-v1.25.0.bin from https://micropython.org/download/ESP32_GENERIC_S3/"
        in err
    )
    assert "--firmware PATH" in err


def test_cli_flash_prints_the_esptool_command_and_a_summary(rom, images):
    r = rom("esp32s3")
    code, out, err = run_cli("flash", "-b", S3, "-p", r.port, "-f", str(images["esp32s3"]))
    assert code == 0, err
    assert f"same as: esptool --chip esp32s3 --port {r.port} --baud 921600" in " ".join(err.split())
    assert out.startswith(f"flashed {S3} on {r.port}: ESP32-S3 ") and "MD5 verified" in out


def test_unplug_mid_flash_is_a_clear_error_and_a_rerun_succeeds(rom, images, tmp_path):
    image = images["esp32s3"].read_bytes()
    r = rom("esp32s3", link=tmp_path / "ttyUSB0", unplug_after=200_000)
    seen = []
    with pytest.raises(FlashError) as e:  # how soon it gives up (no reconnect loop): bench/giveup.py
        flash_esp(r.port, boards.load(S3), images["esp32s3"], progress=lambda *a: seen.append(a))
    msg = str(e.value)
    assert msg.startswith(f"{r.port}: lost the connection at ") and "cable unplugged" in msg
    assert "run the same command again" in msg
    # the bar was honest: every byte it counted as written is in the flash
    confirmed = max(d for p, d, t in seen if p == "write")
    assert 0 < confirmed < len(image) and f"({confirmed} of {len(image)} bytes confirmed)" in msg
    assert r.flash_bytes(0, confirmed) == image[:confirmed]
    assert r.flash_bytes(0, len(image)) != image
    r.replug()
    res = flash_esp(r.port, boards.load(S3), images["esp32s3"])
    assert r.flash_bytes(0, len(image)) == image and res.attempts == 1


def test_unreliable_fast_baud_falls_back_to_115200(rom, images):
    r = rom("esp32s3", max_baud=460800)
    logs = []
    res = flash_esp(r.port, boards.load(S3), images["esp32s3"], log=logs.append)
    assert res.attempts == 2 and res.baud == 115200 and res.compressed is False
    assert r.flash_bytes(0, len(images["esp32s3"].read_bytes())) == images["esp32s3"].read_bytes()
    assert any("retrying at 115200 baud, uncompressed" in line for line in logs)


def test_erase_wipes_what_was_there(rom, images):
    r = rom("esp32s3")
    r.flash[0x300000:0x301000] = b"\x00" * 0x1000  # an old file system
    flash_esp(r.port, boards.load(S3), images["esp32s3"], erase=True)
    assert r.flash_bytes(0x300000, 0x1000) == b"\xff" * 0x1000
    assert any(e["type"] == "erased" and e["bytes"] == 8 << 20 for e in r.events)


def _spawn_roms(tmp_path, chips, board=None):
    procs, ports = [], []
    for i, chip in enumerate(chips):
        cmd = [sys.executable, "-m", "hil.rom_loader", "--chip", chip, "--flash-file", str(tmp_path / f"b{i}.bin"),
               "--size", "4MB", "--quiet"]  # fmt: skip
        if board:
            cmd[2:3] = ["citynode", "emulator", "rom", "--board", board]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    for p in procs:
        ports.append(p.stdout.readline().strip())
    return procs, ports


def _stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)


def test_several_boards_at_once_one_failure_spares_the_others(tmp_path, images):
    procs, ports = _spawn_roms(tmp_path, ["esp32s3", "esp32", "esp32s3"])
    try:
        args = ["flash", "-b", S3, "-f", str(images["esp32s3"])]
        for p in ports:
            args += ["--port", p]
        code, out, err = run_cli(*args)
    finally:
        _stop(procs)
    assert code == 1  # one board failed
    image = images["esp32s3"].read_bytes()
    assert (tmp_path / "b0.bin").read_bytes()[: len(image)] == image
    assert (tmp_path / "b2.bin").read_bytes()[: len(image)] == image
    assert (tmp_path / "b1.bin").read_bytes() == b"\xff" * (4 << 20)
    text = " ".join(err.split())
    assert "FAILED" in text and "this chip is an ESP32, but" in text and "1 of 3 boards failed" in text


def test_all_ports_finds_advertised_emulated_roms(tmp_path, images, monkeypatch):
    monkeypatch.setenv("CITYNODE_EMULATED_PORTS", str(tmp_path / "registry"))
    from citynode import ports as ports_mod

    if any(p.vid is not None for p in ports_mod.list_ports()):
        pytest.skip("real USB serial boards attached")
    procs, ports = _spawn_roms(tmp_path, ["esp32s3", "esp32s3"], board=S3)
    try:
        code, out, err = run_cli("flash", "-b", S3, "--all-ports", "-f", str(images["esp32s3"]))
    finally:
        _stop(procs)
    assert code == 0, err
    image = images["esp32s3"].read_bytes()
    for i in range(2):
        assert (tmp_path / f"b{i}.bin").read_bytes()[: len(image)] == image
    assert "all 2 boards ok" in err
    assert not list((tmp_path / "registry").glob("*.json"))  # the ROMs withdrew their entries when stopped


# ---------------------------------------------------------------- RP2040


def make_uf2(payload: bytes, family=0xE48BFF56, base=0x10000000) -> bytes:
    blocks = [payload[i : i + 256] for i in range(0, len(payload), 256)]
    out = bytearray()
    for n, blk in enumerate(blocks):
        out += struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, base + 256 * n, 256, n, len(blocks), family)
        out += blk.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30)
    return bytes(out)


@pytest.fixture
def bootsel(tmp_path):
    root = tmp_path / "media"
    vol = root / "RPI-RP2"
    vol.mkdir(parents=True)
    (vol / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    fw = tmp_path / "RPI_PICO-20250415-v1.25.0.uf2"
    fw.write_bytes(make_uf2(os.urandom(300_000)))
    return root, vol, fw


def test_uf2_is_copied_onto_the_bootsel_drive(bootsel):
    root, vol, fw = bootsel
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(fw), "--mount-root", str(root))
    assert code == 0, err
    assert (vol / fw.name).read_bytes() == fw.read_bytes()
    assert f"to {vol}" in out and "reboots into MicroPython" in out


def test_uf2_without_a_drive_says_to_hold_bootsel(tmp_path, bootsel):
    root, vol, fw = bootsel
    code, out, err = run_cli(
        "flash", "-b", PICO, "-f", str(fw), env={"CITYNODE_MOUNT_ROOT": str(tmp_path / "none")}
    )
    assert code == 2 and "no RPI-RP2 drive is mounted: hold BOOTSEL while plugging the board in" in err


def test_uf2_for_another_family_or_not_a_uf2_is_refused(bootsel, tmp_path):
    root, vol, fw = bootsel
    other = tmp_path / "rp2350.uf2"
    other.write_bytes(make_uf2(b"x" * 1000, family=0xE48BFF59))
    with pytest.raises(
        FlashError, match="is a UF2 for RP2350 \\(Arm\\), not for rpi-pico-sx1262-hat's RP2040"
    ):
        flash_uf2(boards.load(PICO), other, mount_root=root)
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(fw.with_name("x.bin")), "--mount-root", str(root))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "fw.uf2"
    bad.write_bytes(b"\xe9" * 4096)
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(bad), "--mount-root", str(root))
    assert code == 2 and "not a UF2 file" in err
    assert sorted(p.name for p in vol.iterdir()) == ["INFO_UF2.TXT"]


def test_find_volumes_by_label(bootsel):
    root, vol, fw = bootsel
    assert find_volumes("RPI-RP2", root) == [vol]
    assert find_volumes("NOPE", root) == []


def test_several_bootsel_drives_with_all_ports(tmp_path):
    root = tmp_path / "media"
    vols = [root / f"user{i}" / "RPI-RP2" for i in range(3)]
    for v in vols:
        v.mkdir(parents=True)
    fw = tmp_path / "fw.uf2"
    fw.write_bytes(make_uf2(os.urandom(50_000)))
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(fw), "--mount-root", str(root))
    assert code == 2 and "3 RPI-RP2 drives are mounted" in err and "--all-ports" in err
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(fw), "--mount-root", str(root), "--all-ports")
    assert code == 0, err
    assert all((v / "fw.uf2").read_bytes() == fw.read_bytes() for v in vols)


# ---------------------------------------------------------------- STM32


def test_stm32_without_its_tool_gives_instructions(tmp_path):
    import shutil

    if shutil.which("st-flash"):
        pytest.skip("st-flash is installed here")
    fw = tmp_path / "NUCLEO_WL55-20250415-v1.25.0.hex"
    fw.write_text(":020000040800F2\n:00000001FF\n")
    code, out, err = run_cli("flash", "-b", "nucleo-wl55jc", "-f", str(fw))
    assert code == 2
    text = " ".join(err.split())
    assert "st-flash is not installed" in text and f"st-flash --reset --format ihex write {fw}" in text
    assert "STM32_Programmer_CLI" in text


def test_boards_directory_has_what_the_flash_tests_assume():
    assert boards.load(S3)["flash"]["chip"] == "esp32s3" and boards.load(ESP32)["flash"]["offset"] == 0x1000
    assert boards.load(PICO)["flash"]["volume_label"] == "RPI-RP2"
    assert Path(boards.load(PICO)["flash"]["firmware"]).suffix == ".uf2"


def test_a_missing_port_is_one_clear_line(tmp_path, images):
    code, out, err = run_cli("flash", "-b", S3, "-p", str(tmp_path / "ttyUSB9"), "-f", str(images["esp32s3"]))
    assert (
        code == 2 and err.startswith("citynode: error: ") and "no such port" in err and "Traceback" not in err
    )
    with pytest.raises(FlashError, match="no such port"):
        flash_esp(str(tmp_path / "ttyUSB9"), boards.load(S3), images["esp32s3"])


def test_nothing_answering_says_how_to_enter_download_mode(images):
    master, slave = os.openpty()  # a port with nothing behind it, like a board running its application
    port = os.ttyname(slave)
    try:
        with pytest.raises(FlashError) as e:  # how soon it gives up: bench/giveup.py
            flash_esp(port, boards.load(S3), images["esp32s3"])
    finally:
        os.close(master)
        os.close(slave)
    msg = str(e.value)
    assert msg.startswith(f"no ESP32 bootloader answers on {port}: hold BOOT")
    assert "power-only USB cable" in msg


def test_erase_on_an_rp2040_says_how_instead(bootsel):
    root, vol, fw = bootsel
    code, out, err = run_cli("flash", "-b", PICO, "-f", str(fw), "--mount-root", str(root), "--erase")
    assert code == 2 and "flash_nuke.uf2" in err
    assert sorted(p.name for p in vol.iterdir()) == ["INFO_UF2.TXT"]


def test_concurrent_jobs_keep_their_own_esptool_output(rom, images):
    import threading

    from esp_pylib.logger import EspLog

    before = EspLog.instance
    roms = [rom("esp32s3"), rom("esp32s3")]
    logs = {r.port: [] for r in roms}
    seen = {r.port: [] for r in roms}
    errors = []

    def one(r):
        try:
            flash_esp(
                r.port,
                boards.load(S3),
                images["esp32s3"],
                log=logs[r.port].append,
                progress=lambda *a: seen[r.port].append(a),
            )
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(r,)) for r in roms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    size = len(images["esp32s3"].read_bytes())
    for r in roms:
        other = next(x.port for x in roms if x is not r)
        # a port named whole: /dev/pts/1 is not in a line about /dev/pts/12
        named = [re.compile(re.escape(p) + r"(?![0-9])") for p in (r.port, other)]
        assert any(named[0].search(line) for line in logs[r.port])
        assert not any(named[1].search(line) for line in logs[r.port])
        writes = [d for p, d, t in seen[r.port] if p == "write"]
        assert writes == sorted(writes) and writes[-1] == size
    assert EspLog.instance is before  # esptool's own logger is back


def test_cli_unplug_then_rerun_on_a_rom_that_comes_back(tmp_path, images):
    link = tmp_path / "ttyUSB0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "citynode", "emulator", "rom", "--chip", "esp32s3", "--flash-file",
         str(tmp_path / "f.bin"), "--size", "4MB", "--link", str(link), "--unplug-after", "150000",
         "--replug-after", "0.5", "--quiet"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == str(link)
        args = ("flash", "-b", S3, "-p", str(link), "-f", str(images["esp32s3"]))
        code, out, err = run_cli(*args)
        assert code == 2 and "lost the connection at" in err and "run the same command again" in err
        wait_until(link.exists, what="the ROM to plug itself back in (after half a second)")
        code, out, err = run_cli(*args)
        assert code == 0, err
    finally:
        stopped(proc)
    image = images["esp32s3"].read_bytes()
    assert (tmp_path / "f.bin").read_bytes()[: len(image)] == image


def test_erase_still_happens_when_the_first_attempt_failed_before_it(rom, images):
    r = rom("esp32s3", max_baud=460800)  # attempt 1 dies right after the baud change, before the erase
    r.flash[0x300000:0x301000] = b"\x00" * 0x1000
    res = flash_esp(r.port, boards.load(S3), images["esp32s3"], erase=True)
    assert res.attempts == 2 and res.erased
    assert r.flash_bytes(0x300000, 0x1000) == b"\xff" * 0x1000
