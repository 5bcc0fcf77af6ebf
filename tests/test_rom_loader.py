"""The fake ESP ROM loader against the real esptool command line (a separate process, as a user runs it)."""

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hil.rom_image import make_firmware_image
from hil.rom_loader import FakeRom


def esptool(port, *args, check=True, timeout=60):
    cmd = [
        sys.executable,
        "-m",
        "esptool",
        "--port",
        port,
        "--before",
        "no-reset",
        "--after",
        "no-reset",
        *args,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"esptool {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def rom(tmp_path):
    made = []

    def factory(chip="esp32", size="4MB", **kw):
        r = FakeRom(chip, tmp_path / f"flash{len(made)}.bin", size, **kw).start()
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


@pytest.mark.parametrize("chip,name", [("esp32", "ESP32-D0WD-V3 (revision v3.0)"), ("esp32s3", "ESP32-S3")])
def test_chip_id_and_flash_id(rom, chip, name):
    r = rom(chip, "8MB", mac=bytes.fromhex("240ac4123456"))
    out = esptool(r.port, "flash-id").stdout
    assert f"Chip type:          {name}" in out
    assert "MAC:                24:0a:c4:12:34:56" in out
    assert "Manufacturer: ef" in out and "Detected flash size: 8MB" in out
    assert "Stub flasher running." in out


@pytest.mark.parametrize("stub", [True, False])
@pytest.mark.parametrize("compress", ["--compress", "--no-compress"])
def test_write_flash_lands_in_the_flash_file(rom, tmp_path, stub, compress):
    r = rom("esp32", "4MB")
    image = make_firmware_image("esp32", 200_000, seed=3)
    (tmp_path / "fw.bin").write_bytes(image)
    args = ([] if stub else ["--no-stub"]) + ["write-flash", compress, "0x1000", str(tmp_path / "fw.bin")]
    out = esptool(r.port, *args).stdout
    assert "Hash of data verified." in out
    assert ("Stub flasher running." in out) == stub
    flash = (tmp_path / "flash0.bin").read_bytes()
    assert len(flash) == 4 << 20
    assert flash[0x1000 : 0x1000 + len(image)] == image
    assert flash[:0x1000] == b"\xff" * 0x1000  # nothing written before the offset
    assert flash[0x1000 + len(image) + 0x1000 :] == b"\xff" * (len(flash) - 0x1000 - len(image) - 0x1000)
    if stub and compress == "--compress":
        assert f"Wrote {len(image)} bytes (" in out and " compressed)" in out


def test_read_flash_stub_and_rom(rom, tmp_path):
    r = rom("esp32s3", "4MB")
    data = os.urandom(70_000)
    r.flash[0x20000 : 0x20000 + len(data)] = data
    esptool(r.port, "read-flash", "0x20000", str(len(data)), str(tmp_path / "a.bin"))
    assert (tmp_path / "a.bin").read_bytes() == data
    esptool(r.port, "--no-stub", "read-flash", "0x20000", "1000", str(tmp_path / "b.bin"))
    assert (tmp_path / "b.bin").read_bytes() == data[:1000]


def test_erase_region_and_flash_then_verify_fails(rom, tmp_path):
    r = rom("esp32", "4MB")
    image = os.urandom(8192)
    (tmp_path / "x.bin").write_bytes(image)
    esptool(r.port, "write-flash", "0x10000", str(tmp_path / "x.bin"))
    assert (
        "Verification successful (digest matched)"
        in esptool(r.port, "verify-flash", "0x10000", str(tmp_path / "x.bin")).stdout
    )
    esptool(r.port, "erase-region", "0x11000", "0x1000")
    assert r.flash_bytes(0x10000, 0x1000) == image[:0x1000]
    assert r.flash_bytes(0x11000, 0x1000) == b"\xff" * 0x1000
    bad = esptool(r.port, "verify-flash", "0x10000", str(tmp_path / "x.bin"), check=False)
    assert bad.returncode != 0 and "Verification failed" in bad.stdout + bad.stderr
    esptool(r.port, "erase-flash")
    assert r.flash_bytes(0, 4 << 20) == b"\xff" * (4 << 20)


def test_flash_is_nor_a_write_without_erase_only_clears_bits(rom):
    r = rom("esp32", "4MB")
    r.flash[0:4] = b"\x0f\xf0\xff\x00"
    r._and_write(0, b"\xff\x0f\x3c\xff")
    assert r.flash_bytes(0, 4) == b"\x0f\x00\x3c\x00"


def test_md5_forms_rom_hex_and_stub_raw(rom, tmp_path):
    # verify-flash asks the chip for an MD5: 32 hex characters from the ROM, 16 raw bytes from the stub
    r = rom("esp32s3", "4MB")
    data = os.urandom(5000)
    r.flash[0x3000 : 0x3000 + len(data)] = data
    (tmp_path / "d.bin").write_bytes(data)
    for extra in ([], ["--no-stub"]):
        assert (
            "Verification successful (digest matched)"
            in esptool(r.port, *extra, "verify-flash", "0x3000", str(tmp_path / "d.bin")).stdout
        )


def test_a_wrong_chip_argument_is_refused_by_esptool(rom):
    r = rom("esp32", "4MB")
    p = esptool(r.port, "--chip", "esp32s3", "flash-id", check=False)
    assert p.returncode != 0 and "This chip is ESP32, not ESP32-S3" in p.stdout + p.stderr


def test_baud_mismatch_garbles_the_line_and_max_baud_too(rom, tmp_path):
    r = rom("esp32s3", "4MB", max_baud=460800)
    (tmp_path / "x.bin").write_bytes(os.urandom(4096))
    ok = esptool(r.port, "--baud", "460800", "write-flash", "0", str(tmp_path / "x.bin"))
    assert "Hash of data verified." in ok.stdout
    bad = esptool(r.port, "--baud", "921600", "write-flash", "0", str(tmp_path / "x.bin"), check=False)
    assert bad.returncode != 0
    assert any(e["type"] == "baud" and e["baud"] == 921600 and not e["reliable"] for e in r.events)


def test_unplug_mid_write_then_replug_esptool_reconnects_on_the_same_link(tmp_path):
    link = tmp_path / "ttyUSB0"
    image = make_firmware_image("esp32s3", 600_000)
    (tmp_path / "fw.bin").write_bytes(image)
    with FakeRom("esp32s3", tmp_path / "f.bin", "4MB", link=link, unplug_after=150_000).start() as r:
        half_written = []

        def plug_back():
            while not any(e["type"] == "unplugged" for e in r.events):
                time.sleep(0.01)
            assert not link.exists()  # the device node is gone, like /dev/ttyUSB0 when the cable is pulled
            half_written.append(r.flash_bytes(0, len(image)) != image)
            time.sleep(0.3)
            r.replug()

        t = threading.Thread(target=plug_back)
        t.start()
        p = esptool(str(link), "write-flash", "0", str(tmp_path / "fw.bin"))
        t.join()
        assert half_written == [True]
        assert "Lost connection, retrying..." in p.stdout and "Hash of data verified." in p.stdout
        assert r.flash_bytes(0, len(image)) == image
        kinds = [e["type"] for e in r.events]
        assert kinds.count("plugged") == 2 and kinds.count("stub") == 2


def test_emulator_rom_command_prints_the_pty_and_obeys_signals(tmp_path):
    flash = tmp_path / "f.bin"
    link = tmp_path / "board"
    proc = subprocess.Popen(
        [sys.executable, "-m", "citynode", "emulator", "rom", "--chip", "esp32s3", "--flash-file", str(flash),
         "--size", "8MB", "--link", str(link)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = proc.stdout.readline().strip()
        assert port == str(link) and Path(os.readlink(link)).parent == Path("/dev/pts")
        assert flash.stat().st_size == 8 << 20
        data = os.urandom(3000)
        (tmp_path / "d.bin").write_bytes(data)
        esptool(port, "write-flash", "0x8000", str(tmp_path / "d.bin"))
        assert flash.read_bytes()[0x8000 : 0x8000 + 3000] == data  # the file is the flash, at once
        proc.send_signal(signal.SIGUSR1)  # unplug
        for _ in range(100):
            if not link.exists():
                break
            time.sleep(0.02)
        assert not link.exists()
        proc.send_signal(signal.SIGUSR2)  # plug back in
        for _ in range(100):
            if link.exists():
                break
            time.sleep(0.02)
        assert "Detected flash size: 8MB" in esptool(port, "flash-id").stdout
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    assert proc.returncode == 0
    assert "fake-rom: unplugged" in err and "fake-rom: plugged" in err


def test_bad_size_is_one_clear_line():
    p = subprocess.run(
        [sys.executable, "-m", "citynode", "emulator", "rom", "--size", "3MB"], capture_output=True, text=True
    )
    assert p.returncode == 2
    assert (
        p.stderr.strip()
        == "citynode: error: flash size '3MB': must be a power of two between 256KB and 128MB"
    )


def test_firmware_image_stand_in_is_a_valid_esptool_image():
    from esptool.bin_image import LoadFirmwareImage

    for chip, chip_id in (("esp32", 0), ("esp32s3", 9)):
        data = make_firmware_image(chip, 300_000)
        assert LoadFirmwareImage(chip, data).chip_id == chip_id
        assert hashlib.md5(data).hexdigest() == hashlib.md5(make_firmware_image(chip, 300_000)).hexdigest()
