"""`citynode.flash` as a package of methods: the image check follows the board's method, and the STM32 module's
two tools (dfu-util, st-flash) each get their own command line."""

import shutil
import struct

import pytest
from citynode import boards
from citynode.flash import FlashError, flash_stm32, read_image

S3 = "heltec-wifi-lora32-v3"
PICO = "rpi-pico-sx1262-hat"
STLINK = "nucleo-wl55jc"


def _uf2_block(family=0xE48BFF56) -> bytes:
    head = struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000, 256, 0, 1, family)
    return head + bytes(512 - len(head) - 4) + struct.pack("<I", 0x0AB16F30)


def test_read_image_checks_with_the_board_methods_own_format(tmp_path):
    fw = tmp_path / "fw.uf2"
    fw.write_bytes(_uf2_block())
    assert read_image(boards.load(PICO), fw)[1] == fw.read_bytes()  # uf2: a UF2 for its family
    with pytest.raises(FlashError, match="a .uf2 file, not an ESP32 .bin image"):
        read_image(boards.load(S3), fw)  # esptool: refused by the ESP image check
    assert read_image(boards.load(STLINK), fw)[1] == fw.read_bytes()  # stlink: no format check


def test_dfu_without_dfu_util_gives_its_own_command(tmp_path):
    if shutil.which("dfu-util"):
        pytest.skip("dfu-util is installed here")
    stlink = boards.load(STLINK)  # no board file uses DFU yet: the ST-LINK board, as if it had USB DFU
    board = dict(stlink, flash=dict(stlink["flash"], method="dfu", dfu_id="0483:df11"))
    fw = tmp_path / "fw.bin"
    fw.write_bytes(b"\x00" * 64)
    with pytest.raises(FlashError) as e:
        flash_stm32(board, fw)
    text = str(e.value)
    assert text.startswith("dfu-util is not installed; put the board in DFU mode")
    assert f"dfu-util -d 0483:df11 -a 0 -s 0x08000000:leave -D {fw}" in text
