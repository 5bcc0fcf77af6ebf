"""Writing the MicroPython image onto a board, one module per flashing method of the board files' `flash`:

- `esp32` (method "esptool"): esptool's Python API (never a subprocess). Detect the chip and refuse one that is
  not the board's, upload the flasher stub, switch to the board's fast baud rate, write compressed, check the
  MD5 the board computes, reset. A failure during the write is retried once the way ESPHome and mpflash do: at
  115200 baud, uncompressed. Progress comes from esptool's own logger (`esptool_log`), so it counts what the
  board confirmed; `esptool_tuning` takes two costs out of esptool that several boards at once would pay.
- `uf2` (RP2040): copy the UF2 onto the BOOTSEL drive, found by its volume label.
- `stm32` (methods "dfu" and "stlink"): dfu-util or st-flash when installed, otherwise instructions.

Shared: `image` reads the image file and checks it with the board's method; `result` holds what every method
reports. Library functions raise `FlashError` with one line a user can act on; `citynode flash` turns it into a
UserError, `--all-ports` into a row of the results table.
"""

from citynode.flash.esp32 import (
    ESP_CHIP_NAMES,
    ESP_IMAGE_CHIP_IDS,
    ROM_BAUD,
    default_resets,
    esptool_command,
    flash_esp,
)
from citynode.flash.esptool_tuning import forget_compressed_images
from citynode.flash.image import download_hint, read_image
from citynode.flash.result import FlashError, FlashResult, Progress
from citynode.flash.stm32 import flash_stm32
from citynode.flash.uf2 import BOARD_UF2_FAMILY, UF2_FAMILIES, UF2_MAGIC, find_volumes, flash_uf2

__all__ = [
    "BOARD_UF2_FAMILY",
    "ESP_CHIP_NAMES",
    "ESP_IMAGE_CHIP_IDS",
    "ROM_BAUD",
    "UF2_FAMILIES",
    "UF2_MAGIC",
    "FlashError",
    "FlashResult",
    "Progress",
    "default_resets",
    "download_hint",
    "esptool_command",
    "find_volumes",
    "flash_esp",
    "flash_stm32",
    "flash_uf2",
    "forget_compressed_images",
    "read_image",
]
