"""Writing the MicroPython image onto a board.

- ESP32 family: esptool's Python API (never a subprocess). Detect the chip and refuse one that is not the
  board's, upload the flasher stub, switch to the board's fast baud rate, write compressed, check the MD5 the
  board computes, reset. A failure during the write is retried once the way ESPHome and mpflash do: at
  115200 baud, uncompressed. Progress comes from esptool's own logger, so it counts what the board confirmed.
- RP2040: copy the UF2 onto the BOOTSEL drive, found by its volume label.
- STM32: dfu-util (USB DFU) or st-flash (ST-LINK) when installed, otherwise instructions.

Library functions raise `FlashError` with one line a user can act on; `citynode flash` turns it into a
UserError, `--all-ports` into a row of the results table.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROM_BAUD = 115200
# esptool's chip names (CHIP_NAME) for the names board files use
ESP_CHIP_NAMES = {"esp32": "ESP32", "esp32s2": "ESP32-S2", "esp32s3": "ESP32-S3", "esp32c3": "ESP32-C3"}
# image header chip ids (esptool IMAGE_CHIP_ID)
ESP_IMAGE_CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9}
UF2_MAGIC = (0x0A324655, 0x9E5D5157)
UF2_FAMILIES = {0xE48BFF56: "RP2040", 0xE48BFF59: "RP2350 (Arm)", 0xE48BFF5A: "RP2350 (RISC-V)"}
BOARD_UF2_FAMILY = {"rp2040": 0xE48BFF56}

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class FlashError(Exception):
    """Flashing failed in a way the user can act on; the message says what happened and what to do."""


@dataclass
class FlashResult:
    board: str
    target: str  # port, volume or probe
    method: str
    bytes: int
    seconds: float
    chip: str | None = None
    mac: str | None = None
    baud: int | None = None
    stub: bool | None = None
    compressed: bool | None = None
    md5: str | None = None
    attempts: int = 1
    command: str = ""
    port_after: str | None = None  # where a native-USB board came back after its reset
    erased: bool = False
    log: list[str] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        if self.method == "esptool":
            how = ", ".join(
                x
                for x in (
                    f"{self.baud} baud",
                    "stub" if self.stub else "ROM loader",
                    "compressed" if self.compressed else "uncompressed",
                    f"attempt {self.attempts}" if self.attempts > 1 else "",
                )
                if x
            )
            back = f"; now on {self.port_after}" if self.port_after and self.port_after != self.target else ""
            return f"{self.chip} {self.mac}: {_kb(self.bytes)} written, MD5 verified ({how}){back}"
        return f"{_kb(self.bytes)} to {self.target}"


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MB"


# ---------------------------------------------------------------- the image


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
    method = board["flash"]["method"]
    if method == "esptool":
        _check_esp_image(board, path, data)
    elif method == "uf2":
        _check_uf2(board, path, data)
    return path, data


def _check_esp_image(board: dict, path: Path, data: bytes) -> None:
    chip = board["flash"].get("chip", board["mcu"])
    if data[0] != 0xE9:
        if path.suffix.lower() in (".uf2", ".hex", ".dfu", ".elf"):
            raise FlashError(f"{path}: a {path.suffix} file, not an ESP32 .bin image; {download_hint(board)}")
        return  # raw data (a file system image, say): esptool writes it as it is
    if len(data) >= 24:
        image_chip = struct.unpack_from("<H", data, 12)[0]
        want = ESP_IMAGE_CHIP_IDS.get(chip)
        if want is not None and image_chip != want:
            names = {v: k for k, v in ESP_IMAGE_CHIP_IDS.items()}
            other = ESP_CHIP_NAMES.get(names.get(image_chip, ""), f"chip id {image_chip}")
            raise FlashError(
                f"{path} is an {other} image but {board['id']} has an {ESP_CHIP_NAMES.get(chip, chip)}; "
                f"{download_hint(board)}"
            )


def _check_uf2(board: dict, path: Path, data: bytes) -> None:
    if len(data) < 512 or len(data) % 512 or struct.unpack_from("<II", data, 0) != UF2_MAGIC:
        raise FlashError(f"{path}: not a UF2 file; {download_hint(board)}")
    flags, family = struct.unpack_from("<I", data, 8)[0], struct.unpack_from("<I", data, 28)[0]
    want = BOARD_UF2_FAMILY.get(board["mcu"])
    if flags & 0x2000 and want is not None and family != want:
        raise FlashError(
            f"{path} is a UF2 for {UF2_FAMILIES.get(family, hex(family))}, not for {board['id']}'s "
            f"{board['mcu'].upper()}; {download_hint(board)}"
        )


# ---------------------------------------------------------------- esptool's logger, per thread


class _Sink:
    """Where one flashing job's esptool output goes: its log lines and its progress."""

    _WRITING = re.compile(r"Writing at 0x([0-9a-fA-F]+)")

    def __init__(self, offset: int, size: int, progress: Progress | None, log: Callable[[str], None] | None):
        self.offset, self.size = offset, size
        self.progress, self.log_cb = progress, log
        self.lines: list[str] = []
        self.partial = ""
        self.phase = "connect"
        self.written = 0  # bytes the board confirmed (uncompressed)

    def text(self, s: str, end: str = "\n"):
        self.partial += s + end
        while "\n" in self.partial:
            line, self.partial = self.partial.split("\n", 1)
            line = re.sub(r"\[/?[a-z ]+\]", "", line).rstrip()  # rich markup esptool uses
            if line.strip():
                self.lines.append(line)
                if self.log_cb:
                    self.log_cb(line)

    def set_phase(self, phase: str, done: int = 0, total: int | None = None):
        self.phase = phase
        if self.progress:
            self.progress(phase, done, self.size if total is None else total)

    def bar(self, cur: int, total: int, prefix: str):
        m = self._WRITING.search(prefix)
        if m:
            # esptool names the flash address the board has acknowledged up to: uncompressed bytes written
            done = int(m.group(1), 16) - self.offset
        else:
            done = int(self.size * cur / total) if total else 0
        self.written = max(0, min(done, self.size))
        if self.progress and self.phase == "write":
            self.progress("write", self.written, self.size)


_local = threading.local()
_router_lock = threading.Lock()
_router_users = 0
_saved_logger = None


def _current_sink() -> _Sink | None:
    return getattr(_local, "sink", None)


def _make_router():
    from esptool.logger import TemplateLogger

    class Router(TemplateLogger):
        """esptool has one global logger; concurrent jobs each get their own output through a thread-local."""

        def print(self, *args, **kwargs):
            sink = _current_sink()
            if sink is not None:
                sink.text(" ".join(str(a) for a in args), kwargs.get("end", "\n"))

        def note(self, message):
            self.print(f"Note: {message}")

        def warning(self, message):
            self.print(f"Warning: {message}")

        def error(self, message):
            self.print(f"Error: {message}")

        def stage(self, finish=False):
            pass

        def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
            sink = _current_sink()
            if sink is not None:
                sink.bar(cur_iter, total_iters, prefix)

        def set_verbosity(self, verbosity):
            pass

    return Router()


class _RoutedLogging:
    """Install the routing logger while at least one job runs; put esptool's own back afterwards."""

    def __init__(self, sink: _Sink):
        self.sink = sink

    def __enter__(self):
        global _router_users, _saved_logger
        from esp_pylib.logger import EspLog
        from esptool.logger import log

        with _router_lock:
            if _router_users == 0:
                _saved_logger = EspLog.instance
                log.set_logger(_make_router())
            _router_users += 1
        _local.sink = self.sink
        return self.sink

    def __exit__(self, *exc):
        global _router_users
        from esp_pylib.logger import EspLog

        _local.sink = None
        with _router_lock:
            _router_users -= 1
            if _router_users == 0:
                EspLog.instance = _saved_logger


# ---------------------------------------------------------------- ESP32 family


def _is_pty(port: str) -> bool:
    if "://" in port:
        return False
    try:
        st = os.stat(port)
    except OSError:
        return False
    # Unix98 pty slaves: majors 136-143 on Linux
    return stat.S_ISCHR(st.st_mode) and 136 <= os.major(st.st_rdev) <= 143


def default_resets(port: str) -> tuple[str, str]:
    """(before, after): DTR/RTS resets on a USB-serial port; none on a pty or a TCP socket (no modem lines)."""
    if _is_pty(port) or port.startswith(("socket://", "rfc2217://")):
        return "no-reset", "no-reset"
    return "default-reset", "hard-reset"


def esptool_command(
    port: str,
    chip: str,
    offset: int,
    image: str,
    *,
    baud: int,
    stub: bool = True,
    compress: bool = True,
    erase: bool = False,
    before: str = "default-reset",
    after: str = "hard-reset",
) -> str:
    """The esptool command line that does what `flash_esp` does, for the user to repeat by hand."""
    parts = [
        "esptool",
        "--chip",
        chip,
        "--port",
        port,
        "--baud",
        str(baud),
        "--before",
        before,
        "--after",
        after,
    ]
    if not stub:
        parts.append("--no-stub")
    parts.append("write-flash")
    if erase:
        parts.append("--erase-all")
    parts.append("--compress" if compress else "--no-compress")
    parts += [f"{offset:#x}", image]
    return " ".join(_shell_quote(p) for p in parts)


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _native_usb_port(port: str):
    """The port's listing if it is the chip's own USB (it re-enumerates on reset), else None."""
    if "://" in port or _is_pty(port):
        return None
    try:
        from citynode.ports import list_ports

        real = os.path.realpath(port)
        for p in list_ports():
            if os.path.realpath(p.device) == real and p.native_usb:
                return p
    except Exception:  # noqa: BLE001 - listing is best effort; flashing does not depend on it
        return None
    return None


def _port_gone(port: str, exc: BaseException | None) -> bool:
    """Did the port vanish (cable pulled, board reset its native USB) rather than the transfer go wrong?"""
    if "://" not in port and not os.path.exists(port):
        return True
    e = exc
    seen = 0
    while e is not None and seen < 6:
        if isinstance(e, OSError) and e.errno in (errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF):
            return True
        text = str(e)
        if "device reports readiness to read but returned no data" in text or "Input/output error" in text:
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


class _LengthOnly:
    """Stands in for esptool's HexFormatter. esptool builds its trace messages with f-strings, so every
    command hex-dumps its whole payload even with tracing off: about a second of CPU per MB written, which
    is what limits several boards flashed at once. We never trace; the length is all a message needs."""

    def __init__(self, data, auto_split=True):
        self._n = len(data)

    def __str__(self):
        return f"<{self._n} bytes>"


class _SharedCompression:
    """Stands in for the `zlib` module inside esptool.cmds: a tray of boards flashed with one image compresses
    it once (level 9 on 1.5 MB is a quarter of a second of CPU per board) instead of once per board. Same
    bytes out; everything else goes to zlib."""

    def __init__(self):
        import zlib

        self._zlib = zlib
        self._lock = threading.Lock()
        self._cache: dict[tuple[bytes, int], bytes] = {}
        self._pending: dict[tuple[bytes, int], threading.Event] = {}

    def __getattr__(self, name):
        return getattr(self._zlib, name)

    def compress(self, data, level=-1, **kw):
        if kw or len(data) < 64 * 1024:
            return self._zlib.compress(data, level, **kw)
        key = (hashlib.sha256(data).digest(), level)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            waiting = self._pending.get(key)
            if waiting is None:
                self._pending[key] = threading.Event()
        if waiting is not None:  # another board's job is compressing the same image: wait for it
            waiting.wait()
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            return self._zlib.compress(data, level)
        try:
            out = self._zlib.compress(data, level)
            with self._lock:
                while len(self._cache) >= 4:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = out
            return out
        finally:
            with self._lock:
                self._pending.pop(key).set()


def _tune_esptool():
    import esptool.cmds
    import esptool.loader

    if getattr(esptool.loader, "HexFormatter", None) is not _LengthOnly:
        esptool.loader.HexFormatter = _LengthOnly
    if not isinstance(getattr(esptool.cmds, "zlib", None), _SharedCompression):
        esptool.cmds.zlib = _SharedCompression()


def _esp_attempt(port, board, data, offset, *, baud, compress, stub, erase, before, after, sink, result):
    _tune_esptool()
    from esptool.cmds import (
        attach_flash,
        detect_chip,
        erase_flash,
        reset_chip,
        run_stub,
        verify_flash,
        write_flash,
    )
    from esptool.util import FatalError

    want = board["flash"].get("chip", board["mcu"])
    sink.set_phase("connect")
    try:
        esp = detect_chip(
            port, ROM_BAUD, connect_mode=before, connect_attempts=2 if before == "no-reset" else 7
        )
    except FatalError as e:
        if _port_gone(port, e):
            raise
        raise FlashError(
            f"no ESP32 bootloader answers on {port}: hold BOOT (IO0) and press RESET to enter download mode "
            "(boards with auto-reset do this themselves); a power-only USB cable gives a port with nothing behind "
            f"it. esptool said: {str(e).splitlines()[0]}"
        ) from None
    try:
        result.chip = esp.CHIP_NAME
        if esp.CHIP_NAME != ESP_CHIP_NAMES.get(want, want.upper()):
            raise FlashError(
                f"{port}: this chip is an {esp.CHIP_NAME}, but {board['id']} has an "
                f"{ESP_CHIP_NAMES.get(want, want)}: wrong port, or wrong --board? Nothing was written"
            )
        mac = esp.read_mac()
        result.mac = ":".join(f"{b:02x}" for b in mac) if mac else None
        if stub:
            sink.set_phase("stub")
            esp = run_stub(esp)
        result.stub = esp.IS_STUB
        if baud != ROM_BAUD:
            sink.set_phase("baud")
            esp.change_baud(baud)
        result.baud = baud
        attach_flash(esp)
        if erase:
            sink.set_phase("erase")
            erase_flash(esp)
            result.erased = True
        esp.WRITE_FLASH_ATTEMPTS = 1  # a lost port fails now; our own retry below decides what to do
        sink.set_phase("write")
        write_flash(esp, [(offset, data)], compress=compress, no_compress=not compress, flash_size="keep")
        result.compressed = compress
        sink.set_phase("verify", len(data))
        verify_flash(esp, [(offset, data)])
        result.md5 = hashlib.md5(data).hexdigest()
        sink.set_phase("reset", len(data))
        reset_chip(esp, after)
    finally:
        try:
            esp._port.close()
        except Exception:  # noqa: BLE001 - closing a port that went away
            pass


def flash_esp(
    port: str,
    board: dict,
    image: str | os.PathLike,
    data: bytes | None = None,
    *,
    erase: bool = False,
    baud: int | None = None,
    stub: bool = True,
    compress: bool = True,
    before: str | None = None,
    after: str | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    on_command: Callable[[str], None] | None = None,
) -> FlashResult:
    """Flash `image` at the board's offset through esptool, verified; retry once at 115200 uncompressed.

    `progress(phase, done, total)` follows the phases connect, stub, baud, erase, write (bytes the board
    confirmed), verify, reset, done; `on_command` gets the equivalent esptool command line before anything
    is sent."""
    if data is None:
        _, data = read_image(board, image)
    fl = board["flash"]
    chip = fl.get("chip", board["mcu"])
    offset = int(fl.get("offset", 0))
    fast = int(baud or fl.get("baud") or ROM_BAUD)
    d_before, d_after = default_resets(port)
    before, after = before or d_before, after or d_after
    if erase and not stub:
        raise FlashError("--erase needs the flasher stub (the ROM loader has no chip erase); drop --no-stub")
    plan = [(fast, compress)]
    if fast != ROM_BAUD or compress:
        plan.append((ROM_BAUD, False))  # ESPHome and mpflash: slower and uncompressed on the second try
    result = FlashResult(board=board["id"], target=port, method="esptool", bytes=len(data), seconds=0.0)
    result.command = esptool_command(
        port,
        chip,
        offset,
        str(image),
        baud=fast,
        stub=stub,
        compress=compress,
        erase=erase,
        before=before,
        after=after,
    )
    if on_command:
        on_command(result.command)
    if "://" not in port:  # permission, busy, missing: say so in the ports module's words, not esptool's
        from citynode.ports import PortError, open_serial

        try:
            open_serial(port, timeout=0).close()
        except PortError as e:
            raise FlashError(str(e)) from None
    native = _native_usb_port(port)
    sink = _Sink(offset, len(data), progress, log)
    t0 = time.perf_counter()
    errors = []
    with _RoutedLogging(sink):
        for n, (b, z) in enumerate(plan, 1):
            result.attempts = n
            try:
                _esp_attempt(
                    port, board, data, offset, baud=b, compress=z, stub=stub, erase=erase and not result.erased,
                    before=before, after=after, sink=sink, result=result,
                )  # fmt: skip
                break
            except FlashError:
                raise
            except Exception as e:  # esptool's FatalError, pyserial's SerialException, OSError
                phase, written = sink.phase, sink.written
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                if _port_gone(port, e):
                    pct = (
                        f" at {100 * written // max(1, len(data))}% of the write ({written} of {len(data)} bytes confirmed)"
                        if phase == "write"
                        else f" while {_PHASES.get(phase, phase)}"
                    )  # noqa: E501
                    raise FlashError(
                        f"{port}: lost the connection{pct}: cable unplugged or board reset? The image on the board "
                        "is incomplete; plug it back in and run the same command again"
                    ) from None
                errors.append(
                    f"{b} baud{'' if z else ' uncompressed'}: {first} (while {_PHASES.get(phase, phase)})"
                )
                if n == len(plan) or phase in ("connect",):
                    raise FlashError(f"{port}: flashing failed: " + "; then at ".join(errors)) from None
                if log:
                    log(f"failed at {b} baud ({first}); retrying at {ROM_BAUD} baud, uncompressed")
                sink.set_phase("retry")
                time.sleep(0.3)  # let the board's reset (DTR/RTS, or the emulator's session end) settle
    if after == "hard-reset" and native is not None:
        # an ESP32-S3 on its own USB port drops off the bus when it resets and comes back, maybe renamed
        from citynode.ports import PortError, wait_reenumerated

        sink.set_phase("reset", len(data))
        try:
            result.port_after = wait_reenumerated(native)
        except PortError as e:
            result.port_after = None
            if log:
                log(str(e))
    result.seconds = time.perf_counter() - t0
    result.log = sink.lines
    sink.set_phase("done", len(data))
    return result


_PHASES = {
    "connect": "connecting",
    "stub": "starting the flasher stub",
    "baud": "changing the baud rate",
    "erase": "erasing the flash",
    "write": "writing",
    "verify": "verifying",
    "reset": "resetting the board",
    "retry": "retrying",
}


# ---------------------------------------------------------------- RP2040: UF2 onto the BOOTSEL drive


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
    label = board["flash"].get("volume_label", "RPI-RP2")
    if volume is None:
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
        volume = vols[0]
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
        chip=board["mcu"].upper(), command=f"cp {_shell_quote(str(path))} {_shell_quote(str(volume))}/",
    )  # fmt: skip


# ---------------------------------------------------------------- STM32: dfu-util or st-flash


def _stm32_commands(board: dict, image: Path) -> tuple[list[str] | None, str]:
    fl = board["flash"]
    method = fl["method"]
    offset = int(fl.get("offset", 0x08000000))
    if method == "dfu":
        exe = shutil.which("dfu-util")
        if image.suffix.lower() == ".dfu":
            cmd = ["dfu-util", "-a", "0", "-D", str(image)]
        else:
            cmd = ["dfu-util", "-a", "0", "-s", f"{offset:#010x}:leave", "-D", str(image)]
        if fl.get("dfu_id"):
            cmd[1:1] = ["-d", fl["dfu_id"]]
        how = (
            "put the board in DFU mode (hold BOOT0 high while resetting), then run: "
            + " ".join(map(_shell_quote, cmd))
            + " (install dfu-util: `sudo apt install dfu-util`, or use STM32CubeProgrammer)"
        )
        return ([exe, *cmd[1:]] if exe else None), how
    exe = shutil.which("st-flash")
    if image.suffix.lower() == ".hex":
        cmd = ["st-flash", "--reset", "--format", "ihex", "write", str(image)]
    else:
        cmd = ["st-flash", "--reset", "write", str(image), f"{offset:#x}"]
    how = (
        "connect the board's ST-LINK USB port, then run: "
        + " ".join(map(_shell_quote, cmd))
        + " (install it: `sudo apt install stlink-tools`); or STM32CubeProgrammer: "
        + f"STM32_Programmer_CLI -c port=SWD -w {_shell_quote(str(image))} {offset:#x} -v -rst; "
        + "or copy the image onto the ST-LINK's USB drive"
    )
    return ([exe, *cmd[1:]] if exe else None), how


def flash_stm32(
    board: dict, image: str | os.PathLike, data: bytes | None = None, *, progress: Progress | None = None
) -> FlashResult:
    path = Path(image)
    if data is None:
        path, data = read_image(board, image)
    cmd, how = _stm32_commands(board, path)
    tool = "dfu-util" if board["flash"]["method"] == "dfu" else "st-flash"
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
        seconds=time.perf_counter() - t0, chip=board["mcu"].upper(), command=" ".join(map(_shell_quote, cmd)),
        log=out,
    )  # fmt: skip


def forget_compressed_images() -> None:
    """Drop the shared compression cache (benchmarks measure a fresh `citynode flash` run)."""
    import esptool.cmds

    esptool.cmds.zlib = _SharedCompression()
