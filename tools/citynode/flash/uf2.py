"""RP2040 (method "uf2"): copy the UF2 onto the BOOTSEL drive, found by its volume label."""

from __future__ import annotations

import os
import re
import shlex
import struct
import time
from pathlib import Path

from citynode.flash.image import download_hint, read_image
from citynode.flash.result import FlashError, FlashResult, Progress

UF2_MAGIC = (0x0A324655, 0x9E5D5157)
UF2_FAMILIES = {0xE48BFF56: "RP2040", 0xE48BFF59: "RP2350 (Arm)", 0xE48BFF5A: "RP2350 (RISC-V)"}
BOARD_UF2_FAMILY = {"rp2040": 0xE48BFF56}


def check_image(board: dict, path: Path, data: bytes) -> None:
    """512-byte UF2 blocks with their magic; a family id, when the file has one, must be the board's MCU's."""
    if len(data) < 512 or len(data) % 512 or struct.unpack_from("<II", data, 0) != UF2_MAGIC:
        raise FlashError(f"{path}: not a UF2 file; {download_hint(board)}")
    flags, family = struct.unpack_from("<I", data, 8)[0], struct.unpack_from("<I", data, 28)[0]
    want = BOARD_UF2_FAMILY.get(board["mcu"])
    if flags & 0x2000 and want is not None and family != want:
        raise FlashError(
            f"{path} is a UF2 for {UF2_FAMILIES.get(family, hex(family))}, not for {board['id']}'s "
            f"{board['mcu'].upper()}; {download_hint(board)}"
        )


def _unescape_mount(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def find_volumes(label: str, mount_root: str | os.PathLike | None = None) -> list[Path]:
    """Mounted volumes with this label. With `mount_root` (or CITYNODE_MOUNT_ROOT), only directories named
    `label` under it (how tests, and machines with an unusual automounter, point at the drive)."""
    root = mount_root or os.environ.get("CITYNODE_MOUNT_ROOT")
    if root:
        cand = [p for p in Path(root).glob(label) if p.is_dir()]
        cand += [p for p in Path(root).glob(f"*/{label}") if p.is_dir()]
        return sorted(set(cand))
    found: list[Path] = []
    by_label = Path("/dev/disk/by-label") / label
    devices = set()
    for p in Path("/dev/disk/by-label").glob(f"{label}*") if Path("/dev/disk/by-label").is_dir() else []:
        devices.add(os.path.realpath(p))
    if by_label.exists():
        devices.add(os.path.realpath(by_label))
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        mounts = []
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        dev, mnt = _unescape_mount(parts[0]), Path(_unescape_mount(parts[1]))
        if os.path.realpath(dev) in devices or (
            mnt.name == label and parts[2] in ("vfat", "msdos", "fuseblk")
        ):
            found.append(mnt)
    return sorted(set(found))


def _the_volume(label: str, mount_root: str | os.PathLike | None) -> Path:
    """The one drive with this label; none or several is the user's to sort out."""
    vols = find_volumes(label, mount_root)
    if not vols:
        raise FlashError(
            f"no {label} drive is mounted: hold BOOTSEL while plugging the board in (it shows up as a USB drive "
            f"named {label}); mount it if your desktop does not (`udisksctl mount -b /dev/disk/by-label/{label}`)"
        )
    if len(vols) > 1:
        raise FlashError(
            f"{len(vols)} {label} drives are mounted ({', '.join(map(str, vols))}): use --all-ports to flash "
            "them all, or leave one plugged in"
        )
    return vols[0]


def flash_uf2(
    board: dict,
    image: str | os.PathLike,
    data: bytes | None = None,
    *,
    volume: str | os.PathLike | None = None,
    mount_root: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> FlashResult:
    """Copy the UF2 onto the board's bootloader drive; the board reboots into MicroPython when it has it all."""
    path = Path(image)
    if data is None:
        path, data = read_image(board, image)
    if volume is None:
        volume = _the_volume(board["flash"].get("volume_label", "RPI-RP2"), mount_root)
    volume = Path(volume)
    dest = volume / path.name
    t0 = time.perf_counter()
    if progress:
        progress("write", 0, len(data))
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            chunk = 64 * 1024
            for i in range(0, len(data), chunk):
                os.write(fd, data[i : i + chunk])
                if progress:
                    progress("write", min(len(data), i + chunk), len(data))
            os.fsync(fd)  # the bootloader has it only once it is on the "disk"
        finally:
            os.close(fd)
    except OSError as e:
        if not volume.exists():
            raise FlashError(
                f"{volume} went away during the copy (board unplugged or reset?): run again"
            ) from None
        raise FlashError(f"cannot write {dest}: {e.strerror}") from None
    if progress:
        progress("done", len(data), len(data))
    return FlashResult(
        board=board["id"], target=str(volume), method="uf2", bytes=len(data), seconds=time.perf_counter() - t0,
        chip=board["mcu"].upper(), command=f"cp {shlex.quote(str(path))} {shlex.quote(str(volume))}/",
    )  # fmt: skip
