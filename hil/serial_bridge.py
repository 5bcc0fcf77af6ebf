"""An emulated board as a serial device: a pty with a real MicroPython REPL behind it, for mpremote and deploy.

    with SerialBridge("heltec-wifi-lora32-v3", flash_dir=d) as b:
        subprocess.run(["mpremote", "connect", b.path, "exec", "print(1)"])

Behind the pty the bridge runs the MicroPython unix port on a second pty (its controlling terminal, ISIG with
VINTR=Ctrl-C, so a Ctrl-C interrupts running code as on a board) and copies bytes both ways. Each "power-on" or
reset is a new interpreter that:
- mounts the board's flash directory as `/` (a VfsPosix sandbox) and the emulator's shims at `/.hil`;
  `sys.path` is `['', '/.hil', '.frozen', '/lib']`;
- runs `boot.py` then `main.py` (unless it came back from a soft reset in the raw REPL, as a board does), then
  drops to the REPL (friendly, raw, raw-paste: the unix port's own pyexec REPL).
The bridge emulates what the unix port does differently from a board:
- a soft reset (Ctrl-D) makes the unix port exit: the bridge prints `MPY: soft reboot` and starts a new one,
  straight into the raw REPL if that is where the reset came from;
- `machine.deepsleep(ms)` ends the interpreter; the bridge waits `min(ms, max_sleep_s)` of wall time (the
  board's UART is silent meanwhile) and boots it again, reset cause DEEPSLEEP; bytes from the host during the
  sleep wake it at once (as pressing RST would), so mpremote's Ctrl-C lands in the next main.py;
- `machine.reset()` and a watchdog reset start a new interpreter at once.
The shims' supervisor side (device models, virtual clock, RTC memory) is the regular `EmulatedBoard`.

Unplugging the cable: `unplug()` closes the host side (the client sees the port vanish) and cuts the board's
power (the interpreter is killed mid-write if it was writing); `replug()` makes a new pty and powers on.
`unplug_after_bytes=N` unplugs once N bytes have come from the host. With `link=PATH` a symlink at PATH
always points at the current pty, like a stable /dev/serial/by-id name.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import selectors
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
from pathlib import Path

from hil import port_rules
from hil.emulator import SHIM_DIR, EmulatedBoard, _mpy_tree
from hil.launcher import CACHE_DIR, micropython_command

# What the interpreter runs first: the ROM and MicroPython's own start-up, board-side.
_BOOT_SCRIPT = r"""
import sys, os, micropython
micropython.kbd_intr(3)
import _hil
_hil.boot()
import machine, time, select
os.umount('/')
os.mount(os.VfsPosix(_FLASH), '/')
os.mount(os.VfsPosix(_SHIMS), '/.hil')
os.chdir('/')
sys.path[:] = ['', '/.hil', '.frozen', '/lib']

def _end(outcome, ms=0):
    st = _hil.sleep_state()
    _hil._send({"op": "end", "t": _hil.now_us, "outcome": outcome, "ms": ms, "detail": "",
                "rtc_memory": st["rtc_memory"], "rtc_offset_us": st["rtc_offset_us"]})

def _stop(outcome, ms=0):
    # The bridge ends this interpreter when it reads the call; the reply never comes.
    _end(outcome, ms)
    _hil.call("serve_stop")

def _deepsleep(ms=0):
    _stop("deepsleep", ms)

def _reset():
    _stop("reset")

machine.deepsleep = _deepsleep
machine.reset = _reset
machine.soft_reset = _reset
sys.atexit(lambda: _end("reset"))

def _run(name):
    try:
        f = open(name)
    except OSError:
        return
    with f:
        src = f.read()
    try:
        exec(compile(src, name, "exec"), {"__name__": "__main__"})
    except _hil.DeepSleep as e:
        _stop("deepsleep", e.args[0] if e.args else 0)
    except (_hil.Reset,):
        _stop("reset")
    except _hil.WatchdogReset:
        _stop("watchdog")
    except BaseException as e:
        sys.print_exception(e)

try:
    # The bridge answers once it has passed on what the host sent meanwhile (a Ctrl-C lands here or in main).
    _hil.call("serve_run")
    _run("boot.py")
    if _RUN_MAIN:
        _run("main.py")
except KeyboardInterrupt as e:
    sys.print_exception(e)
_hil.event("serve", state="repl")
del _run, _deepsleep, _reset
"""


def _boot_script(flash: Path, shims: Path, run_main: bool) -> Path:
    head = f"_FLASH = {str(flash)!r}\n_SHIMS = {str(shims)!r}\n_RUN_MAIN = {run_main!r}\n"
    body = head + _BOOT_SCRIPT
    import hashlib

    p = CACHE_DIR / "serve" / f"boot-{hashlib.sha256(body.encode()).hexdigest()[:16]}.py"
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(body)
        os.replace(tmp, p)
    return p


def _child_termios(fd: int):
    """The interpreter's terminal: no line editing or echo (the REPL does its own), Ctrl-C -> SIGINT while code
    runs (the port turns ISIG off while it waits at the prompt)."""
    a = termios.tcgetattr(fd)
    a[0] = 0  # iflag
    a[1] = 0  # oflag: the bridge turns \n into \r\n (the REPL already sends \r\n itself)
    a[2] = (a[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD | termios.CLOCAL
    a[3] = termios.ISIG  # lflag
    cc = a[6]
    for i in range(len(cc)):
        cc[i] = 0 if isinstance(cc[i], int) else b"\x00"
    cc[termios.VINTR] = b"\x03"
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, a)


def _preexec():
    # New session with the pty as controlling terminal (so Ctrl-C reaches it), and die with the bridge.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_DEBUG = bool(os.environ.get("CITYNODE_BRIDGE_DEBUG"))
# A Ctrl-C for running code waits this long for the interpreter's next call before it is sent as a signal.
_KBD_FALLBACK_S = 1.0
# What the port prints when it waits for input: the friendly REPL, the raw REPL's banner, the end of a raw exec.
_PROMPTS = (b">>> ", b"exit\r\n>", b"\x04>")


def _dbg(msg):
    if _DEBUG:
        # The process's own stderr: a CliRunner in the test thread swaps sys.stderr for the command's.
        print(f"{time.monotonic():.3f} bridge: {msg}", file=sys.__stderr__, flush=True)


class _ServedBoard(EmulatedBoard):
    """The supervisor of a served board: the flash is what deploy put there, so nothing is written to it."""

    def _prepare_flash(self, config):
        pass


class SerialBridge:
    def __init__(
        self,
        board: str | dict = "heltec-wifi-lora32-v3",
        app: str | None = None,
        flash_dir: str | Path | None = None,
        *,
        serial_number: str | None = None,
        max_sleep_s: float = 3.0,
        unplug_after_bytes: int | None = None,
        replug_after_s: float | None = None,
        link: str | Path | None = None,
        register: bool = True,
        heap_kb: int | None = None,
        log=None,
    ):
        self.eb = _ServedBoard(board, app or "counter", flash_dir=flash_dir, mode="process", heap_kb=heap_kb)
        self.flash = self.eb.flash
        self.board_id = self.eb.board["id"]
        self.app = app
        self.serial_number = serial_number or f"emu-{os.getpid()}-{id(self) % 10000:04d}"
        self.max_sleep_s = max_sleep_s
        self.unplug_after_bytes = unplug_after_bytes
        self.replug_after_s = replug_after_s
        self.link = Path(link) if link else None
        self.register = register
        self._log = log or (lambda msg: None)
        self.path: str | None = None
        self.boots = 0
        self.bytes_from_host = 0
        self.first_rx_at = self.last_rx_at = None  # when the host last talked (tests check concurrency)
        self.plugged = False
        self._lock = threading.RLock()
        self._host_m = self._host_s = None
        self._child = None
        self._cm = None  # child's pty master
        self._tx_r = self._rx_w = None
        self._buf = b""
        self._pending = b""  # host bytes held until the interpreter can take them
        self._state = "off"  # off | boot | run | wait_prompt | repl | sleep | raw_boot
        self._raw = False
        self._tail = b""
        self._last_cr = False
        self._wake_at = None
        self._hold_deadline = None
        self._kbd_at = None  # a Ctrl-C for running code, waiting for its next call (see _interrupt)
        self._suppress = False
        self._stop = False
        self._closed = False
        self._entry = None
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = None
        self.shims = _mpy_tree(SHIM_DIR, "shims")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        self._open_host()
        self._power_on(run_main=True)
        self._thread = threading.Thread(target=self._pump, name=f"bridge-{self.serial_number}", daemon=True)
        self._thread.start()
        return self.path

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._stop = True
        self._poke()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            self._kill_child()
            self._close_host()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self.eb.close()

    def _poke(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # ------------------------------------------------------------------ the host side (the "USB cable")

    def _open_host(self):
        m, s = os.openpty()
        tty.setraw(s)
        os.set_blocking(m, False)
        self._host_m, self._host_s = m, s
        self.path = os.ttyname(s)
        self._sel.register(m, selectors.EVENT_READ, "host")
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.path)
            os.replace(tmp, self.link)
        if self.register:
            from citynode.base.emulated_ports import register_emulated

            self._entry = register_emulated(str(self.link or self.path), self.board_id, self.serial_number)
        self.plugged = True
        self._log(f"port {self.link or self.path} (USB serial {self.serial_number})")

    def _close_host(self):
        if self._host_m is None:
            return
        self._sel.unregister(self._host_m)
        for fd in (self._host_m, self._host_s):
            os.close(fd)
        self._host_m = self._host_s = None
        if self._entry is not None:
            self._entry.unlink(missing_ok=True)
            self._entry = None
        if self.link is not None:
            self.link.unlink(missing_ok=True)
        self.plugged = False

    def unplug(self):
        """Pull the cable: the port disappears and the board loses power (mid-write if it was writing)."""
        with self._lock:
            self._log("unplugged")
            self._kill_child()
            self._close_host()
            self._state = "off"
            self._pending = b""
            self.eb.power_cut(off_s=1.0)
            if self.replug_after_s is not None and self.replug_after_s >= 0:
                self._wake_at = time.monotonic() + self.replug_after_s
            self._poke()

    def replug(self):
        with self._lock:
            if self.plugged:
                return
            self._wake_at = None
            self._open_host()
            self._power_on(run_main=True)
            self._poke()

    def _to_host(self, data: bytes):
        if self._host_m is None or not data:
            return
        try:
            os.write(self._host_m, data)
        except BlockingIOError:
            pass  # nobody reading and the buffer is full: a UART with no listener drops bytes too
        except OSError:
            pass

    # ------------------------------------------------------------------ the board (one interpreter per boot)

    def _power_on(self, run_main: bool):
        cm, cs = os.openpty()
        _child_termios(cs)
        tx_r, tx_w = os.pipe()
        rx_r, rx_w = os.pipe()
        env = dict(os.environ)
        env.update(
            MICROPYPATH=f"{self.shims}:.frozen",
            HIL_TX=str(tx_w),
            HIL_RX=str(rx_r),
            HIL_MODE="process",
            HIL_RULES=json.dumps(port_rules.shim_view(self.eb.rules)),
        )
        script = _boot_script(self.flash.resolve(), self.shims, run_main)
        self._child = subprocess.Popen(
            [*micropython_command(), "-X", f"heapsize={self.eb.heap_kb}k", "-i", str(script)],
            stdin=cs,
            stdout=cs,
            stderr=cs,
            env=env,
            cwd=self.flash,
            pass_fds=(tx_w, rx_r),
            start_new_session=True,
            preexec_fn=_preexec,
        )
        os.close(cs)
        os.close(tx_w)
        os.close(rx_r)
        os.set_blocking(cm, False)
        self._cm, self._tx_r, self._rx_w = cm, tx_r, rx_w
        self._buf = b""
        self._sel.register(cm, selectors.EVENT_READ, "child")
        self._sel.register(tx_r, selectors.EVENT_READ, "hil")
        self._state = "boot"
        self._tail = b""
        self._suppress = not run_main
        self._raw_after_boot = not run_main
        self._hold_deadline = time.monotonic() + 10
        self._kbd_at = None
        self.boots += 1

    def _kill_child(self):
        if self._child is None:
            return
        if self.plugged:
            self._drain_child()
        for fd, registered in ((self._cm, True), (self._tx_r, True), (self._rx_w, False)):
            if fd is None:
                continue
            if registered:
                try:
                    self._sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self._child.pid, signal.SIGKILL)
        except OSError:
            pass
        self._child.wait()
        self._child = None
        self._cm = self._tx_r = self._rx_w = None

    def _child_ended(self, outcome: str | None):
        """The interpreter is gone (or being ended): decide what the board does next."""
        if _DEBUG:
            _dbg(f"child ended outcome={outcome} raw={self._raw} pending={self._pending!r}")
        rc = None
        if self._state == "wait_prompt" and outcome is not None:
            # A Ctrl-C went to an interpreter that was already going to sleep or reset: it never reached a
            # REPL, so the next boot gets it (what follows it is still held).
            self._pending = b"\x03" + self._pending
        if self._child is not None:
            if outcome is None:
                rc = self._child.wait()
            self._kill_child()
        if outcome == "deepsleep":
            ms = self._sleep_ms
            self._state = "sleep"
            self._wake_at = time.monotonic() + min(ms / 1000, self.max_sleep_s)
            if self._pending:  # the host was talking as the node fell asleep: it is woken at once
                self._wake_at = None
                self._power_on(run_main=True)
            return
        if outcome in ("reset", "watchdog"):
            self._power_on(run_main=True)
            return
        # The unix port exited by itself: a soft reset (Ctrl-D) at the REPL, or a crash.
        if rc not in (0, None):
            self._log(f"interpreter exited with status {rc}; rebooting")
        self.eb.reset_cause = port_rules.cause_value(self.eb.rules, "soft_reset", self.eb.reset_cause)
        self._to_host(b"MPY: soft reboot\r\n")
        self._power_on(run_main=not self._raw)

    # ------------------------------------------------------------------ the pump

    def _pump(self):
        while not self._stop:
            timeout = 0.5
            now = time.monotonic()
            kbd_due = self._kbd_at + _KBD_FALLBACK_S if self._kbd_at is not None else None
            for t in (self._wake_at, self._hold_deadline if self._pending else None, kbd_due):
                if t is not None:
                    timeout = min(timeout, max(0.0, t - now))
            events = self._sel.select(timeout)
            with self._lock:
                if self._stop:
                    break
                for key, _ in events:
                    what = key.data
                    try:
                        if what == "wake":
                            os.read(self._wake_r, 4096)
                        elif what == "host" and key.fd == self._host_m:
                            self._from_host()
                        elif what == "child" and key.fd == self._cm:
                            self._from_child()
                        elif what == "hil" and key.fd == self._tx_r:
                            self._from_hil()
                    except OSError as e:
                        self._log(f"bridge: {what}: {e}")
                self._timers()

    def _timers(self):
        now = time.monotonic()
        if self._kbd_at is not None and now - self._kbd_at >= _KBD_FALLBACK_S:
            # Code that makes no call (a busy loop): only the signal stops it, with the risk _interrupt avoids.
            self._kbd_at = None
            self._to_child(b"\x03")
        if self._wake_at is not None and now >= self._wake_at:
            self._wake_at = None
            if not self.plugged:
                self.replug()
            elif self._state == "sleep":
                self._power_on(run_main=True)
        if (
            self._pending
            and self._hold_deadline is not None
            and now >= self._hold_deadline
            and self._state
            in (
                "wait_prompt",
                "repl",
            )
        ):
            self._release()

    def _from_host(self):
        try:
            data = os.read(self._host_m, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EIO:
                return
            raise
        if not data:
            return
        now = time.monotonic()
        self.first_rx_at = self.first_rx_at or now
        self.last_rx_at = now
        if self.unplug_after_bytes is not None:
            left = self.unplug_after_bytes - self.bytes_from_host
            if len(data) >= left:
                self.bytes_from_host += max(0, left)
                self._deliver(data[: max(0, left)])
                self.unplug_after_bytes = None
                self.unplug()
                return
        self.bytes_from_host += len(data)
        self._deliver(data)

    def _deliver(self, data: bytes):
        if not data:
            return
        if _DEBUG:
            _dbg(f"deliver {data!r} state={self._state} pending={self._pending!r}")
        if self._state == "sleep":
            # Bytes on a sleeping board's port: treat as the user pressing RST to reach the REPL.
            self._wake_at = None
            self._power_on(run_main=True)
        if self._state in ("boot", "wait_prompt", "sleep", "off") or self._pending:
            self._pending += data
            if self._state == "boot":
                self._hold_deadline = time.monotonic() + 10
            return
        if self._state == "run" or (self._state == "repl" and not self._tail.endswith(_PROMPTS)):
            # Code is running (main.py, or what the REPL was given): a Ctrl-C interrupts it; what follows waits
            # for the REPL's prompt (the port flushes its input when it switches the terminal to raw mode). At a
            # prompt the port reads Ctrl-C as a character, so it goes as one.
            i = data.find(b"\x03")
            if i >= 0:
                self._to_child(data[:i])
                self._interrupt()
                self._pending = data[i + 1 :]
                self._state = "wait_prompt"
                self._hold_deadline = time.monotonic() + 3
                return
        self._to_child(data)

    def _interrupt(self):
        """Ctrl-C for running code, raised at the interpreter's next call into the board.

        Not as the terminal's SIGINT: the unix port raises KeyboardInterrupt from its signal handler wherever the
        interpreter is, and one that lands while a name is being interned leaves the qstr lock held, so the next
        import or compile hangs for ever (seen as a board that enters the raw REPL and then never answers). A
        board's UART interrupt only asks the VM to raise at its next safe point; a call is one."""
        if self._kbd_at is None:
            self._kbd_at = time.monotonic()

    def _reply(self, reply: dict):
        if self._kbd_at is not None:
            self._kbd_at = None
            reply["kbd"] = 1
        body = json.dumps(reply).encode()
        try:
            os.write(self._rx_w, b"%07d\n" % len(body) + body)
        except OSError:
            pass

    def _to_child(self, data: bytes):
        if self._cm is None:
            return
        if b"\x02" in data:
            self._raw = False  # leaving the raw REPL: a soft reset from here runs main.py
        view = memoryview(data)
        give_up = time.monotonic() + 2.0
        while view:
            try:
                n = os.write(self._cm, view)
                view = view[n:]
            except BlockingIOError:
                # The interpreter is not reading (busy in code that ignores stdin): a UART's buffer overflows;
                # never block the pump (it must keep reading the interpreter's output) for long.
                if time.monotonic() > give_up:
                    self._log(f"board not reading its input: {len(view)} bytes dropped")
                    return
                self._drain_child()
                time.sleep(0.001)
            except OSError:
                return

    def _release(self):
        data, self._pending = self._pending, b""
        self._hold_deadline = None
        if self._state == "wait_prompt":
            self._state = "repl"
        self._deliver(data)

    def _from_child(self):
        try:
            data = os.read(self._cm, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # EIO: the interpreter closed its terminal (exited).
            self._sel.unregister(self._cm)
            self._cm_closed()
            return
        self._on_child_output(data)

    def _drain_child(self):
        """What the interpreter printed just before it was ended still reaches the host."""
        while self._cm is not None:
            try:
                data = os.read(self._cm, 65536)
            except OSError:
                return
            if not data:
                return
            self._on_child_output(data)

    def _on_child_output(self, data: bytes):
        if _DEBUG:
            _dbg(f"child says {data[-300:]!r} state={self._state}")
        self._tail = (self._tail + data)[-64:]
        r = self._tail.rfind(b"raw REPL; CTRL-B to exit")
        f = self._tail.rfind(b">>> ")
        if r >= 0 or f >= 0:
            self._raw = r > f
        prompt = self._tail.endswith(_PROMPTS)
        if self._suppress:
            if prompt:
                self._suppress = False
                self._tail = b""
                if self._raw_after_boot:
                    self._raw_after_boot = False
                    self._to_child(b"\x01")
                self._state = "repl"
                if self._pending:
                    self._release()
            return
        self._to_host(self._cook(data))
        if prompt and self._state in ("wait_prompt", "repl"):
            self._state = "repl"
            if self._pending:
                self._release()

    def _cook(self, data: bytes) -> bytes:
        """A board's UART prints \r\n for every \n; the unix port only does so at the prompt."""
        out = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if self._last_cr and data.startswith(b"\n"):
            out = out[1:]
        self._last_cr = data.endswith(b"\r")
        return out

    def _cm_closed(self):
        child = self._child
        if child is None:
            return
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        # Let a last "end" message through before deciding.
        self._drain_hil()
        if self._child is child:
            self._cm = None
            self._child_ended(None)

    def _drain_hil(self):
        if self._tx_r is None:
            return
        try:
            while True:
                chunk = os.read(self._tx_r, 65536)
                if not chunk:
                    break
                self._buf += chunk
                if not self._handle_lines():
                    break
        except (BlockingIOError, OSError):
            pass

    def _from_hil(self):
        try:
            chunk = os.read(self._tx_r, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._sel.unregister(self._tx_r)
            os.close(self._tx_r)
            self._tx_r = os.open(os.devnull, os.O_RDONLY)  # placeholder so _kill_child can close it
            return
        self._buf += chunk
        self._handle_lines()

    def _handle_lines(self) -> bool:
        """Handle complete supervisor messages; False once the interpreter has been ended."""
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            msg = json.loads(line)
            op = msg["op"]
            if op == "ev":
                if msg.get("type") == "serve":
                    self._serve_state(msg["state"])
                else:
                    self.eb._on_event(msg)
            elif op == "end":
                self._end_msg = msg
                self._sleep_ms = msg.get("ms", 0)
                outcome = msg["outcome"]
                self.eb._after_end(dict(msg, outcome=outcome))
            elif op == "serve_run":
                self._serve_state("run")
                self._reply({})
            elif op == "serve_stop":
                outcome = self._end_msg["outcome"] if getattr(self, "_end_msg", None) else "reset"
                self._end_msg = None
                self._child_ended(outcome)
                return False
            else:
                handler = self.eb.handlers.get(op)
                if handler is None and op.startswith("lora_") and self.eb.radio is not None:
                    reply = self.eb.radio.handle(op, msg, self.eb)
                elif handler is None:
                    reply = {"error": "EIO"}
                else:
                    try:
                        reply = handler(msg)
                    except Exception as e:  # noqa: BLE001 - a model bug must not hang the board
                        self._log(f"device model failed on {op}: {e!r}")
                        reply = {"error": "EIO"}
                self._reply(reply)
        return True

    def _serve_state(self, state: str):
        if _DEBUG:
            _dbg(f"serve_state {state} pending={self._pending!r}")
        if state == "run":
            self._state = "run"
            if self._pending and not self._suppress:
                data, self._pending = self._pending, b""
                self._deliver(data)
        elif state == "repl":
            if self._tail.endswith(_PROMPTS):  # the prompt came through before this message
                self._state = "repl"
                if self._pending:
                    self._release()
            else:
                self._state = "wait_prompt"
                self._hold_deadline = time.monotonic() + 3
