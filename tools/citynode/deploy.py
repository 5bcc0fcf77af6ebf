"""`citynode deploy`: put a bundle on a board over the raw REPL: incremental, verified, switched atomically.

On the board (see build.LOADER):
    /main.py      the loader, the same for every version
    /board.json   the board file
    /fw/a, /fw/b  two firmware slots; /fw/active names the one that boots

A deploy: one round trip reads every hash on the board; the inactive slot is made equal to the bundle (files
already there are kept, files equal in the active slot are copied on the board, only the others cross the
cable, base64 in raw-paste scripts of a few KB); one round trip reads the slot's hashes back and checks them
against the manifest; then `fw/active` is switched with a rename. A cable pulled at any point before that rename
leaves the previous slot active and complete; after it, the new one. Then a soft reset and the node's boot line
`citynode boot v=<version> ...` confirm what runs.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from citynode.build import Bundle
from citynode.ports import PortError, explain, no_answer_message, open_serial

SLOTS = ("a", "b")
CHUNK = 4096  # payload bytes per raw-paste script (decoded); keeps the board's heap use small
BOOT_RE = re.compile(rb"citynode boot v=(\S+) board=(\S+) app=(\S+)")


class DeployError(Exception):
    pass


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

    def exec(self, code: str | bytes, timeout: float = 30.0) -> bytes:
        """Run code; return its stdout; raise DeployError with the board's traceback on an exception."""
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
            raise DeployError(f"the board said: {err.decode(errors='replace').strip()}")
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
                    raise DeployError(f"unexpected {b!r} from the board during raw-paste")
            n = min(remain, len(code) - i)
            self._write(code[i : i + n])
            remain -= n
            i += n
        self._write(b"\x04")
        self.read_until(b"\x04", 10)

    def eval_json(self, code: str, timeout: float = 30.0):
        out = self.exec(code, timeout).decode(errors="replace").strip().splitlines()
        return json.loads(out[-1]) if out else None

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


# Device-side: every hash the deploy needs, in one round trip.
_PROBE = r"""
import os, sys, json, hashlib, binascii
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

_HELPERS = r"""
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


@dataclass
class DeployResult:
    port: str
    version: str
    sent_files: int = 0
    sent_bytes: int = 0
    copied_on_board: int = 0
    removed: int = 0
    slot: str = ""
    unchanged: bool = False
    boot_line: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if self.unchanged:
            what = "up to date, nothing written"
        else:
            what = (
                f"{self.sent_files} files ({self.sent_bytes} B) sent, {self.copied_on_board} copied on board"
            )
        return f"v={self.version} slot {self.slot}: {what}; booted in {self.seconds:.1f} s"


def _slot_files(manifest: dict) -> dict[str, str]:
    return {k[3:]: v for k, v in manifest["files"].items() if k.startswith("fw/")}


def _root_files(manifest: dict) -> dict[str, str]:
    return {k: v for k, v in manifest["files"].items() if k in ("main.py", "board.json")}


def _check_compat(manifest: dict, info: dict):
    mpy = info.get("mpy") or 0
    if mpy and (mpy & 0xFF) != manifest.get("mpy_version", 6):
        raise DeployError(
            f"the board runs MicroPython with .mpy version {mpy & 0xFF}, the bundle needs {manifest['mpy_version']} "
            f"(MicroPython {manifest['micropython']}): reflash it with `citynode flash`"
        )


def _install_packages(port: str, packages: list[str], lib: list[str], note: Callable[[str], None]) -> None:
    have = {Path(p).name.split(".")[0] for p in lib}
    wanted = {
        "lora-sync": "sync_modem",
        "lora-sx126x": "sx126x",
        "lora-sx127x": "sx127x",
        "lora-stm32wl5": "stm32wl5",
    }
    missing = [p for p in packages if wanted.get(p, p) not in have]
    if not missing:
        return
    exe = shutil.which("mpremote") or str(Path(sys.executable).with_name("mpremote"))
    r = subprocess.run(
        [exe, "connect", port, "mip", "install", *missing], capture_output=True, text=True, timeout=300
    )
    if r.returncode:
        raise DeployError(
            f"could not install {', '.join(missing)} with mip ({(r.stderr or r.stdout).strip().splitlines()[-1:]}); "
            f"run `mpremote connect {port} mip install {' '.join(missing)}` from a machine with internet access"
        )
    note(f"installed {', '.join(missing)} with mip")


def deploy(
    bundle: Bundle,
    port: str,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    wait_boot_s: float = 20.0,
    install_packages: bool = True,
    connect_timeout: float = 8.0,
    force: bool = False,
) -> DeployResult:
    """Deploy `bundle` to the board on `port` (a resolved device path or URL)."""
    t0 = time.perf_counter()
    manifest = bundle.manifest
    res = DeployResult(port, manifest["version"])
    prog = progress or (lambda done, total, status: None)
    prog(0, 1, "connecting")
    repl = RawRepl(port)
    try:
        repl.enter(connect_timeout)
        info = repl.eval_json("_D = ('fw/a', 'fw/b')\n" + _PROBE)
        _check_compat(manifest, info)
        if info.get("board") and info["board"] != manifest["board"] and not force:
            raise DeployError(
                f"the board on {port} is a {info['board']} (its board.json), not a {manifest['board']}: firmware "
                "for another board drives the wrong pins; use --force to replace it anyway"
            )
        files = info["files"]
        want_slot = _slot_files(manifest)
        want_root = _root_files(manifest)
        # The slot that boots now (the loader falls back to fw/active.new if a switch on FAT was cut short).
        active = next((x for x in (info["active"], info["active_new"]) if x in SLOTS), None)

        def slot_state(s):
            return {k[len(f"fw/{s}/") :]: v for k, v in files.items() if k.startswith(f"fw/{s}/")}

        roots_ok = all(files.get(k) == v for k, v in want_root.items())
        if active and slot_state(active) == want_slot and roots_ok and info["active"] == active:
            res.unchanged = True
            res.slot = active
        else:
            target = "b" if active == "a" else "a"
            res.slot = target
            have_t = slot_state(target)
            have_a = slot_state(active) if active else {}
            send, copy = [], []
            for rel, h in sorted(want_slot.items()):
                if have_t.get(rel) == h:
                    continue
                if have_a.get(rel) == h:
                    copy.append(rel)
                else:
                    send.append(f"fw/{rel}")
            extra = [rel for rel in have_t if rel not in want_slot]
            root_send = [k for k, v in want_root.items() if files.get(k) != v]
            total = sum((bundle.out / p).stat().st_size for p in send + root_send) or 1
            done = 0
            prog(0, total, "writing")
            repl.exec(_HELPERS)
            script = []
            for rel in extra:
                script.append(f"_rm({f'fw/{target}/{rel}'!r})")
            for rel in copy:
                script.append(f"_cp({f'fw/{active}/{rel}'!r},{f'fw/{target}/{rel}'!r})")
            if script:
                repl.exec("\n".join(script))
            res.copied_on_board, res.removed = len(copy), len(extra)
            pending: list[str] = []
            pending_size = 0

            def flush():
                nonlocal pending, pending_size, done
                if pending:
                    repl.exec("\n".join(pending))
                    done += pending_size
                    prog(done, total, "writing")
                pending, pending_size = [], 0

            for path in send + root_send:
                data = (bundle.out / path).read_bytes()
                dest = f"fw/{target}/{path[3:]}" if path.startswith("fw/") else path + ".new"
                pending.append(f"_mk({dest!r})")
                first = True
                for i in range(0, max(1, len(data)), CHUNK):
                    part = data[i : i + CHUNK]
                    if pending_size + len(part) > CHUNK:
                        flush()
                    b64 = base64.b64encode(part).decode()
                    pending.append(f"_w({dest!r},{'wb' if first else 'ab'!r},{b64!r})")
                    pending_size += len(part)
                    first = False
                res.sent_files += 1
                res.sent_bytes += len(data)
            flush()
            # Read back and check before anything points at the new files.
            prog(total, total, "verifying")
            after = repl.eval_json(f"_D = ('fw/{target}',)\n" + _PROBE)["files"]
            bad = [rel for rel, h in want_slot.items() if after.get(f"fw/{target}/{rel}") != h]
            bad += [k for k in root_send if after.get(k + ".new") != want_root[k]]
            bad += [
                k[len(f"fw/{target}/") :]
                for k in after
                if k.startswith(f"fw/{target}/") and k[len(f"fw/{target}/") :] not in want_slot
            ]
            if bad:
                raise DeployError(
                    f"read-back hashes differ from the manifest for {', '.join(sorted(bad)[:5])}"
                )
            # The switch: root files by rename, then the slot pointer by rename (the commit point).
            switch = [f"os.rename({(k + '.new')!r},{k!r})" for k in root_send]
            switch += [
                f"_w('fw/active.new','wb',{base64.b64encode(target.encode()).decode()!r})",
                "try:\n    os.rename('fw/active.new','fw/active')\nexcept OSError:\n"
                "    _rm('fw/active')\n    os.rename('fw/active.new','fw/active')",
            ]
            repl.exec("\n".join(switch))
        if manifest.get("packages") and install_packages:
            if info.get("emulated"):
                res.notes.append(
                    f"emulated board: {', '.join(manifest['packages'])} not installed (no internet; the emulator "
                    "provides the lora modem)"
                )
            else:
                repl.close()
                _install_packages(port, manifest["packages"], info.get("lib", []), res.notes.append)
                repl = RawRepl(port)
                repl.enter()
        prog(1, 1, "rebooting")
        repl.soft_reset_and_run()
        line = _wait_boot(repl, wait_boot_s)
        res.boot_line = line
        m = BOOT_RE.search(line.encode())
        if m is None or m.group(1).decode() != manifest["version"]:
            got = m.group(1).decode() if m else "?"
            raise DeployError(f"the board booted version {got}, expected {manifest['version']}")
    except TimeoutError as e:
        raise DeployError(f"{port}: the board stopped answering ({e})") from None
    finally:
        repl.close()
    res.seconds = time.perf_counter() - t0
    return res


def _wait_boot(repl: RawRepl, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = BOOT_RE.search(repl._buf)
        if m:
            end = repl._buf.find(b"\n", m.start())
            if end >= 0:
                return repl._buf[m.start() : end].decode(errors="replace").strip()
        repl._fill()
    tail = repl._buf[-300:].decode(errors="replace").strip()
    raise DeployError(
        f"no boot line within {timeout:.0f} s after the reset; the board printed: {tail or '(nothing)'}"
    )
