"""Test images for the fake ROM loader (hil/rom_loader.py): what flashing tests and benchmarks write."""

from __future__ import annotations

import random
import struct


def make_firmware_image(chip: str = "esp32", size: int = 1 << 20, seed: int = 0) -> bytes:
    """A stand-in for a MicroPython .bin from micropython.org, for flashing tests (there is no download here).

    Laid out like the real merged image, which is written at the bootloader offset (0x1000 on an ESP32, 0 on
    an S3): a second-stage bootloader image (a valid esptool image header with this chip's id), the partition
    table at 0x8000, the application image at 0x10000. The payload mixes text and noise so that it compresses
    about as well as a real image (to roughly 60%).
    """
    from esptool.bin_image import ESP32FirmwareImage, ESP32S3FirmwareImage, ImageSegment

    cls = {"esp32": ESP32FirmwareImage, "esp32s3": ESP32S3FirmwareImage}[chip]
    base = 0x1000 if chip == "esp32" else 0x0
    rng = random.Random(seed)

    def payload(n: int) -> bytes:
        out = bytearray()
        words = [
            b"mp_obj_",
            b"machine",
            b"esp32",
            b"lorawan",
            b"citynode",
            b"0123456789",
            b"\x00\x00\x00\x00",
        ]
        while len(out) < n:
            if rng.random() < 0.45:
                out += b"".join(rng.choice(words) for _ in range(8))
            else:
                out += rng.randbytes(48)
        return bytes(out[:n])

    def image(entry: int, seg_addr: int, n: int) -> bytes:
        img = cls()
        img.entrypoint = entry
        seg = ImageSegment(seg_addr, payload(n))
        seg.name = ".flash.text"
        img.segments = [seg]
        return img.save(None)

    boot = image(0x40080400, 0x40080000, 0x4000)
    app_size = max(0x1000, size - (0x10000 - base) - 64)
    app = image(0x400D0000, 0x3F400020, app_size)
    parts = struct.pack("<2sBBII16sI", b"\xaa\x50", 0, 0, 0x10000, max(len(app), 0x100000), b"factory", 0)
    blob = bytearray(b"\xff" * (0x10000 - base))
    blob[: len(boot)] = boot
    blob[0x8000 - base : 0x8000 - base + len(parts)] = parts
    return bytes(blob) + app
