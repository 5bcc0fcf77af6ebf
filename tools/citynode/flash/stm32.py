"""STM32 (methods "dfu" and "stlink"): dfu-util over USB DFU, or st-flash through the ST-LINK probe, when
installed; otherwise the commands to run. Both tools print percentages, which feed the progress bar."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from citynode.flash.image import read_image
from citynode.flash.result import FlashError, FlashResult, Progress


def _dfu_util_command(board: dict, image: Path) -> tuple[list[str] | None, str]:
    """(the command to run, None if the tool is not installed; how to do it by hand)"""
    fl = board["flash"]
    offset = int(fl.get("offset", 0x08000000))
    exe = shutil.which("dfu-util")
    if image.suffix.lower() == ".dfu":
        cmd = ["dfu-util", "-a", "0", "-D", str(image)]
    else:
        cmd = ["dfu-util", "-a", "0", "-s", f"{offset:#010x}:leave", "-D", str(image)]
    if fl.get("dfu_id"):
        cmd[1:1] = ["-d", fl["dfu_id"]]
    how = (
        "put the board in DFU mode (hold BOOT0 high while resetting), then run: "
        + " ".join(map(shlex.quote, cmd))
        + " (install dfu-util: `sudo apt install dfu-util`, or use STM32CubeProgrammer)"
    )
    return ([exe, *cmd[1:]] if exe else None), how


def _st_flash_command(board: dict, image: Path) -> tuple[list[str] | None, str]:
    offset = int(board["flash"].get("offset", 0x08000000))
    exe = shutil.which("st-flash")
    if image.suffix.lower() == ".hex":
        cmd = ["st-flash", "--reset", "--format", "ihex", "write", str(image)]
    else:
        cmd = ["st-flash", "--reset", "write", str(image), f"{offset:#x}"]
    how = (
        "connect the board's ST-LINK USB port, then run: "
        + " ".join(map(shlex.quote, cmd))
        + " (install it: `sudo apt install stlink-tools`); or STM32CubeProgrammer: "
        + f"STM32_Programmer_CLI -c port=SWD -w {shlex.quote(str(image))} {offset:#x} -v -rst; "
        + "or copy the image onto the ST-LINK's USB drive"
    )
    return ([exe, *cmd[1:]] if exe else None), how


def flash_stm32(
    board: dict, image: str | os.PathLike, data: bytes | None = None, *, progress: Progress | None = None
) -> FlashResult:
    """Flash through the board's tool; without it installed, a FlashError that says how to do it by hand."""
    path = Path(image)
    if data is None:
        path, data = read_image(board, image)
    dfu = board["flash"]["method"] == "dfu"
    cmd, how = (_dfu_util_command if dfu else _st_flash_command)(board, path)
    tool = "dfu-util" if dfu else "st-flash"
    if cmd is None:
        raise FlashError(f"{tool} is not installed; {how}")
    t0 = time.perf_counter()
    if progress:
        progress("write", 0, len(data))
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    out = []
    for line in proc.stdout:  # both tools print percentages as they go
        out.append(line.rstrip())
        m = re.search(r"(\d{1,3})%", line)
        if m and progress:
            progress("write", len(data) * min(100, int(m.group(1))) // 100, len(data))
    rc = proc.wait()
    if rc != 0:
        last = next((x for x in reversed(out) if x.strip()), f"exit status {rc}")
        hint = "no board in DFU mode found? " if "No DFU capable" in "\n".join(out) else ""
        raise FlashError(f"{tool} failed: {hint}{last}; {how}")
    return FlashResult(
        board=board["id"], target=tool, method=board["flash"]["method"], bytes=len(data),
        seconds=time.perf_counter() - t0, chip=board["mcu"].upper(), command=" ".join(map(shlex.quote, cmd)),
        log=out,
    )  # fmt: skip
