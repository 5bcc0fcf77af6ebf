"""The image file: read, and checked against the board by its flashing method as far as the format allows."""

from __future__ import annotations

import os
from pathlib import Path

from citynode.flash.result import FlashError


def download_hint(board: dict) -> str:
    name = board["flash"].get("firmware")
    mpb = board.get("micropython_board")
    where = f"https://micropython.org/download/{mpb}/" if mpb else "https://micropython.org/download/"
    what = name or "the MicroPython image for this board"
    return f"download {what} from {where} and pass it with --firmware PATH"


def read_image(board: dict, firmware: str | os.PathLike | None) -> tuple[Path, bytes]:
    """The image file's bytes, checked against the board as far as its format allows."""
    if firmware is None:
        raise FlashError(f"no firmware image given for {board['id']}: {download_hint(board)}")
    path = Path(firmware)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FlashError(f"{path}: no such file; {download_hint(board)}") from None
    except IsADirectoryError:
        raise FlashError(f"{path}: is a directory, not an image file") from None
    except OSError as e:
        raise FlashError(f"{path}: cannot read it ({e.strerror})") from None
    if not data:
        raise FlashError(f"{path}: empty file; {download_hint(board)}")
    check = _format_check(board["flash"]["method"])
    if check is not None:
        check(board, path, data)
    return path, data


def _format_check(method: str):
    """The method's check of an image's own header (chip, family), or None where the format has none."""
    # imported here, not at the top: the method modules read their images through this module
    if method == "esptool":
        from citynode.flash.esp32 import check_image
    elif method == "uf2":
        from citynode.flash.uf2 import check_image
    else:
        return None  # dfu-util and st-flash take .bin, .hex and .dfu files as they are
    return check_image
