"""Where the firmware tree and board files are, from a checkout or from an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # tools/citynode, or citynode in a wheel


def _pick(packaged: str, in_repo: str) -> Path:
    wheel_copy = _PKG / packaged
    if wheel_copy.is_dir():
        return wheel_copy
    return _PKG.parent.parent / in_repo


FIRMWARE_DIR = _pick("_firmware", "firmware")
BOARDS_DIR = _pick("_boards", "boards")
REPO_ROOT = _PKG.parent.parent
