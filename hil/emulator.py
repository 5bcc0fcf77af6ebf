"""The emulated board's supervisor: runs unmodified firmware under the MicroPython unix port, wake after wake.

The firmware sees the shims in `hil/mpy` (`machine`, `time`, `select`) and talks through them to this process,
which owns virtual time, the device models, the world they measure, and the event log. Two modes:

- ``process``: one interpreter process per wake, as a board reboots out of deep sleep (fidelity).
- ``inprocess``: one interpreter; after deep sleep the firmware's modules are dropped and main.py runs again
  (speed: several hundred wakes a second).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from citynode.base import boards as boards_mod
from citynode.base.mpy import COMPILE_REVISION, compile_file
from citynode.base.paths import FIRMWARE_DIR

from hil import devices as devices_mod
from hil import port_rules
from hil.launcher import CACHE_DIR, micropython_command
from hil.worlds import World, make_world

SHIM_DIR = Path(__file__).resolve().parent / "mpy"

EXIT_DEEPSLEEP, EXIT_RESET, EXIT_WATCHDOG, EXIT_POWERCUT, EXIT_HALT, EXIT_SOFT_RESET = 42, 43, 44, 45, 46, 47
TIMER_WAKE = 4  # ESP32's wake_reason() after a timer wake; the other ports have no wake_reason()
BOOT_TIME_US = 300_000  # a reset or power-on takes this long before main.py runs again
SOFT_RESETS_MAX = 20  # in a row without a sleep: a firmware loop, which would never end on a board either
SOFT_RESET_US = 50_000  # machine.soft_reset(): the interpreter starts again, the chip does not (no ROM boot)
DEFAULT_START = "2026-09-07T00:00:00+00:00"  # a Monday in term time


class EmulatorError(RuntimeError):
    pass


class BoardHalted(EmulatorError):
    """The firmware stopped (uncaught exception or main.py returned with no watchdog): a dead node."""


@dataclass
class RunResult:
    wakes: int = 0
    boots: int = 0
    virtual_s: float = 0.0
    wall_s: float = 0.0
    outcomes: dict = field(default_factory=dict)
    halted: str | None = None


def _us(dt: str | datetime | int | float) -> int:
    if isinstance(dt, (int, float)):
        return int(dt * 1_000_000)
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000)


def _mpy_tree(src: Path, tag: str) -> Path:
    """Compile every module under `src` to .mpy once; return the directory to put on MICROPYPATH."""
    h = __import__("hashlib").sha256(COMPILE_REVISION)
    files = sorted(p for p in src.rglob("*.py") if "__pycache__" not in p.parts)
    for p in files:
        h.update(str(p.relative_to(src)).encode() + b"\0" + p.read_bytes() + b"\0")
    out = CACHE_DIR / f"{tag}-x64-{h.hexdigest()[:16]}"
    if (out / ".complete").exists():
        return out
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=CACHE_DIR))
    for p in files:
        rel = p.relative_to(src)
        if len(rel.parts) == 1 and rel.name in ("main.py", "boot.py"):
            continue
        compile_file(p, tmp / rel.with_suffix(".mpy"), "x64", CACHE_DIR / "mpy")
    (tmp / ".complete").write_text("")
    try:
        os.replace(tmp, out)
    except OSError:  # another process built it first
        __import__("shutil").rmtree(tmp, ignore_errors=True)
    return out


def shim_heap_kb() -> int:
    """Heap the shims take in the interpreter (KB, rounded up), measured once and cached.

    On a board `machine`, `time` and `select` are built into the firmware image and cost no heap; here they are
    Python modules, so the emulator adds their footprint to the heap it gives the interpreter.
    """
    shims = _mpy_tree(SHIM_DIR, "shims")
    cache = shims / ".heap_kb8"  # 8: the port rules as one list, random
    if cache.exists():
        return int(cache.read_text())
    r_fd, w_fd = os.pipe()
    # The port's rules (hil/port_rules.py) become a few values in the machine shim, and esp32 boards import the `esp32`
    # shim: on a board both are built in and cost no heap, so they count as the shims'.
    rules = max(
        (port_rules.shim_view(port_rules.rules(b)) for b in boards_mod.load_all() if b["port"] == "esp32"),
        key=lambda r: len(json.dumps(r)),
    )
    probe = (
        "import sys, gc, _hil, _hil_asyncio\n"
        "sys.modules['_asyncio'] = _hil_asyncio\n"
        "import machine, time, select, json, io, builtins, random\n"
        "import esp32\n"
        "gc.collect()\n"
        "print(gc.mem_alloc())\n"
    )
    env = dict(
        os.environ,
        MICROPYPATH=f"{shims}:.frozen",
        HIL_TX=str(w_fd),
        HIL_RX=str(r_fd),
        HIL_RULES=json.dumps(rules),
    )
    try:
        out = subprocess.run(
            [*micropython_command(), "-c", probe],
            env=env,
            pass_fds=(r_fd, w_fd),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.close(r_fd)
        os.close(w_fd)
    # Room for the boot driver's own objects and the boot reply, on top of the modules.
    kb = -(-int(out.strip()) // 1024) + 8
    cache.write_text(str(kb))
    return kb


class Interpreter:
    """One MicroPython unix-port process running the boot driver, and the two pipes to it.

    key = (heap KB, MICROPYPATH, mode): interpreters with the same key are interchangeable, which lets a pool
    serve many in-process boards with a few processes (each boot tells it which board's flash to work in).
    """

    def __init__(self, key: tuple):
        self.key = key
        heap_kb, micropypath, mode, rules = key
        to_sup_r, to_sup_w = os.pipe()
        to_fw_r, to_fw_w = os.pipe()
        env = dict(
            os.environ,
            MICROPYPATH=micropypath,
            HIL_TX=str(to_sup_w),
            HIL_RX=str(to_fw_r),
            HIL_MODE=mode,
            HIL_RULES=rules,
        )
        self.stdio = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [*micropython_command(), "-X", f"heapsize={heap_kb}k", "-m", "_hil_boot"],
            env=env,
            pass_fds=(to_sup_w, to_fw_r),
            stdin=subprocess.DEVNULL,
            stdout=self.stdio,
            stderr=subprocess.STDOUT,
        )
        os.close(to_sup_w)
        os.close(to_fw_r)
        self.rfd, self.wfd = to_sup_r, to_fw_w
        self._buf = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.rfd, selectors.EVENT_READ)

    def read_msg(self, timeout_s: float) -> dict | None:
        """The next message; None when the process has gone; {"op": "_hang"} after timeout_s of silence."""
        while b"\n" not in self._buf:
            if self.rfd is None:
                return None
            if not self._sel.select(timeout_s):
                return {"op": "_hang"}
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, obj: dict):
        if self.wfd is None:
            return
        body = json.dumps(obj).encode()
        try:
            os.write(self.wfd, b"%07d\n" % len(body) + body)
        except BrokenPipeError:
            pass  # the interpreter died (a pulled plug): the next read sees it gone and says how

    def exit_detail(self) -> str:
        self.stdio.seek(0)
        return self.stdio.read().decode(errors="replace")[-2000:]

    def close(self):
        # Once only: a second os.close of a number would close whatever file has been given that number since.
        if self.rfd is None:
            return
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = None
        self._sel.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stdio.close()


class InterpreterPool:
    """Idle in-process interpreters, shared by many boards (a fleet of nodes needs a few, not one each)."""

    def __init__(self):
        self._idle: dict[tuple, list[Interpreter]] = {}
        self._lock = threading.Lock()  # boards in several supervisor threads share one pool
        self.spawned = 0

    def acquire(self, key: tuple) -> Interpreter:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                it = idle.pop()
                if it.proc.poll() is None:
                    return it
                it.close()
            self.spawned += 1
        return Interpreter(key)

    def release(self, it: Interpreter):
        with self._lock:
            self._idle.setdefault(it.key, []).append(it)

    def close(self):
        for its in self._idle.values():
            for it in its:
                it.close()
        self._idle.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EventLog:
    """Every effect of the board, as dicts with a virtual timestamp `t` (unix seconds); optionally JSONL."""

    def __init__(self, path: str | Path | None = None):
        self.events: list[dict] = []
        self._file = open(path, "w") if path else None  # noqa: SIM115 - closed by close()
        self.listeners: list[Callable[[dict], None]] = []

    def add(self, ev: dict):
        self.events.append(ev)
        if self._file:
            self._file.write(json.dumps(ev) + "\n")
        for fn in self.listeners:
            fn(ev)

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def close(self):
        if self._file:
            self._file.close()
            self._file = None


class EmulatedBoard:
    def __init__(
        self,
        board: str | dict = "heltec-wifi-lora32-v3",
        app: str = "counter",
        *,
        flash_dir: str | Path | None = None,
        config: dict | None = None,
        world: World | str | None = None,
        mode: str = "inprocess",
        start: str | datetime | int = DEFAULT_START,
        heap_kb: int | None = None,
        event_log: str | Path | None = None,
        hang_timeout_s: float = 20.0,
        unique_id: bytes | None = None,
        firmware_dir: Path | None = None,
        compiled: bool = True,
        seed: int = 0,
        pool: InterpreterPool | None = None,
    ):
        if mode not in ("inprocess", "process"):
            raise ValueError("mode is 'inprocess' or 'process'")
        self.board = boards_mod.load(board) if isinstance(board, str) else board
        self.app = app
        self.mode = mode
        self.seed = seed
        self.hang_timeout_s = hang_timeout_s
        # Heap for the firmware on this 64-bit interpreter; the shims' own footprint is added at start.
        self.heap_kb = heap_kb or boards_mod.emulator_heap_kb(self.board)
        self.firmware_dir = Path(firmware_dir or FIRMWARE_DIR)
        self.compiled = compiled
        self._tmp = None
        if flash_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="citynode-flash-")
            flash_dir = self._tmp.name
        self.flash = Path(flash_dir)
        self.flash.mkdir(parents=True, exist_ok=True)
        self.t_us = _us(start)
        self.start_us = self.t_us
        # the port's real behaviour (sleep, watchdog, reset causes, clock, pins, buses): hil/port_rules.py
        self.rules = port_rules.rules(self.board)
        self.unique_id = (
            unique_id or (bytes.fromhex("f412fa4a5b7c") + bytes(range(6)))[: self.rules["unique_id_bytes"]]
        )
        self.log = EventLog(event_log)
        self.world = (
            make_world(world, start_us=self.t_us, seed=seed) if not isinstance(world, World) else world
        )
        self._power_on_state()
        self.handlers = self._handlers()
        self._leds = self._led_map()
        self.devices = devices_mod.attach(self)
        self._prepare_flash(config)
        self.pool = pool
        if pool is not None and mode != "inprocess":
            raise ValueError("an interpreter pool serves inprocess boards only")
        self._it = None
        self._mpypath = None
        self._pulled_plug = False

    def _power_on_state(self):
        """The chip as it powers on: what survives deep sleep and resets is lost on a power cut."""
        self.rtc_memory = b""
        self._rtc_power_on()
        self.reset_cause = port_rules.cause_value(self.rules, "power_on", 0)
        self._deep_sleep_hold = False  # esp32.gpio_deep_sleep_hold(True) this boot
        self.wake_reason = 0
        self._soft_reset = False  # the next boot follows a soft reset: the tick counters run on
        self._light_slept = False  # this boot light-slept (machine.lightsleep)
        self._new_wake = False  # the last soft reset came after a light sleep: it ended a wake
        self._ticks_origin_us = self.t_us
        self.powercut_after_bytes = -1
        self.pins: dict = {}
        self.held: set = set()
        self.wdt_running = False
        self.halted: str | None = None
        self.radio = None  # set by the LoRaWAN layer: an object with handle(op, msg, board) -> dict

    def _handlers(self) -> dict[str, Callable[[dict], dict]]:
        """The firmware's requests (shim -> supervisor) and who answers them: the world's device models."""
        return {
            "boot": self._on_boot,
            "i2c": self._on_i2c,
            "i2c_scan": self._on_i2c_scan,
            "spi": self._on_spi,
            "uart_write": self._on_uart_write,
            "uart_read": self._on_uart_read,
            "adc": self._on_adc,
            "pin_read": self._on_pin_read,
            "pulse": self._on_pulse,
            "i2s_read": self._on_i2s_read,
        }

    # ---------------------------------------------------------------- set-up

    def _led_map(self) -> dict:
        leds = {}
        for name, led in self.board.get("leds", {}).items():
            leds[led["pin"]] = (name, led.get("active_low", False))
        for name, led in self.board["apps"].get(self.app, {}).get("leds", {}).items():
            leds[led["pin"]] = (name, led.get("active_low", False))
        return leds

    def _prepare_flash(self, config: dict | None):
        """The board's flash as a node has it after deploy and provisioning."""
        (self.flash / "main.py").write_bytes((self.firmware_dir / "main.py").read_bytes())
        (self.flash / "board.json").write_text(json.dumps(boards_mod.node_view(self.board, self.app)))
        cfg_path = self.flash / "config.json"
        if config is not None or not cfg_path.exists():
            cfg = {"app": self.app}
            cfg.update(config or {})
            cfg_path.write_text(json.dumps(cfg))

    def config(self) -> dict:
        return json.loads((self.flash / "config.json").read_text())

    def _micropypath(self) -> str:
        # Hashing the firmware tree costs milliseconds: once per board, not once per boot.
        if self._mpypath is None:
            self._mpypath = self._build_micropypath()
        return self._mpypath

    def _build_micropypath(self) -> str:
        if self.compiled:
            fw = _mpy_tree(self.firmware_dir, "fw")
            shims = _mpy_tree(SHIM_DIR, "shims")
        else:
            fw, shims = self.firmware_dir, SHIM_DIR
        return f"{shims}:{fw}:.frozen"

    # ---------------------------------------------------------------- events

    def emit(self, kind: str, t_us: int | None = None, **fields):
        ev = {"t": round((self.t_us if t_us is None else t_us) / 1e6, 6), "type": kind}
        ev.update(fields)
        self.log.add(ev)
        return ev

    @property
    def events(self) -> list[dict]:
        return self.log.events

    def _set_pin(self, pin, value, t_us):
        """value: 0/1 when the pin drives its output, None when it floats (input, reset, deep sleep)."""
        old = self.pins.get(pin)
        self.pins[pin] = value
        if pin in self._leds:
            name, active_low = self._leds[pin]
            was_lit = old is not None and bool(old) != active_low
            lit = value is not None and bool(value) != active_low
            if lit != was_lit:
                self.emit("led", t_us, name=name, on=lit)

    def led_states(self) -> dict:
        """Which LEDs are lit now, by name."""
        out = {}
        for pin, (name, active_low) in self._leds.items():
            v = self.pins.get(pin)
            out[name] = v is not None and bool(v) != active_low
        return out

    # ---------------------------------------------------------------- handlers (firmware -> world)

    def _rtc_power_on(self):
        """The RTC as the port starts it: the epoch (esp32), 2015-01-01 (stm32), 2021-01-01 (rp2)."""
        self.rtc_offset_us = self.rules["rtc_at_boot"]["power_on"] * 1_000_000 - self.t_us

    def _chip_reset(self):
        """What a reset of the chip (not a soft reset, not a power cut) does to the port's clock."""
        if self.rules["rtc_at_boot"]["every_hard_boot"]:
            self._rtc_power_on()  # ports/rp2/main.c sets the RTC at every boot

    def _on_boot(self, msg):
        self.wdt_running = False
        soft = self._soft_reset
        self._light_slept = False
        if not soft:
            self._ticks_origin_us = self.t_us
            self._deep_sleep_hold = False
        self._soft_reset = False
        info = {
            "t": self.t_us,
            "ticks_origin_us": self._ticks_origin_us,
            "rtc_offset_us": self.rtc_offset_us,
            "rtc_memory": self.rtc_memory.hex(),
            "reset_cause": self.reset_cause,
            "wake_reason": self.wake_reason,
            "unique_id": self.unique_id.hex(),
            "board": {
                "id": self.board["id"],
                "rtc_memory_bytes": self.board["rtc_memory_bytes"],
                "port": self.board["port"],
            },
            "input_pins": sorted(devices_mod.input_pins(self), key=str),
            "powercut_after_bytes": self.powercut_after_bytes,
            "cwd": str(self.flash),
            # the firmware's randomness, the same for the same seed and moment (hil/mpy/random.py)
            "rnd": zlib.crc32(f"{self.seed}:{self.t_us}".encode()),
        }
        self.powercut_after_bytes = -1
        # a boot after a soft reset goes on with the same wake: marked, so a reader counting wakes can skip it
        self.emit("boot", reset_cause=self.reset_cause, **({"soft_reset": True} if soft else {}))
        return info

    def _bus_name(self, kind: str, bus: dict) -> str | None:
        for name, spec in self.board.get(kind, {}).items():
            if (
                bus.get("id", -1) >= 0
                and bus["id"] == spec["id"]
                and bus.get("scl") in (None, spec.get("scl"))
            ):
                return name
            if (
                bus.get("scl") is not None
                and bus.get("scl") == spec.get("scl")
                and bus.get("sda") == spec.get("sda")
            ):
                return name
            if kind == "uart" and bus.get("tx") is not None and bus.get("tx") == spec.get("tx"):
                return name
        return None

    def _device(self, kind, bus, addr=None):
        name = self._bus_name(kind, bus)
        return self.devices.get((name, addr))

    def _on_i2c(self, msg):
        dev = self._device("i2c", msg["bus"], msg["addr"])
        t = msg["t"]
        if dev is None or dev.fault == "absent":
            return {"error": "ENODEV"}
        if dev.fault == "stuck":
            return {"error": "ETIMEDOUT"}
        if dev.fault == "nack":
            return {"error": "ENODEV"}
        w = bytes.fromhex(msg["w"])
        if w and not dev.write(w, t):
            return {"error": "ENODEV"}  # NACK, as the ESP32 port reports it
        data = b""
        if msg["r"]:
            data = dev.read(msg["r"], t)
            if data is None:
                return {"error": "ENODEV"}
            if dev.fault == "garbage":
                data = bytes((b * 7 + 13) & 0xFF for b in data)
        return {"ack": True, "data": data.hex()}

    def _on_i2c_scan(self, msg):
        name = self._bus_name("i2c", msg["bus"])
        found = sorted(
            a for (b, a), d in self.devices.items() if b == name and d.fault not in ("absent", "stuck")
        )
        return {"found": found}

    def _on_spi(self, msg):
        return {"data": "ff" * (len(msg["w"]) // 2)}

    def _on_uart_write(self, msg):
        dev = self._device("uart", msg["bus"])
        if dev is not None and dev.fault != "absent":
            dev.write(bytes.fromhex(msg["w"]), msg["t"])
        return {}

    def _on_uart_read(self, msg):
        dev = self._device("uart", msg["bus"])
        if dev is None or dev.fault == "absent":
            return {"data": "", "waited_us": msg["wait_ms"] * 1000}
        data, waited = dev.read_available(msg["t"], msg["wait_ms"] * 1000)
        return {"data": data.hex(), "waited_us": waited}

    def _on_adc(self, msg):
        return {"uv": devices_mod.adc_read(self, msg["pin"], msg["t"])}

    def _on_pin_read(self, msg):
        return {"value": devices_mod.pin_read(self, msg["pin"], msg["t"])}

    def _on_pulse(self, msg):
        return {"us": devices_mod.pulse(self, msg["pin"], msg["level"], msg["timeout_us"], msg["t"])}

    def _on_i2s_read(self, msg):
        dev = self._device("i2s", msg["bus"])
        if dev is None:
            return {"data": "00" * msg["n"]}
        return {"data": dev.read_samples(msg["n"], msg["bits"], msg["rate"], msg["t"]).hex()}

    def _on_event(self, msg):
        kind = msg["type"]
        t = msg["t"]
        if kind == "pin":
            self._set_pin(msg["pin"], msg["value"], t)
            return
        if kind == "pin_hold":
            if msg["pin"] is None:  # esp32.gpio_deep_sleep_hold (hil/mpy/esp32.py)
                self._deep_sleep_hold = msg["hold"]
                self.emit("deep_sleep_hold", t, on=msg["hold"])
            else:
                (self.held.add if msg["hold"] else self.held.discard)(msg["pin"])
            return
        if kind == "wdt_start":
            self.wdt_running = True
        if kind == "lightsleep":
            self._light_slept = True
        fields = {k: v for k, v in msg.items() if k not in ("op", "type", "t")}
        self.emit(kind, t, **fields)

    # ---------------------------------------------------------------- wake outcomes

    def _after_end(self, msg) -> str:
        outcome = msg["outcome"]
        self.t_us = msg["t"]
        self.rtc_memory = bytes.fromhex(msg["rtc_memory"])
        self.rtc_offset_us = msg["rtc_offset_us"]
        if "boot_us" in msg:
            self._ticks_origin_us = msg["boot_us"]  # stm32: ticks stood still through light sleeps
        if outcome == "deepsleep":
            return self._deepsleep(msg["ms"], msg.get("wdt") or [0, 0])
        if outcome == "soft_reset":
            # Only the interpreter restarts: pins, pin holds, RTC memory and ticks stay; reset_cause() keeps the
            # chip's cause, except on stm32, which says SOFT_RESET (hil/port_rules.py CAUSE_AFTER).
            self.emit("soft_reset")
            self.t_us += SOFT_RESET_US
            self._soft_reset = True
            self._new_wake = self._light_slept  # a soft reset after a light sleep begins the next wake
            self.reset_cause = port_rules.cause_value(self.rules, "soft_reset", self.reset_cause)
        elif outcome in ("reset", "watchdog"):
            self.emit(outcome, detail=msg.get("detail", "")[-500:])
            self._all_pins_off()
            self.t_us += BOOT_TIME_US
            self.reset_cause = port_rules.cause_value(self.rules, outcome, self.reset_cause)
            self.wake_reason = 0
            self._chip_reset()
        elif outcome == "locked":
            self._locked()
        else:
            self.emit("halt", reason=outcome, detail=msg.get("detail", "")[-2000:])
            self.halted = msg.get("detail") or outcome
        return outcome

    def _locked(self):
        detail = "the watchdog fired in lightsleep: the RP2040 hangs until a power cycle (micropython#17228)"
        self.emit("halt", reason="locked", detail=detail)
        self.halted = detail

    def _deepsleep(self, ms: int, wdt: list) -> str:
        """machine.deepsleep(ms) as the port does it (hil/port_rules.py SLEEP)."""
        s = self.rules["sleep"]
        kind = s["deepsleep"]
        self.emit("sleep", ms=ms)
        end = self.t_us + ms * 1000
        timeout_us, fed_us = wdt
        bite = fed_us + timeout_us if timeout_us and s["wdt_in_deepsleep"] != "stops" else None
        if kind == "lightsleep_then_reset":
            # rp2: a light sleep (pins still driven, the watchdog counting), then watchdog_reboot()
            if bite is not None and bite < end:
                self.t_us = bite
                self._locked()
                return "locked"
            self.t_us = end
            self._float_pins(held=False)
            self._chip_reset()
        else:
            # esp32: held pins stay (non-RTC GPIOs only with gpio_deep_sleep_hold); stm32 standby: nothing holds
            self._float_pins(held=kind == "reboot")
            if bite is not None and bite < end:
                # stm32: the IWDG runs on in standby and resets the chip before the wake-up timer does
                self.t_us = bite
                self.emit("watchdog", detail="the watchdog ran on through deep sleep")
                self.t_us += BOOT_TIME_US
                self.reset_cause = port_rules.cause_value(self.rules, "watchdog", self.reset_cause)
                self.wake_reason = 0
                return "watchdog"
            self.t_us = end
        self.reset_cause = port_rules.cause_value(self.rules, "deepsleep", self.reset_cause)
        self.wake_reason = TIMER_WAKE
        return "deepsleep"

    def _float_pins(self, held: bool):
        """Pins float back to their reset level; `held`: except those a hold keeps (ESP32)."""
        rtc = self.rules["rtc_gpios"]
        for pin in list(self.pins):
            keep = held and pin in self.held and (self._deep_sleep_hold or (rtc is not None and pin in rtc))
            if not keep and self.pins[pin] is not None:
                self._set_pin(pin, None, self.t_us)

    def _all_pins_off(self):
        self.held.clear()
        for pin in list(self.pins):
            if self.pins[pin] is not None:
                self._set_pin(pin, None, self.t_us)

    def power_cut(self, off_s: float = 1.0):
        """Power lost and back: RAM, RTC memory and the RTC's time are gone."""
        self.emit("powercut", off_s=off_s)
        self._all_pins_off()
        self.rtc_memory = b""
        self.t_us += int(off_s * 1e6)
        self._rtc_power_on()
        self.reset_cause, self.wake_reason = port_rules.cause_value(self.rules, "power_on", 0), 0

    # ---------------------------------------------------------------- process plumbing

    def _shim_kb(self) -> int:
        return shim_heap_kb() if self.compiled else 2 * shim_heap_kb()

    def _interp_key(self) -> tuple:
        rules = json.dumps(port_rules.shim_view(self.rules), sort_keys=True)
        return (self.heap_kb + self._shim_kb(), self._micropypath(), self.mode, rules)

    def _spawn(self):
        key = self._interp_key()
        if self.pool is not None:
            self._it = self.pool.acquire(key)
        else:
            self._it = Interpreter(key)

    def _release(self):
        """After a deep sleep in a pool, the interpreter is free to boot another board."""
        if self.pool is not None and self._it is not None:
            self.pool.release(self._it)
            self._it = None

    def _close(self):
        if self._it is not None:
            self._it.close()
            self._it = None

    @property
    def _proc(self):
        return self._it.proc if self._it is not None else None

    def _read_msg(self) -> dict | None:
        return self._it.read_msg(self.hang_timeout_s)

    def _reply(self, obj: dict):
        self._it.reply(obj)

    def _exit_detail(self) -> str:
        return self._it.exit_detail()

    def _serve_boot(self) -> str | None:
        """Handle messages until this boot ends. Returns its outcome, or None if the process went away."""
        while True:
            msg = self._read_msg()
            if msg is None:
                return None
            op = msg["op"]
            if op == "ev":
                self._on_event(msg)
            elif op == "end":
                return self._after_end(msg)
            elif op == "_hang":
                return "_hang"
            else:
                if op in self.handlers:
                    handler = self.handlers[op]
                elif op.startswith("lora_") and self.radio is not None:
                    handler = lambda m: self.radio.handle(m["op"], m, self)  # noqa: E731
                else:
                    handler = lambda m: {"error": "EIO"}  # noqa: E731
                try:
                    reply = handler(msg)
                except Exception as e:  # a model bug must not hang the firmware: report it loudly
                    self._reply({"error": "EIO"})
                    raise EmulatorError(f"device model failed on {op}: {e!r}") from e
                self._reply(reply)

    def _process_gone(self):
        """The interpreter exited without saying how the boot ended: a power cut, a kill, or a crash."""
        rc = self._proc.wait()
        detail = self._exit_detail()
        self._close()
        if rc == EXIT_POWERCUT or self._pulled_plug:
            self._pulled_plug = False
            self.power_cut(off_s=1.0)
            return "powercut"
        self.emit("halt", reason="crash", detail=f"exit status {rc}: {detail}")
        self.halted = f"interpreter exited with status {rc}: {detail}"
        return "crash"

    def _hang(self) -> str:
        self._close()
        if self.wdt_running:
            self.emit("watchdog", detail="hung (wall-clock kill)")
            self.t_us += BOOT_TIME_US
            self.reset_cause = port_rules.cause_value(self.rules, "watchdog", self.reset_cause)
            self._chip_reset()
            return "watchdog"
        self.emit("halt", reason="hang", detail=f"no progress for {self.hang_timeout_s} s of wall time")
        self.halted = "hang"
        return "hang"

    def boot_once(self) -> str:
        """Run the board from now until its next deep sleep, reset, power loss or halt."""
        if self.halted:
            raise BoardHalted(self.halted)
        if self._proc is None:
            self._spawn()
        outcome = self._serve_boot()
        if outcome is None:
            return self._process_gone()
        if outcome == "_hang":
            return self._hang()
        if self.mode == "process" or outcome in ("halt", "exception", "locked"):
            try:
                self._proc.wait(timeout=self.hang_timeout_s)
            except subprocess.TimeoutExpired:
                pass
            self._close()
        elif outcome == "deepsleep":
            self._release()
        return outcome

    def wake_once(self, outcomes: dict | None = None) -> str:
        """One wake: boot_once, and again after each soft reset (the firmware going on in a fresh interpreter),
        up to the sleep, reset, power loss or halt that ends it. Soft resets are counted in `outcomes`. A soft
        reset after a light sleep (a chip without pin hold keeping a light on) ends the wake: "lightsleep"."""
        outcome = self.boot_once()
        soft = 0
        while outcome == "soft_reset" and not self.halted:
            if self._new_wake:
                return "lightsleep"  # the chip slept light, then started its next wake afresh
            if outcomes is not None:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            soft += 1
            if soft > SOFT_RESETS_MAX:
                self.emit("halt", reason="soft reset loop", detail=f"{soft} soft resets without sleeping")
                self.halted = f"the firmware soft-reset {soft} times in a row without sleeping"
                return "halt"
            outcome = self.boot_once()
        return outcome

    def run(
        self,
        *,
        hours: float | None = None,
        days: float | None = None,
        until_us: int | None = None,
        wakes: int | None = None,
        stop: Callable[[EmulatedBoard], bool] | None = None,
    ) -> RunResult:
        """Boot after boot until the virtual end time, a number of boots, or `stop(board)`; never past a halt."""
        if hours is not None or days is not None:
            until_us = self.t_us + int(((hours or 0) + 24 * (days or 0)) * 3600e6)
        res = RunResult()
        wall0 = time.perf_counter()
        t0 = self.t_us
        try:
            while not self.halted:
                if until_us is not None and self.t_us >= until_us:
                    break
                if wakes is not None and res.boots >= wakes:
                    break
                outcome = self.wake_once(res.outcomes)
                res.boots += 1
                res.outcomes[outcome] = res.outcomes.get(outcome, 0) + 1
                if outcome in ("deepsleep", "lightsleep"):
                    res.wakes += 1
                if stop is not None and stop(self):
                    break
        finally:
            if self.halted or self.mode == "process":
                self._close()
        res.halted = self.halted
        res.virtual_s = (self.t_us - t0) / 1e6
        res.wall_s = time.perf_counter() - wall0
        return res

    def close(self):
        self._close()
        self.log.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def kill_now(self):
        """Pull the plug: SIGKILL the running interpreter, which counts as a power cut (tests call it from
        another thread, at random moments)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._pulled_plug = True
            proc.send_signal(signal.SIGKILL)
