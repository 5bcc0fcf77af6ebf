"""Serial ports: which boards are attached, which port a `--port` option means, and errors a user can act on.

A port spec is one of:
- ``auto`` (or nothing): the one attached board; several or none is an error that lists what was found;
- ``id:<usb serial>``: the board with that USB serial number, whatever /dev name it got this time;
- ``port:<path>`` or a path (``/dev/ttyUSB0``, ``COM3``, an emulated board's ``/dev/pts/N``);
- a pyserial URL (``socket://host:port``, ``rfc2217://host:port``), passed through as is.

Emulated boards (`citynode emulator serve`) advertise themselves in a small registry directory
(``CITYNODE_EMULATED_PORTS`` or ``$XDG_RUNTIME_DIR/citynode-ports``), so ``auto``, ``id:`` and ``--all-ports``
find them like USB boards. Each entry carries the board id, so "the board it probably is" is exact for them.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from citynode.base.emulated_ports import emulated_entries

# USB-serial bridges and native USB ports seen on the boards we support (VID:PID -> what it is).
USB_CHIPS = {
    "10c4:ea60": "Silicon Labs CP210x",
    "1a86:7523": "WCH CH340",
    "1a86:55d4": "WCH CH9102",
    "0403:6001": "FTDI FT232R",
    "0403:6015": "FTDI FT231X",
    "303a:1001": "Espressif native USB (USB-Serial/JTAG)",
    "303a:4001": "Espressif native USB (TinyUSB CDC)",
    "2e8a:0005": "Raspberry Pi RP2040 (MicroPython)",
    "0483:5740": "STMicroelectronics virtual COM port",
}
# Ports whose USB device is the MCU itself: they vanish on every reset and come back, maybe renamed.
NATIVE_USB_VIDS = {0x303A, 0x2E8A}
REENUMERATE_TIMEOUT_S = 30.0


class PortError(Exception):
    """A port problem the user can fix; the message says how. Commands turn it into a UserError."""


@dataclass
class PortInfo:
    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    location: str | None = None
    description: str = ""
    manufacturer: str | None = None
    boards: list[str] = field(
        default_factory=list
    )  # boards whose usb_vid_pid matches (or the emulated board)
    emulated: bool = False
    pid_of_server: int | None = None

    @property
    def vid_pid(self) -> str | None:
        if self.vid is None or self.pid is None:
            return None
        return f"{self.vid:04x}:{self.pid:04x}"

    @property
    def board(self) -> str | None:
        """The board it probably is: only when exactly one board file matches."""
        return self.boards[0] if len(self.boards) == 1 else None

    @property
    def native_usb(self) -> bool:
        return self.vid in NATIVE_USB_VIDS

    @property
    def is_candidate(self) -> bool:
        """Looks like a board: a USB serial device or an emulated board (not a legacy on-board UART)."""
        return self.emulated or self.vid is not None

    def label(self) -> str:
        bits = [self.device]
        if self.serial_number:
            bits.append(f"id:{self.serial_number}")
        if self.board:
            bits.append(f"probably {self.board}")
        elif self.boards:
            bits.append("one of " + ", ".join(self.boards))
        elif self.vid_pid:
            bits.append(USB_CHIPS.get(self.vid_pid, self.vid_pid))
        return " ".join(bits)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vid_pid"] = self.vid_pid
        d["board"] = self.board
        d["usb_chip"] = USB_CHIPS.get(self.vid_pid or "", None)
        d.pop("pid_of_server")
        return d


# ---------------------------------------------------------------- emulated boards (citynode.base.emulated_ports)


def _emulated_ports() -> list[PortInfo]:
    return [
        PortInfo(
            device=e["device"],
            serial_number=e["serial_number"],
            location="emulated",
            description=f"emulated {e['board']} (citynode emulator serve, pid {e['pid']})",
            boards=[e["board"]],
            emulated=True,
            pid_of_server=int(e["pid"]),
        )
        for e in emulated_entries()
    ]


# ---------------------------------------------------------------- listing


def _board_usb_ids() -> dict[str, list[str]]:
    from citynode.base import boards

    ids: dict[str, list[str]] = {}
    for p in boards.board_files():
        try:
            b = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        for vp in b.get("flash", {}).get("usb_vid_pid", []):
            ids.setdefault(vp.lower(), []).append(b.get("id", p.stem))
    return ids


def list_ports(include_legacy: bool = False) -> list[PortInfo]:
    """Attached serial ports (USB ones and emulated boards; legacy UARTs like /dev/ttyS0 only if asked)."""
    from serial.tools import list_ports as lp

    usb_ids = _board_usb_ids()
    out = []
    for p in sorted(lp.comports(), key=lambda p: p.device):
        info = PortInfo(
            device=p.device,
            vid=p.vid,
            pid=p.pid,
            serial_number=p.serial_number,
            location=p.location,
            description=p.description if p.description not in (None, "n/a") else "",
            manufacturer=p.manufacturer,
        )
        if info.vid_pid:
            info.boards = list(usb_ids.get(info.vid_pid, []))
        if include_legacy or info.is_candidate:
            out.append(info)
    out.extend(_emulated_ports())
    return out


def candidates(board: str | None = None) -> list[PortInfo]:
    """Ports that look like boards; with `board`, those that probably are that board if any do."""
    found = [p for p in list_ports() if p.is_candidate]
    if board is not None:
        matching = [p for p in found if board in p.boards]
        if matching:
            return matching
    return found


# ---------------------------------------------------------------- resolving a --port spec


def is_url(spec: str) -> bool:
    return "://" in spec


def _describe(found: list[PortInfo]) -> str:
    return "; ".join(p.label() for p in found)


def _no_board_message() -> str:
    return (
        "no board found on any serial port: is it plugged in with a data cable (power-only cables give no "
        "port), and powered? `citynode ports` lists what is attached"
    )


def _resolve_once(spec: str | None, board: str | None, interactive: bool) -> str:
    if spec is None or spec == "auto":
        found = candidates(board)
        if len(found) == 1:
            return found[0].device
        if not found:
            raise PortError(_no_board_message())
        if interactive:
            return _prompt(found)
        raise PortError(
            f"{len(found)} boards attached ({_describe(found)}): choose one with --port id:<serial> or "
            "--port <path>, or do them all with --all-ports"
        )
    if spec.startswith("id:"):
        want = spec[3:].strip().lower()
        found = [p for p in list_ports() if (p.serial_number or "").lower() == want]
        if len(found) == 1:
            return found[0].device
        if len(found) > 1:
            raise PortError(f"several ports have USB serial {want!r}: {_describe(found)}; use a path")
        attached = [p for p in list_ports() if p.serial_number]
        listing = ", ".join(f"id:{p.serial_number}" for p in attached) or "none with a serial number"
        raise PortError(f"no port with USB serial {want!r} (attached: {listing})")
    if is_url(spec):
        return spec
    path = spec[5:] if spec.startswith("port:") else spec
    if not os.path.exists(path):
        raise PortError(f"{path}: no such port; `citynode ports` lists what is attached")
    check_access(path)
    return path


def _prompt(found: list[PortInfo]) -> str:
    import click

    click.echo("Several boards are attached:", err=True)
    for i, p in enumerate(found, 1):
        click.echo(f"  {i}. {p.label()}", err=True)
    n = click.prompt("Which one", type=click.IntRange(1, len(found)), err=True)
    return found[n - 1].device


def resolve_port(
    spec: str | None = "auto",
    *,
    board: str | None = None,
    wait_s: float = 0.0,
    interactive: bool | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> str:
    """The device path (or URL) a --port spec names. Raises PortError with what to do about it.

    With `wait_s`, a port that is not there yet (an ESP32-S3 re-enumerating after a reset, a board being
    plugged in) is waited for up to that long. Prompts only when asked to and stdin is a terminal.
    """
    if interactive is None:
        interactive = False
    interactive = interactive and sys.stdin.isatty()
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return _resolve_once(spec, board, interactive)
        except PortError as e:
            retryable = (
                "no such port" in str(e) or "no port with USB serial" in str(e) or "no board found" in str(e)
            )
            if not retryable or time.monotonic() >= deadline:
                if wait_s and retryable:
                    raise PortError(f"{e} (waited {wait_s:.0f} s)") from None
                raise
            if on_wait is not None and not told:
                on_wait(str(e))
                told = True
            time.sleep(0.25)


def wait_reenumerated(
    before: PortInfo, timeout: float = REENUMERATE_TIMEOUT_S, gone_grace_s: float = 2.0
) -> str:
    """After a reset of a native-USB board: wait for the same board (same USB serial, or same location) to
    come back, possibly under another name. Returns its device path. A board whose port never goes away
    within `gone_grace_s` did not re-enumerate (a USB-serial bridge): it is returned at once."""
    t0 = time.monotonic()
    gone = False
    while time.monotonic() - t0 < timeout:
        same = [
            p
            for p in list_ports()
            if (before.serial_number and p.serial_number == before.serial_number)
            or (not before.serial_number and before.location and p.location == before.location)
        ]
        if not same:
            gone = True
        elif gone or time.monotonic() - t0 >= gone_grace_s:
            return same[0].device
        time.sleep(0.25)
    raise PortError(
        f"{before.device} did not come back within {timeout:.0f} s after the reset (an ESP32-S3's native USB "
        "port re-enumerates after flashing; unplug and replug the board, or press RST)"
    )


# ---------------------------------------------------------------- opening, with errors a user can act on


def _holders(path: str) -> list[str]:
    """Processes holding `path` open (Linux /proc), as 'name (pid N)'."""
    out = []
    try:
        target = os.path.realpath(path)
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            fd_dir = f"/proc/{pid}/fd"
            try:
                for fd in os.listdir(fd_dir):
                    if os.path.realpath(os.path.join(fd_dir, fd)) == target:
                        name = Path(f"/proc/{pid}/comm").read_text().strip()
                        out.append(f"{name} (pid {pid})")
                        break
            except OSError:
                continue
    except OSError:
        pass
    return out


def permission_message(path: str) -> str:
    group = "dialout"
    try:
        import grp

        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError, ImportError):
        pass
    return (
        f"no permission to open {path}: add yourself to the {group!r} group "
        f"(`sudo usermod -aG {group} $USER`, then log out and in again)"
    )


def busy_message(path: str) -> str:
    who = _holders(path)
    by = f" by {', '.join(who)}" if who else " by another program (a serial monitor, mpremote, esptool?)"
    return f"{path} is busy: it is open{by}; close that first"


def no_answer_message(port: str) -> str:
    return (
        f"no board answers on {port}: is it powered and running MicroPython (`citynode flash`)? A power-only "
        "USB cable gives a port with nothing behind it; try a data cable"
    )


def check_access(path: str) -> None:
    if os.name == "posix" and not os.access(path, os.R_OK | os.W_OK):
        raise PortError(permission_message(path))


def explain(exc: BaseException, port: str) -> PortError:
    """Turn an exception from opening or talking to `port` into a PortError that says what to do."""
    if isinstance(exc, PortError):
        return exc
    text = str(exc)
    err = getattr(exc, "errno", None)
    inner = exc.__context__ if isinstance(exc.__context__, OSError) else None
    codes = {err, getattr(inner, "errno", None)}
    if isinstance(exc, PermissionError) or errno.EACCES in codes or "Permission denied" in text:
        return PortError(permission_message(port))
    if (
        errno.EBUSY in codes
        or "exclusively lock" in text
        or "Resource busy" in text
        or "busy" in text.lower()
    ):
        return PortError(busy_message(port))
    if errno.ENOENT in codes or "No such file" in text:
        return PortError(f"{port}: no such port (unplugged?); `citynode ports` lists what is attached")
    if errno.EIO in codes or "Input/output error" in text or "device reports readiness" in text:
        return PortError(f"{port}: the port went away (cable unplugged or board reset)")
    return PortError(f"{port}: {text}")


def open_serial(port: str, baudrate: int = 115200, timeout: float | None = 1.0, exclusive: bool = True):
    """pyserial's serial_for_url with the errors above instead of tracebacks."""
    import serial

    try:
        kw = {"baudrate": baudrate, "timeout": timeout}
        if not is_url(port):
            kw["exclusive"] = exclusive
        return serial.serial_for_url(port, **kw)
    except (OSError, serial.SerialException, ValueError) as e:
        raise explain(e, port) from None
