"""A fake ESP32 / ESP32-S3 serial ROM loader on a pty, for flashing tests with the real esptool.

    rom = FakeRom("esp32s3", flash_file="flash.bin", size="8MB").start()   # serves in a thread
    esptool --port rom.port write-flash 0 image.bin                        # real esptool, unchanged
    rom.flash_bytes(0, len(image)) == image

It speaks the serial download protocol the chips' ROMs speak, as esptool uses it: SLIP frames (0xC0, escapes
DB DC / DB DD), requests ``<BBHI`` (0, op, size, checksum) + data, replies ``<BBHI`` (1, op, size, value) + data
+ status (four bytes from a ROM, two from the flasher stub). ROM commands: SYNC, READ_REG (chip magic, eFuse
MAC, UART clock divider), WRITE_REG (with enough of the SPI peripheral for user commands: JEDEC id, SFDP,
status), GET_SECURITY_INFO (the S3; the ESP32 ROM rejects it), SPI_ATTACH, SPI_SET_PARAMS, CHANGE_BAUDRATE,
FLASH_BEGIN/DATA/END, FLASH_DEFL_* (the ESP32 ROM and later have inflate), SPI_FLASH_MD5 (hex text from a ROM,
16 raw bytes from the stub), READ_FLASH_SLOW, MEM_BEGIN/DATA/END. Uploading a stub and jumping to it answers
``OHAI`` and switches to the stub's dialect: two status bytes, ERASE_FLASH, ERASE_REGION, READ_FLASH (windowed,
acknowledged, MD5 at the end).

What it models beyond the bytes on the wire:
- NOR flash: a write can only clear bits (new = old AND data), so a write without an erase shows up as a
  wrong MD5, as on a chip. The flash is a file (mmap), so an interrupted write leaves a half-written image.
- The serial line: the pty's line speed (set by the host through termios) must match the chip's UART speed,
  otherwise the host gets garbage, as with a real baud mismatch. ``max_baud`` makes faster rates unreliable
  (a long cable, a cheap bridge), to exercise a host's fallback to 115200. ``uart_timing`` paces received
  bytes at 10 bits per byte of the current baud rate, so several boards flashed at once compete for CPU, not
  for a free link of infinite speed.
- Sessions: when the host closes the port, the next session starts in the ROM at 115200, as after esptool's
  default DTR/RTS reset (ptys have no modem lines).
- Unplugging: ``unplug()`` (or ``unplug_after`` received bytes) closes the pty: the host's next read or write
  fails as when a USB cable is pulled. ``replug()`` brings the board back, reset, on a new pty; with ``link``
  the same stable path (a symlink) points at it, like /dev/ttyUSB0 coming back.

It tests flashing code (offsets, erase, compression, verification, retries), not the firmware: no CPU here.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import select
import struct
import sys
import termios
import threading
import time
import tty
import zlib
from pathlib import Path

ROM_BAUD = 115200
SECTOR = 0x1000

# op codes (esptool's names)
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13
GET_SECURITY_INFO = 0x14
ERASE_FLASH, ERASE_REGION, READ_FLASH = 0xD0, 0xD1, 0xD2
OP_NAMES = {
    v: k
    for k, v in globals().items()
    if k.isupper() and isinstance(v, int) and k not in ("ROM_BAUD", "SECTOR")
}

# error codes: ROM and stub use different ones (esptool decodes both)
ROM_INVALID_MSG, ROM_FAILED, ROM_BAD_CRC, ROM_FLASH_WRITE_ERR, ROM_READ_LEN_ERR, ROM_INFLATE_ERR = (
    5,
    6,
    7,
    8,
    0x0A,
    0x0B,
)
STUB_BAD_DATA_LEN, STUB_BAD_CHECKSUM, STUB_INVALID_COMMAND, STUB_NOT_IN_FLASH_MODE = 0xC0, 0xC1, 0xC3, 0xC6
STUB_INFLATE_ERROR, STUB_NOT_ENOUGH_DATA, STUB_TOO_MUCH_DATA = 0xC7, 0xC8, 0xC9

SYNC_PAYLOAD = b"\x07\x07\x12\x20" + 32 * b"\x55"
CHIP_MAGIC_ADDR = 0x40001000
SPI_CMD_USR = 1 << 18
SFDP_SIGNATURE = 0x50444653
XTAL_HZ = 40_000_000

# Registers per chip: the addresses esptool reads (targets/esp32.py, esp32s3.py in esptool 5.x).
CHIPS = {
    "esp32": {
        "name": "ESP32",
        "magic": 0x00F01D83,
        "security_info": False,
        "spi_base": 0x3FF42000,
        "spi": {"usr": 0x1C, "usr1": 0x20, "usr2": 0x24, "w0": 0x80},
        "spi_addr_msb": True,
        "uart_clkdiv": 0x3FF40014,
        "rom_defl": True,
    },
    "esp32s3": {
        "name": "ESP32-S3",
        "magic": 0x00000009,
        "security_info": True,
        "chip_id": 9,
        "spi_base": 0x60002000,
        "spi": {"usr": 0x18, "usr1": 0x1C, "usr2": 0x20, "w0": 0x58},
        "spi_addr_msb": False,
        "uart_clkdiv": 0x60000014,
        "rom_defl": True,
    },
}

_BAUDS = {
    getattr(termios, f"B{b}"): b
    for b in (
        9600,
        19200,
        38400,
        57600,
        115200,
        230400,
        460800,
        500000,
        576000,
        921600,
        1000000,
        1152000,
        1500000,
        2000000,
        3000000,
    )
    if hasattr(termios, f"B{b}")
}


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    t = text.strip().upper()
    for suffix, mult in (("MB", 1 << 20), ("KB", 1 << 10), ("M", 1 << 20), ("K", 1 << 10)):
        if t.endswith(suffix):
            return int(t[: -len(suffix)]) * mult
    return int(t, 0)


def default_mac(chip: str, seed: str) -> bytes:
    """A stable MAC in Espressif's OUI (24:0a:c4) derived from a seed (e.g. the flash file's name)."""
    h = hashlib.sha256(f"{chip}:{seed}".encode()).digest()
    return bytes([0x24, 0x0A, 0xC4]) + h[:3]


class _Unplugged(Exception):
    pass


class _Hangup(Exception):
    pass


class FakeRom:
    """One emulated chip in its serial download mode, on a pty."""

    def __init__(
        self,
        chip: str = "esp32",
        flash_file: str | os.PathLike | None = None,
        size: str | int = "4MB",
        *,
        mac: bytes | None = None,
        link: str | os.PathLike | None = None,
        unplug_after: int | None = None,
        max_baud: int | None = None,
        uart_timing: bool = False,
        log=None,
    ):
        if chip not in CHIPS:
            raise ValueError(f"unknown chip {chip!r}; this fake ROM knows {', '.join(CHIPS)}")
        self.chip = chip
        self.spec = CHIPS[chip]
        self.size = parse_size(size)
        if self.size & (self.size - 1) or not (1 << 18) <= self.size <= (1 << 27):
            raise ValueError(f"flash size {size!r}: must be a power of two between 256KB and 128MB")
        self.flash_file = Path(flash_file) if flash_file else None
        self.mac = mac or default_mac(chip, str(self.flash_file or id(self)))
        self.link = Path(link) if link else None
        self.unplug_after = unplug_after
        self.max_baud = max_baud
        self.uart_timing = uart_timing
        self._log = log
        self.events: list[dict] = []  # what a test may assert on: sessions, stub, baud, writes, unplugs
        self.master: int | None = None
        self.pty_path: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._unplug_req = threading.Event()
        self._replug_req = threading.Event()
        self._serving = False
        self._open_flash()
        self._power_on()

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> str:
        """The path a host opens: the stable link if there is one, else the pty."""
        return str(self.link) if self.link else self.pty_path

    def _open_flash(self):
        if self.flash_file is None:
            self._flash_fd = None
            self.flash = mmap.mmap(-1, self.size)
            self.flash.write(b"\xff" * self.size)
            return
        existing = self.flash_file.stat().st_size if self.flash_file.exists() else 0
        if existing > self.size:
            raise ValueError(f"{self.flash_file}: {existing} bytes, larger than the {self.size}-byte flash")
        self._flash_fd = os.open(self.flash_file, os.O_RDWR | os.O_CREAT, 0o644)
        if existing < self.size:  # a new chip's flash is erased (all ones)
            os.lseek(self._flash_fd, existing, os.SEEK_SET)
            chunk = b"\xff" * (1 << 20)
            left = self.size - existing
            while left:
                left -= os.write(self._flash_fd, chunk[: min(left, len(chunk))])
        self.flash = mmap.mmap(self._flash_fd, self.size)

    def _power_on(self):
        """State of a chip just reset into its download mode."""
        self.stub = False
        self.uart_baud = ROM_BAUD
        self.garbled = False
        self.app_running = False
        self.rx_bytes = 0
        self._rx = bytearray()
        self._link_free = 0.0
        self._regs = self._initial_regs()
        self._write: dict | None = None  # the FLASH_BEGIN / FLASH_DEFL_BEGIN in progress
        self._mem: dict | None = None
        self._mem_segments: list[tuple[int, int]] = []
        self._spi_set_size: int | None = None

    def _initial_regs(self) -> dict[int, int]:
        s = self.spec
        regs = {CHIP_MAGIC_ADDR: s["magic"]}
        m = self.mac
        if self.chip == "esp32":
            efuse = 0x3FF5A000
            regs[efuse + 4] = int.from_bytes(m[2:6], "big")  # word 1: MAC bytes 2..5
            regs[efuse + 8] = (0x5A << 16) | int.from_bytes(
                m[0:2], "big"
            )  # word 2: CRC8 (unchecked), MAC 0..1
            regs[efuse + 12] = (1 << 15) | (1 << 9)  # word 3: rev bit 0, package D0WD
            regs[efuse + 16] = 128  # word 4: CK8M frequency
            regs[efuse + 20] = 1 << 20  # word 5: rev bit 1
            regs[0x3FF6607C] = 1 << 31  # APB_CTL_DATE: with the two eFuse bits, chip revision v3
            regs[0x3FF5F06C] = 800 << 7  # RTCCALICFG1: the ROM's crystal calibration (800*128 -> 40 MHz)
        else:
            regs[0x60007044] = int.from_bytes(m[2:6], "big")
            regs[0x60007048] = int.from_bytes(m[0:2], "big")
        return regs

    def start(self) -> FakeRom:
        """Open the pty and serve it in a background thread. Returns self; `port` is the path to open."""
        self._plug()
        self._thread = threading.Thread(target=self._serve, name=f"fake-rom-{self.chip}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        """Open the pty (if not already) and serve in this thread until `close()` (or a signal)."""
        if self.master is None:
            self._plug()
        self._serve()

    def close(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._unplug(event=False)
        try:
            self.flash.flush()
            self.flash.close()
        except (ValueError, OSError):
            pass
        if self._flash_fd is not None:
            os.close(self._flash_fd)
            self._flash_fd = None

    def __enter__(self):
        return self if self.master is not None else self.start()

    def __exit__(self, *exc):
        self.close()

    def unplug(self):
        """Pull the cable: the pty goes away, the host's next read or write fails."""
        self._unplug_req.set()
        if not self._serving:
            self._unplug_req.clear()
            self._unplug()

    def replug(self, timeout: float = 5.0):
        """Plug the board back in: reset, on a new pty (the same `link` path if there is one)."""
        self._replug_req.set()
        if not self._serving:
            self._do_replug()
            return
        t0 = time.monotonic()
        while self._replug_req.is_set() and time.monotonic() - t0 < timeout:
            time.sleep(0.005)

    def flash_bytes(self, offset: int, length: int) -> bytes:
        return bytes(self.flash[offset : offset + length])

    # ---------------------------------------------------------------- pty plumbing

    def _note(self, kind: str, **kw):
        ev = {"t": time.time(), "type": kind, **kw}
        self.events.append(ev)
        if self._log is not None:
            detail = " ".join(f"{k}={v}" for k, v in kw.items())
            self._log(f"{kind} {detail}".rstrip())

    def _plug(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        self.pty_path = os.ttyname(slave)
        os.close(slave)  # the host opens it by path; with no slave open, poll() says HUP, which we use
        self.master = master
        self._host_open = False
        if self.link:
            tmp = self.link.with_name(self.link.name + ".tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(self.pty_path, tmp)
            os.replace(tmp, self.link)
        self._note("plugged", pty=self.pty_path)

    def _unplug(self, event=True):
        if self.master is None:
            return
        os.close(self.master)
        self.master = None
        if self.link:
            self.link.unlink(missing_ok=True)
        if event:
            self._note("unplugged", rx_bytes=self.rx_bytes)

    def _do_replug(self):
        self._unplug(event=False)
        self._power_on()
        self._plug()
        self._replug_req.clear()

    def _line_baud(self) -> int | None:
        """The host's line speed: termios on a pty master reads the slave's settings."""
        try:
            return _BAUDS.get(termios.tcgetattr(self.master)[5])
        except (termios.error, OSError):
            return None

    def _serve(self):
        self._serving = True
        try:
            self._serve_loop()
        finally:
            self._serving = False

    def _serve_loop(self):
        while not self._stop.is_set():
            if self._replug_req.is_set():
                self._do_replug()
            if self.master is None:
                time.sleep(0.01)
                continue
            if self._unplug_req.is_set():
                self._unplug_req.clear()
                self._unplug()
                continue
            try:
                frame = self._read_frame(0.05)
                if frame is not None:
                    self._handle(frame)
            except _Hangup:
                if self._host_open:
                    self._host_open = False
                    self._note("session_end")
                    self._power_on()  # esptool's DTR/RTS reset: back in the ROM at 115200
                time.sleep(0.02)  # nobody has the port open: poll() says HUP at once, so don't spin
            except _Unplugged:
                self._unplug_req.clear()
                self._unplug()
            except OSError as e:  # the host vanished mid-write
                self._note("io_error", error=str(e))
                time.sleep(0.005)

    def _fill(self, timeout: float) -> bool:
        """Read what the host sent into the buffer. False if nothing came within timeout."""
        if self.master is None or self._unplug_req.is_set():
            raise _Unplugged
        p = select.poll()
        p.register(self.master, select.POLLIN)
        ready = p.poll(timeout * 1000)
        if not ready:
            return False
        ev = ready[0][1]
        if not ev & select.POLLIN:
            raise _Hangup
        try:
            data = os.read(self.master, 65536)
        except OSError:
            raise _Hangup from None
        if not data:
            raise _Hangup
        if not self._host_open:
            self._host_open = True
            self._note("session_start", line_baud=self._line_baud())
        n = len(data)
        if self.unplug_after is not None and self.rx_bytes + n >= self.unplug_after:
            self.rx_bytes += n
            self.unplug_after = None  # once: a replugged board behaves
            raise _Unplugged
        self.rx_bytes += n
        if self.uart_timing:
            now = time.monotonic()
            self._link_free = max(self._link_free, now) + n * 10 / self.uart_baud
            if self._link_free > now:
                time.sleep(self._link_free - now)
        self._rx += data
        return True

    def _read_frame(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            buf = self._rx
            start = buf.find(0xC0)
            if start < 0:
                buf.clear()
            else:
                end = buf.find(0xC0, start + 1)
                if end >= 0:
                    raw = bytes(buf[start + 1 : end])
                    del buf[:end]  # the closing C0 may open the next frame
                    if raw:
                        return raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
                    continue
                if start:
                    del buf[:start]
            left = deadline - time.monotonic()
            if left <= 0 or not self._fill(left):
                return None

    def _send_raw(self, data: bytes):
        if self.master is None:
            raise _Unplugged
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def _send_frame(self, payload: bytes):
        self._send_raw(
            b"\xc0" + payload.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"
        )

    def _reply(self, op: int, value: int = 0, data: bytes = b"", error: int = 0):
        status = bytes([1 if error else 0, error])
        if not self.stub:
            status += b"\x00\x00"
        body = data + status
        self._send_frame(struct.pack("<BBHI", 1, op, len(body), value) + body)

    def _err(self, op: int, code_rom: int, code_stub: int):
        self._reply(op, error=code_stub if self.stub else code_rom)

    # ---------------------------------------------------------------- protocol

    def _line_ok(self) -> bool:
        if self.garbled:
            return False
        host = self._line_baud()
        return host is None or host == self.uart_baud

    def _handle(self, frame: bytes):
        if self.app_running:
            return  # the application does not speak SLIP
        if not self.stub and not self.garbled and frame[1:2] == bytes([SYNC]) and frame[0] == 0:
            host = self._line_baud()
            if host and host != self.uart_baud:  # the ROM measures the rate of the 0x55 sync bytes
                self.uart_baud = host
                self._note("autobaud", baud=host)
        if not self._line_ok():
            # what a receiver sampling at the wrong rate makes of a frame: noise, no valid SLIP
            self._send_raw(bytes((b * 7 + 0x35) & 0x7F | 0x80 for b in frame[:16]))
            return
        if len(frame) < 8 or frame[0] != 0:
            return  # not a request: a ROM ignores it
        _, op, size, chk = struct.unpack("<BBHI", frame[:8])
        data = frame[8:]
        if len(data) != size:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        handler = self._handlers().get(op)
        if handler is None or (op in (ERASE_FLASH, ERASE_REGION, READ_FLASH) and not self.stub):
            return self._err(op, ROM_INVALID_MSG, STUB_INVALID_COMMAND)
        if op == READ_FLASH_SLOW and self.stub:
            return self._err(op, ROM_INVALID_MSG, STUB_INVALID_COMMAND)
        if op in (FLASH_DATA, FLASH_DEFL_DATA, MEM_DATA):
            payload = data[16:]
            c = 0xEF
            for b in payload:
                c ^= b
            if c != chk & 0xFF:
                return self._err(op, ROM_BAD_CRC, STUB_BAD_CHECKSUM)
        handler(op, data)

    def _handlers(self):
        return {
            SYNC: self._sync,
            READ_REG: self._read_reg,
            WRITE_REG: self._write_reg,
            GET_SECURITY_INFO: self._security_info,
            SPI_ATTACH: self._ok,
            SPI_SET_PARAMS: self._spi_set_params,
            CHANGE_BAUDRATE: self._change_baud,
            FLASH_BEGIN: self._flash_begin,
            FLASH_DATA: self._flash_data,
            FLASH_END: self._flash_end,
            FLASH_DEFL_BEGIN: self._flash_begin,
            FLASH_DEFL_DATA: self._flash_defl_data,
            FLASH_DEFL_END: self._flash_end,
            SPI_FLASH_MD5: self._md5,
            READ_FLASH_SLOW: self._read_flash_slow,
            MEM_BEGIN: self._mem_begin,
            MEM_DATA: self._mem_data,
            MEM_END: self._mem_end,
            ERASE_FLASH: self._erase_flash,
            ERASE_REGION: self._erase_region,
            READ_FLASH: self._read_flash,
        }

    def _ok(self, op, data):
        self._reply(op)

    def _sync(self, op, data):
        if data != SYNC_PAYLOAD:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        value = 0 if self.stub else 0x20120707  # esptool tells the stub from the ROM by this value
        for _ in range(8):
            self._reply(op, value)

    def _read_reg(self, op, data):
        if len(data) != 4:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        (addr,) = struct.unpack("<I", data)
        if addr == self.spec["uart_clkdiv"]:
            value = XTAL_HZ // self.uart_baud  # what the UART divides the 40 MHz APB clock by
        else:
            value = self._regs.get(addr, 0)
        self._reply(op, value)

    def _write_reg(self, op, data):
        if not data or len(data) % 16:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        for i in range(0, len(data), 16):
            addr, value, mask, _delay = struct.unpack("<IIII", data[i : i + 16])
            old = self._regs.get(addr, 0)
            self._regs[addr] = (old & ~mask | value & mask) & 0xFFFFFFFF
            if addr == self.spec["spi_base"] and value & SPI_CMD_USR:
                self._spi_user_command()
        self._reply(op)

    def _spi_user_command(self):
        base, off = self.spec["spi_base"], self.spec["spi"]
        cmd = self._regs.get(base + off["usr2"], 0) & 0xFF
        w0 = base + off["w0"]
        if cmd == 0x9F:  # RDID: manufacturer (Winbond), memory type, capacity = log2(size)
            self._regs[w0] = 0xEF | (0x40 << 8) | (self.size.bit_length() - 1) << 16
        elif cmd == 0x5A:  # RDSFDP
            addr = self._regs.get(base + 4, 0)
            if self.spec["spi_addr_msb"]:
                addr >>= 8
            self._regs[w0] = SFDP_SIGNATURE if addr == 0 else 0
        elif cmd in (0x05, 0x35, 0x15):  # read status registers: nothing protected
            self._regs[w0] = 0
        self._regs[base] = 0  # the command completes at once

    def _security_info(self, op, data):
        if not self.spec["security_info"]:
            return self._err(op, ROM_INVALID_MSG, STUB_INVALID_COMMAND)
        info = struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, self.spec["chip_id"], 0)
        self._reply(op, data=info)

    def _spi_set_params(self, op, data):
        if len(data) != 24:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self._spi_set_size = struct.unpack("<6I", data)[1]
        self._reply(op)

    def _change_baud(self, op, data):
        if len(data) != 8:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        new, _old = struct.unpack("<II", data)
        self._reply(op)  # sent at the old rate, then the UART switches
        self.uart_baud = new
        if self.max_baud and new > self.max_baud:
            self.garbled = True
        self._note("baud", baud=new, reliable=not self.garbled)

    # flash writes

    def _and_write(self, offset: int, data: bytes):
        """NOR flash programming: bits can only go from 1 to 0."""
        end = offset + len(data)
        if end > self.size:
            raise IndexError
        old = self.flash[offset:end]
        if old == b"\xff" * len(data):
            self.flash[offset:end] = data
        else:
            n = len(data)
            v = int.from_bytes(old, "little") & int.from_bytes(data, "little")
            self.flash[offset:end] = v.to_bytes(n, "little")

    def _erase(self, offset: int, length: int):
        length = -(-length // SECTOR) * SECTOR
        self.flash[offset : offset + length] = b"\xff" * length

    def _flash_begin(self, op, data):
        if len(data) not in (16, 20):
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        size, blocks, blocksize, offset = struct.unpack("<IIII", data[:16])
        defl = op == FLASH_DEFL_BEGIN
        if offset % SECTOR or offset + size > self.size or blocksize == 0:
            return self._err(op, ROM_FAILED, STUB_BAD_DATA_LEN)
        self._erase(offset, size)  # the ROM erases up front; the stub as it goes (same result)
        self._write = {
            "offset": offset,
            "size": size,
            "blocks": blocks,
            "blocksize": blocksize,
            "seq": 0,
            "written": 0,
            "defl": defl,
            "inflate": zlib.decompressobj() if defl else None,
            "t0": time.monotonic(),
        }
        self._reply(op)

    def _check_seq(self, op, hdr) -> tuple[int, int] | None:
        w = self._write
        if w is None:
            self._err(op, ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
            return None
        length, seq = struct.unpack("<II", hdr[:8])
        if seq != w["seq"]:
            self._err(op, ROM_FAILED, STUB_BAD_DATA_LEN)
            return None
        return length, seq

    def _flash_data(self, op, data):
        got = self._check_seq(op, data)
        if got is None:
            return
        length, seq = got
        w = self._write
        block = data[16:]
        if len(block) != length or w["defl"]:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        at = w["offset"] + seq * w["blocksize"]
        room = w["offset"] + max(w["size"], w["blocks"] * w["blocksize"]) - at
        try:
            self._and_write(at, block[: max(0, min(len(block), room))])
        except IndexError:
            return self._err(op, ROM_FLASH_WRITE_ERR, STUB_TOO_MUCH_DATA)
        w["seq"] += 1
        w["written"] += len(block)
        self._reply(op)

    def _flash_defl_data(self, op, data):
        got = self._check_seq(op, data)
        if got is None:
            return
        length, _ = got
        w = self._write
        if not w["defl"] or len(data) - 16 != length:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        try:
            out = w["inflate"].decompress(data[16:])
        except zlib.error:
            return self._err(op, ROM_INFLATE_ERR, STUB_INFLATE_ERROR)
        if w["written"] + len(out) > -(-w["size"] // SECTOR) * SECTOR:
            return self._err(op, ROM_FLASH_WRITE_ERR, STUB_TOO_MUCH_DATA)
        self._and_write(w["offset"] + w["written"], out)
        w["written"] += len(out)
        w["seq"] += 1
        self._reply(op)

    def _flash_end(self, op, data):
        if len(data) != 4:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        (stay,) = struct.unpack("<I", data)
        w = self._write
        if w is not None and w["defl"] and self.stub and not w["inflate"].eof and w["size"]:
            return self._err(op, ROM_FAILED, STUB_NOT_ENOUGH_DATA)
        self._reply(op)
        if w is not None and w["size"]:
            self._note(
                "flash_written",
                offset=w["offset"],
                bytes=min(w["written"], w["size"]),
                compressed=w["defl"],
                stub=self.stub,
                seconds=round(time.monotonic() - w["t0"], 3),
            )
        self._write = None
        self.flash.flush()
        if self.stub and not stay:  # the stub's "reboot": back to the ROM loader, still in download mode
            session = self._host_open
            self._power_on()
            self._host_open = session
            self._note("reset", to="rom")
        elif not self.stub:  # the ROM leaves download mode and boots the image
            self._run_app(reboot=not stay)

    def _run_app(self, reboot: bool):
        """Leaving the download mode: a chip would boot the image now. There is no CPU here: say so."""
        self.stub = False
        self.app_running = True
        self._note("app", reboot=reboot)
        self._send_raw(
            b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
            b"fake ROM: no CPU to run the image; reopen the port to reset into download mode\r\n"
        )

    def _md5(self, op, data):
        if len(data) != 16:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, size = struct.unpack("<II", data[:8])
        if addr + size > self.size:
            return self._err(op, ROM_READ_LEN_ERR, STUB_BAD_DATA_LEN)
        digest = hashlib.md5(self.flash[addr : addr + size])
        self._note("md5", offset=addr, bytes=size)
        self._reply(op, data=digest.digest() if self.stub else digest.hexdigest().encode())

    def _read_flash_slow(self, op, data):
        if len(data) != 8:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        addr, length = struct.unpack("<II", data)
        if length > 64 or addr + length > self.size:
            return self._err(op, ROM_READ_LEN_ERR, STUB_BAD_DATA_LEN)
        self._reply(op, data=self.flash_bytes(addr, length).ljust(64, b"\xff"))

    def _read_flash(self, op, data):
        if len(data) != 16:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        offset, length, block, in_flight = struct.unpack("<IIII", data)
        if offset + length > self.size or block == 0 or in_flight == 0:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self._reply(op)
        sent = acked = 0
        while acked < length:
            while sent < length and sent - acked < in_flight * block:
                n = min(block, length - sent)
                self._send_frame(self.flash_bytes(offset + sent, n))
                sent += n
            ack = self._read_frame(5.0)
            if ack is None or len(ack) != 4:
                return  # the host gave up
            acked = struct.unpack("<I", ack)[0]
        self._send_frame(hashlib.md5(self.flash[offset : offset + length]).digest())

    def _erase_flash(self, op, data):
        self.flash[:] = b"\xff" * self.size
        self._note("erased", offset=0, bytes=self.size)
        self._reply(op)

    def _erase_region(self, op, data):
        if len(data) != 8:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        offset, size = struct.unpack("<II", data)
        if offset % SECTOR or size % SECTOR or offset + size > self.size:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        self._erase(offset, size)
        self._note("erased", offset=offset, bytes=size)
        self._reply(op)

    # RAM download (the flasher stub)

    def _mem_begin(self, op, data):
        if len(data) != 16:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        size, blocks, blocksize, offset = struct.unpack("<IIII", data)
        self._mem = {"offset": offset, "size": size, "blocksize": blocksize, "seq": 0, "got": 0}
        self._reply(op)

    def _mem_data(self, op, data):
        m = self._mem
        if m is None:
            return self._err(op, ROM_FAILED, STUB_NOT_IN_FLASH_MODE)
        length, seq = struct.unpack("<II", data[:8])
        if seq != m["seq"] or len(data) - 16 != length or m["got"] + length > m["size"]:
            return self._err(op, ROM_FAILED, STUB_BAD_DATA_LEN)
        m["seq"] += 1
        m["got"] += length
        if m["got"] == m["size"]:
            self._mem_segments.append((m["offset"], m["offset"] + m["size"]))
        self._reply(op)

    def _mem_end(self, op, data):
        if len(data) != 8:
            return self._err(op, ROM_INVALID_MSG, STUB_BAD_DATA_LEN)
        no_entry, entry = struct.unpack("<II", data)
        self._reply(op)
        if no_entry:
            return
        if not any(a <= entry < b for a, b in self._mem_segments):
            # jumping into RAM nobody loaded: the chip crashes, and esptool recognises the panic text
            self._send_raw(
                b"Guru Meditation Error: Core  0 panic'ed (IllegalInstruction). Exception was unhandled.\r\n"
            )
            self.app_running = True
            return
        self.stub = True
        self._mem_segments = []
        self._send_frame(b"OHAI")
        self._note("stub")


if __name__ == "__main__":  # tests, benchmarks and scripts start a board per process this way
    from hil.rom_loader_cli import run

    sys.exit(run())
