"""Helpers for tests that run firmware on the emulated board."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

from citynode.base import boards
from citynode.base.paths import FIRMWARE_DIR


def firmware_with(dest: Path, files: dict[str, str]) -> Path:
    """A copy of the firmware tree at `dest` with `files` (relative path -> source) added or replaced."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(FIRMWARE_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, src in files.items():
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(src)
    return dest


def board_with(
    board_id: str = "heltec-wifi-lora32-v3", app: str | None = None, wiring: dict | None = None, **fields
) -> dict:
    """A board definition loaded from boards/ with an app's wiring or top-level fields replaced."""
    b = copy.deepcopy(boards.load(board_id))
    if app is not None:
        b["apps"][app] = wiring or {}
    b.update(fields)
    return b


def logs(board) -> list[str]:
    return [e["line"] for e in board.events if e["type"] == "log"]
