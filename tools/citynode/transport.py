"""One transport to a board: the raw-REPL session with its deadlines, the scripts the board runs in it, and
reading the board's serial log line by line. `citynode deploy`, `provision`, `monitor` and `selftest` share it.

The session (`RawRepl`) interrupts whatever runs, enters the raw REPL without a soft reset, and runs code with
raw-paste (plain raw mode on old boards), reading in bulk with a deadline on every wait (mpremote's transport
reads a pty byte by byte with no overall deadline while the board keeps talking). The device-side scripts:
`SHA256` (the one file-hash helper every script starts with), `PROBE` (every hash deploy needs, in one round
trip), `HELPERS` (deploy's writes and copies), `IDENTIFY` (provisioning's description of a node) and
`write_checked` / `rename_checked` (an atomic file write, each step read back by hash).
"""

from __future__ import annotations

import json
import re
import struct
import threading
import time

from citynode.ports import PortError, explain, no_answer_message, open_serial

# What the node runtime logs when it starts (firmware/node/runtime.py).
BOOT_RE = re.compile(r"citynode boot v=(\S+) board=(\S+) app=(\S+)")


class ReplError(Exception):
    """The board raised (its traceback is in the message) or broke the raw-REPL protocol."""


class RawRepl:
    """A raw-REPL session on a serial port, with raw-paste and bulk reads (mpremote reads byte by byte)."""

    def __init__(self, port: str, baudrate: int = 115200):
        self.port = port
        self.ser = open_serial(port, baudrate, timeout=0.05)
        self._buf = b""
        self.raw_paste = None  # unknown until tried
        self.bytes_sent = 0
        self._aborted = False

    def close(self):
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing a port that went away
            pass

    def abort(self):
        """From another thread: make the next read fail with TimeoutError (the port stays open)."""
        self._aborted = True
        try:
            self.ser.cancel_read()
        except Exception:  # noqa: BLE001 - a port that went away fails the reader by itself
            pass

    def _write(self, data: bytes):
        if self._aborted:
            raise TimeoutError("given up: no progress")
        try:
            self.ser.write(data)
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.port) from None
        self.bytes_sent += len(data)

    def _fill(self) -> bool:
        if self._aborted:
            raise TimeoutError("given up: no progress")
        try:
            n = self.ser.in_waiting
            chunk = self.ser.read(max(1, n))
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.port) from None
        if chunk:
            self._buf += chunk
            return True
        return False

    def read_until(self, ending: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(ending)
            if i >= 0:
                out, self._buf = self._buf[: i + len(ending)], self._buf[i + len(ending) :]
                return out
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {ending!r}; got {self._buf[-200:]!r}")
            self._fill()

    def read_exact(self, n: int, timeout: float = 5) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("timed out")
            self._fill()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def drain(self, quiet_s: float = 0.05):
        end = time.monotonic() + quiet_s
        while time.monotonic() < end:
            if self._fill():
                end = time.monotonic() + quiet_s
        self._buf = b""

    def enter(self, timeout: float = 8.0):
        """Interrupt whatever runs and enter the raw REPL (no soft reset: the board's state stays)."""
        deadline = time.monotonic() + timeout
        while True:
            self._write(b"\r\x03\x03")
            self.drain(0.01)  # what is already there; the banner is searched for, not expected first
            self._write(b"\r\x01")
            try:
                self.read_until(
                    b"raw REPL; CTRL-B to exit\r\n>", timeout=min(2.0, max(0.1, deadline - time.monotonic()))
                )
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise PortError(no_answer_message(self.port)) from None

    def exec(self, code: str | bytes, timeout: float = 30.0, *, limit: float | None = None) -> bytes:
        """Run code; return its stdout; raise ReplError with the board's traceback on an exception.

        `timeout` bounds each wait for the board; `limit`, if given, the whole run: a board that stalls
        mid-transfer (a raw-paste window that never opens) is given up after it with TimeoutError."""
        if limit is None:
            return self._exec(code, timeout)
        # The reader is told to give up from a timer thread. The port is not closed from that thread: two
        # threads closing one pyserial port can close its file descriptor twice, and the second close hits
        # whatever reused the number.
        stalled = threading.Event()

        def stall():
            stalled.set()
            self.abort()

        watchdog = threading.Timer(limit, stall)
        watchdog.daemon = True
        watchdog.start()
        try:
            return self._exec(code, timeout)
        except ReplError:
            raise
        except Exception:
            if stalled.is_set():
                raise TimeoutError(f"no progress in {limit:g} s") from None
            raise
        finally:
            watchdog.cancel()

    def _exec(self, code: str | bytes, timeout: float) -> bytes:
        if isinstance(code, str):
            code = code.encode()
        if self.raw_paste is not False:
            self._write(b"\x05A\x01")
            head = self._read_paste_answer()
            if head == b"R\x01":
                self.raw_paste = True
                self._paste(code)
            else:  # an old board: plain raw mode
                self.raw_paste = False
                self.read_until(b">", 2)
                self._plain(code)
        else:
            self._plain(code)
        out = self.read_until(b"\x04", timeout)[:-1]
        err = self.read_until(b"\x04", timeout)[:-1]
        self.read_until(b">", timeout)
        if err:
            raise ReplError(f"the board said: {err.decode(errors='replace').strip()}")
        return out

    def _read_paste_answer(self) -> bytes:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for ans in (b"R\x01", b"R\x00"):
                i = self._buf.find(ans)
                if i >= 0:
                    self._buf = self._buf[i + 2 :]
                    return ans
            self._fill()
        raise TimeoutError("no answer to the raw-paste request")

    def _plain(self, code: bytes):
        for i in range(0, len(code), 256):
            self._write(code[i : i + 256])
            time.sleep(0.01)
        self._write(b"\x04")
        self.read_until(b"OK", 5)

    def _paste(self, code: bytes):
        # Flow control: the board grants `window` bytes up front and one more window per \x01 it sends.
        window = struct.unpack("<H", self.read_exact(2))[0]
        remain = window
        i = 0
        while i < len(code):
            if self.ser.in_waiting:
                self._fill()
            while remain == 0 or self._buf:
                if not self._buf:
                    self._fill()
                    continue
                b, self._buf = self._buf[:1], self._buf[1:]
                if b == b"\x01":
                    remain += window
                elif b == b"\x04":  # the board ended the paste early (a compile error follows)
                    self._write(b"\x04")
                    return
                else:
                    raise ReplError(f"unexpected {b!r} from the board during raw-paste")
            n = min(remain, len(code) - i)
            self._write(code[i : i + n])
            remain -= n
            i += n
        self._write(b"\x04")
        self.read_until(b"\x04", 10)

    def eval_json(self, code: str, timeout: float = 30.0):
        out = self.exec(code, timeout).decode(errors="replace").strip().splitlines()
        return json.loads(out[-1]) if out else None

    def wait_line(self, pattern: re.Pattern, timeout: float) -> str | None:
        """The first line the board prints that matches `pattern` (from the match on), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        start = 0
        while time.monotonic() < deadline:
            end = self._buf.find(b"\n", start)
            while end >= 0:
                m = pattern.search(self._buf[start:end].decode(errors="replace"))
                if m:
                    line, self._buf = self._buf[start:end], self._buf[end + 1 :]
                    return line.decode(errors="replace")[m.start() :].strip()
                start = end + 1
                end = self._buf.find(b"\n", start)
            self._fill()
        return None

    def tail(self, n: int = 300) -> str:
        """The last bytes the board printed, for an error message."""
        return self._buf[-n:].decode(errors="replace").strip()

    def soft_reset_and_run(self):
        """Leave the raw REPL and soft-reset from the friendly one, so boot.py and main.py run."""
        self._buf = b""
        self._write(b"\x02")
        try:
            self.read_until(b">>> ", 2)
        except TimeoutError:
            pass
        self._buf = b""
        self._write(b"\x04")


class LineReader:
    """Complete lines out of a serial port's chunks, without their line ending; a partial line waits for its end."""

    def __init__(self):
        self._buf = b""

    def feed(self, chunk: bytes) -> list[str]:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return [line.rstrip(b"\r").decode(errors="replace") for line in lines]


# ------------------------------------------------------------------------------------------- device-side scripts

# SHA-256 of a file as hex (None if it cannot be read), 1 KB at a time; every file under a folder, by path.
SHA256 = r"""
import binascii, hashlib
def _h(p):
    h = hashlib.sha256()
    b = bytearray(1024)
    try:
        with open(p, 'rb') as f:
            while True:
                n = f.readinto(b)
                if not n:
                    break
                h.update(b if n == 1024 else b[:n])
    except OSError:
        return None
    return binascii.hexlify(h.digest()).decode()
def _walk(d, out):
    import os
    try:
        items = os.ilistdir(d)
    except OSError:
        return
    for it in items:
        p = d + '/' + it[0]
        if it[1] & 0x4000:
            _walk(p, out)
        else:
            out[p] = _h(p)
"""

# Every hash deploy needs, in one round trip: the files under each folder of _D (set before), the root files,
# what /lib holds, the .mpy version, and whether the board is emulated. Prints one JSON line.
PROBE = (
    SHA256
    + r"""
import os, sys, json
def _r(p):
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError:
        return None
def _bid():
    try:
        with open('board.json') as f:
            return json.load(f).get('id')
    except (OSError, ValueError, AttributeError):
        return None
_o = {}
for _s in _D:
    _walk(_s, _o)
for _p in ('main.py', 'board.json', 'main.py.new', 'board.json.new'):
    _o[_p] = _h(_p)
_lib = {}
_walk('lib', _lib)
try:
    os.stat('/.hil')
    _emu = True
except OSError:
    _emu = False
print(json.dumps({'files': _o, 'active': _r('fw/active'), 'active_new': _r('fw/active.new'), 'lib': sorted(_lib),
  'mpy': getattr(sys.implementation, '_mpy', 0), 'version': sys.version, 'platform': sys.platform, 'emulated': _emu,
  'board': _bid()}))
del _h, _walk, _r, _o, _lib, _emu, _bid, _D
"""
)

# Deploy's writes on the board: make the folders of a path, write base64 to a file, copy a file, remove one.
HELPERS = r"""
import os
from binascii import a2b_base64 as _d
def _mk(p):
    q = ''
    for part in p.split('/')[:-1]:
        q = q + part if not q else q + '/' + part
        try:
            os.mkdir(q)
        except OSError:
            pass
def _w(p, m, s):
    with open(p, m) as f:
        f.write(_d(s))
def _cp(a, b):
    _mk(b)
    buf = bytearray(1024)
    with open(a, 'rb') as fa, open(b, 'wb') as fb:
        while True:
            n = fa.readinto(buf)
            if not n:
                break
            fb.write(buf if n == 1024 else buf[:n])
def _rm(p):
    try:
        os.remove(p)
    except OSError:
        pass
"""


# What a node says about itself, for provisioning: its unique id, board, firmware version, the apps it has, its
# config without the AppKey and the config's hash, and the bundle hash of the active slot (SHA-256 of the sorted
# lines "<path in slot> <sha256>\n"). Prints one JSON line; the AppKey never leaves the node here. The firmware
# runs from the slot that fw/active names (`citynode deploy`), or from /lib on boards set up by hand.
IDENTIFY = (
    SHA256
    + r"""
import machine, json, sys, os
def _rd(p):
    try:
        with open(p, 'rb') as f:
            return f.read()
    except OSError:
        return None
_o = {'uid': binascii.hexlify(machine.unique_id()).decode(), 'cfg_sha': _h('config.json'), 'cfg': None,
      'board': None, 'version': None, 'bundle': None}
_c = _rd('config.json')
if _c is not None:
    try:
        _d = json.loads(_c)
        if isinstance(_d, dict):
            _o['cfg'] = {k: v for k, v in _d.items() if k != 'app_key'}
    except ValueError:
        pass
    del _c
try:
    _o['board'] = json.loads(_rd('board.json')).get('id')
except Exception:
    pass
_s = _rd('fw/active')
_p = None
if _s:
    _p = 'fw/' + _s.decode().strip()
    try:
        os.stat(_p)
        _f = {}
        _walk(_p, _f)
        _l = sorted(k[len(_p) + 1:] + ' ' + v + '\n' for k, v in _f.items())
        _o['bundle'] = binascii.hexlify(hashlib.sha256(''.join(_l).encode()).digest()).decode()
        del _f, _l
    except OSError:
        _p = None
if _p:
    sys.path.insert(0, _p)
try:
    sys.modules.pop('node.version', None)
    from node.version import VERSION
    _o['version'] = VERSION
except Exception:
    pass
if _p:
    sys.path.remove(_p)
for _a in ((_p + '/apps') if _p else None, 'lib/apps'):
    try:
        _o['apps'] = sorted(set(n.split('.')[0] for n in os.listdir(_a) if not n.startswith('_')))
        break
    except (OSError, TypeError):
        pass
print(json.dumps(_o))
"""
)


def write_checked(path: str, data: bytes) -> str:
    """The first step of an atomic write: `data` to `path` (a temporary name), then its hash printed back."""
    return f"f = open({path!r}, 'wb')\nf.write({data!r})\nf.close()\n" + SHA256 + f"print(_h({path!r}))"


def rename_checked(src: str, dest: str) -> str:
    """The second step: `src` renamed over `dest` (the commit point), then `dest`'s hash printed back."""
    return f"import os\nos.rename({src!r}, {dest!r})\n" + SHA256 + f"print(_h({dest!r}))"
