"""The ESP32 family (method "esptool"), through esptool's Python API, never a subprocess.

Detect the chip and refuse one that is not the board's, upload the flasher stub, switch to the board's fast baud
rate, write compressed, check the MD5 the board computes, reset. A failure during the write is retried once the
way ESPHome and mpflash do: at 115200 baud, uncompressed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shlex
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path

from citynode.flash.esptool_log import RoutedLogging, Sink
from citynode.flash.esptool_tuning import tune_esptool
from citynode.flash.image import download_hint, read_image
from citynode.flash.result import FlashError, FlashResult, Progress

ROM_BAUD = 115200
# esptool's chip names (CHIP_NAME) for the names board files use
ESP_CHIP_NAMES = {"esp32": "ESP32", "esp32s2": "ESP32-S2", "esp32s3": "ESP32-S3", "esp32c3": "ESP32-C3"}
# image header chip ids (esptool IMAGE_CHIP_ID)
ESP_IMAGE_CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9}

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


def check_image(board: dict, path: Path, data: bytes) -> None:
    """An ESP app image names its chip in its header (byte 12): refuse one built for another chip."""
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


# ---------------------------------------------------------------- the port


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


def _check_port_opens(port: str) -> None:
    """Permission, busy, missing: say so in the ports module's words, not esptool's."""
    if "://" in port:
        return
    from citynode.ports import PortError, open_serial

    try:
        open_serial(port, timeout=0).close()
    except PortError as e:
        raise FlashError(str(e)) from None


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


# ---------------------------------------------------------------- one attempt


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
    return " ".join(shlex.quote(p) for p in parts)


def _detect(port: str, before: str):
    """Connect to the ROM loader; a board that does not answer gets the how-to of its download mode."""
    from esptool.cmds import detect_chip
    from esptool.util import FatalError

    try:
        return detect_chip(
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


def _esp_attempt(port, board, data, offset, *, baud, compress, stub, erase, before, after, sink, result):
    tune_esptool()
    from esptool.cmds import attach_flash, erase_flash, reset_chip, run_stub, verify_flash, write_flash

    want = board["flash"].get("chip", board["mcu"])
    sink.set_phase("connect")
    esp = _detect(port, before)
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
        esp.WRITE_FLASH_ATTEMPTS = 1  # a lost port fails now; our own retry decides what to do
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


# ---------------------------------------------------------------- the whole job


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
        port, fl.get("chip", board["mcu"]), offset, str(image), baud=fast, stub=stub, compress=compress,
        erase=erase, before=before, after=after,
    )  # fmt: skip
    if on_command:
        on_command(result.command)
    _check_port_opens(port)
    native = _native_usb_port(port)
    sink = Sink(offset, len(data), progress, log)
    t0 = time.perf_counter()
    with RoutedLogging(sink):
        _attempt_by_plan(
            plan, port, board, data, offset, stub=stub, erase=erase, before=before, after=after, sink=sink,
            result=result, log=log,
        )  # fmt: skip
    if after == "hard-reset" and native is not None:
        _follow_reenumeration(native, sink, result, log)
    result.seconds = time.perf_counter() - t0
    result.log = sink.lines
    sink.set_phase("done", len(data))
    return result


def _attempt_by_plan(plan, port, board, data, offset, *, stub, erase, before, after, sink, result, log):
    """Each (baud, compressed) of the plan in turn until one succeeds. A lost port or a failed connection
    ends it at once; the error names every attempt and the phase it failed in."""
    errors = []
    for n, (b, z) in enumerate(plan, 1):
        result.attempts = n
        try:
            _esp_attempt(
                port, board, data, offset, baud=b, compress=z, stub=stub, erase=erase and not result.erased,
                before=before, after=after, sink=sink, result=result,
            )  # fmt: skip
            return
        except FlashError:
            raise
        except Exception as e:  # esptool's FatalError, pyserial's SerialException, OSError
            phase, written = sink.phase, sink.written
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            if _port_gone(port, e):
                raise _lost_connection(port, phase, written, len(data)) from None
            errors.append(
                f"{b} baud{'' if z else ' uncompressed'}: {first} (while {_PHASES.get(phase, phase)})"
            )
            if n == len(plan) or phase in ("connect",):
                raise FlashError(f"{port}: flashing failed: " + "; then at ".join(errors)) from None
            if log:
                log(f"failed at {b} baud ({first}); retrying at {ROM_BAUD} baud, uncompressed")
            sink.set_phase("retry")
            time.sleep(0.3)  # let the board's reset (DTR/RTS, or the emulator's session end) settle


def _lost_connection(port: str, phase: str, written: int, size: int) -> FlashError:
    """Nothing is retried on a vanished port: say how far the write got and that the image is incomplete."""
    if phase == "write":
        where = f" at {100 * written // max(1, size)}% of the write ({written} of {size} bytes confirmed)"
    else:
        where = f" while {_PHASES.get(phase, phase)}"
    return FlashError(
        f"{port}: lost the connection{where}: cable unplugged or board reset? The image on the board "
        "is incomplete; plug it back in and run the same command again"
    )


def _follow_reenumeration(native, sink: Sink, result: FlashResult, log) -> None:
    """An ESP32-S3 on its own USB port drops off the bus when it resets and comes back, maybe renamed."""
    from citynode.ports import PortError, wait_reenumerated

    sink.set_phase("reset", result.bytes)
    try:
        result.port_after = wait_reenumerated(native)
    except PortError as e:
        result.port_after = None
        if log:
            log(str(e))
