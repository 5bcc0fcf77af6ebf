"""How each MicroPython port really behaves, in one table: the emulated board's shims and supervisor read it.

Keyed by the board file's ``port`` (and ``mcu`` where the chip matters) and the MicroPython version of the image it
flashes (``flash.firmware``, e.g. ``...-v1.25.0.bin``). Every rule names the source it was read from (paths in the
micropython/micropython repository, v1.22-v1.28, unless said otherwise). ``confirmed``: read in that source;
``inferred``: from a chip manual or an issue thread, not from MicroPython's code, and worth checking on a board.

The firmware never reads this table: it must work on the real ports, and the emulator's job is to fail where they
fail. docs/emulator-ports.md lists the same rules for people.
"""

from __future__ import annotations

import re

# Reset causes the machine module defines, by port (name -> value). A name missing here is an AttributeError.
RESET_CONSTANTS = {
    # ports/esp32/modmachine.c: MP_PWRON_RESET 1, MP_HARD_RESET 2, MP_WDT_RESET 3, MP_DEEPSLEEP_RESET 4,
    # MP_SOFT_RESET 5 (extmod/modmachine.h)
    "esp32": {"PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4, "SOFT_RESET": 5},
    # ports/rp2/modmachine.c: only RP2_RESET_PWRON 1 and RP2_RESET_WDT 3
    "rp2": {"PWRON_RESET": 1, "WDT_RESET": 3},
    # ports/stm32/modmachine.c: PYB_RESET_SOFT 0, POWER_ON 1, HARD 2, WDT 3, DEEPSLEEP 4
    "stm32": {"SOFT_RESET": 0, "PWRON_RESET": 1, "HARD_RESET": 2, "WDT_RESET": 3, "DEEPSLEEP_RESET": 4},
}

# What reset_cause() says after each way a boot can end (a constant's name, or "keep": the chip's cause as before).
CAUSE_AFTER = {
    "esp32": {
        # ports/esp32/modmachine.c mp_machine_reset_cause(): esp_reset_reason() ESP_RST_DEEPSLEEP -> DEEPSLEEP_RESET,
        # ESP_RST_SW (esp_restart, machine.reset) -> HARD_RESET, *_WDT -> WDT_RESET; a soft reset does not reset the
        # chip, so esp_reset_reason() still gives the last chip reset.
        "deepsleep": "DEEPSLEEP_RESET",
        "reset": "HARD_RESET",
        "watchdog": "WDT_RESET",
        "soft_reset": "keep",
    },
    "rp2": {
        # ports/rp2/modmachine.c: mp_machine_reset() is watchdog_reboot(), mp_machine_deepsleep() is lightsleep then
        # mp_machine_reset(), and reset_cause() is WDT_RESET whenever watchdog_caused_reboot(): so after a deep
        # sleep and after machine.reset() too. A soft reset (ports/rp2/main.c loop) keeps the chip's cause.
        "deepsleep": "WDT_RESET",
        "reset": "WDT_RESET",
        "watchdog": "WDT_RESET",
        "soft_reset": "keep",
    },
    "stm32": {
        # ports/stm32/modmachine.c machine_init(): DEEPSLEEP_RESET only from the standby flag, and there is a branch
        # for F4, F7, H7, L4 and WB but none for WL, so a WL leaving standby falls through to the RCC flags. Standby
        # exit sets none of IWDG/POR/BOR/PIN (inferred, RM0453): SOFT_RESET (0).
        "deepsleep": "SOFT_RESET",
        # machine.reset() is powerctrl_mcu_reset() (NVIC system reset), which also pulls NRST: PINRSTF -> HARD_RESET
        # (inferred from ST's reference manual).
        "reset": "HARD_RESET",
        "watchdog": "WDT_RESET",
        # machine_deinit(): "we are doing a soft-reset so change the reset_cause" -> PYB_RESET_SOFT (confirmed).
        "soft_reset": "SOFT_RESET",
    },
}

# unique_id() length: ports/esp32/modmachine.c (6-byte MAC), ports/rp2/modmachine.c (pico_unique_board_id_t, 8),
# ports/stm32/modmachine.c (96 bits, 12).
UNIQUE_ID_BYTES = {"esp32": 6, "rp2": 8, "stm32": 12}

# The RTC after a power-on, and after every hard boot where the port sets it (unix seconds).
RTC_AT_BOOT = {
    # ports/esp32: the RTC counter runs from power-on; the emulator starts it at the epoch (as before this table).
    "esp32": {"power_on": 0, "every_hard_boot": False},
    # ports/rp2/main.c main(): rtc_set_datetime(2021-01-01 00:00) before the soft-reset loop: at every chip reset,
    # and deep sleep ends in one.
    "rp2": {"power_on": 1609459200, "every_hard_boot": True},
    # ports/stm32/rtc.c RTC_CalendarConfig(): 2015-01-01 when the backup domain starts (power-on only; the RTC runs
    # on through resets and standby).
    "stm32": {"power_on": 1420070400, "every_hard_boot": False},
}

# RTC.datetime(): which sub-seconds and weekdays the port takes. ports/rp2/machine_rtc.c (datetime_t has no
# sub-seconds: ignored), ports/stm32/rtc.c pyb_rtc_datetime() ("weekday is 1-7 for Monday through Sunday"; HAL's
# SetTime does not write SubSeconds: ignored), ports/esp32/machine_rtc.c (microseconds kept, weekday ignored).
RTC_DATETIME = {
    "esp32": {"subseconds": True, "weekday_min": 0, "weekday_max": 6},
    "rp2": {"subseconds": False, "weekday_min": 0, "weekday_max": 6},
    "stm32": {"subseconds": False, "weekday_min": 1, "weekday_max": 7},
}

# Sleep and the watchdog.
SLEEP = {
    "esp32": {
        # ports/esp32/modmachine.c machine_sleep_helper(): esp_sleep_enable_timer_wakeup(us) takes any 64-bit time.
        "lightsleep_max_ms": None,
        "deepsleep": "reboot",  # esp_deep_sleep_start(): the chip reboots; RTC memory and held pins stay
        "deepsleep_max_ms": None,
        # ports/esp32/machine_wdt.c: the task watchdog; deep sleep powers the digital core down and it stops with it.
        "wdt_in_deepsleep": "stops",
        "wdt_in_lightsleep": "stops",
        "ticks_in_lightsleep": True,
        "pin_hold": True,  # ports/esp32/machine_pin.c: Pin(..., hold=True)
    },
    "rp2": {
        # ports/rp2/modmachine.c mp_machine_lightsleep(): use_timer_alarm = delay_ms < (1ULL << 32) / 1000, else
        # ValueError("sleep too long"): 4,294,967 ms and more are refused. deepsleep = lightsleep + reset: same limit.
        "lightsleep_max_ms": 4294966,
        "deepsleep": "lightsleep_then_reset",  # RAM lost, pins driven until the reset, then floating
        "deepsleep_max_ms": 4294966,
        # micropython#17228 (v1.25.0, RP2040): the watchdog counts on in lightsleep, and if it fires there the chip
        # hangs at power-on (the PSM does not restart the ROSC lightsleep stopped) until a power cycle. The fix
        # (micropython#17546, PSM_WDSEL_ROSC around the sleep) is merged upstream; the release that has it is not
        # confirmed here, so every version is treated as having the bug (the boards flash v1.25.0).
        "wdt_in_deepsleep": "locks_chip",
        "wdt_in_lightsleep": "locks_chip",
        "ticks_in_lightsleep": True,  # the timer keeps running (its alarm wakes the chip)
        "pin_hold": False,  # ports/rp2/machine_pin.c: no hold argument
    },
    "stm32": {
        # ports/stm32/rtc.c pyb_rtc_wakeup(): ms/1000 seconds on the 1 Hz clock, 0x10000 more with WUCKSEL 6, then
        # ValueError("wakeup value too large"): at most 131,072 s (lightsleep and deepsleep both go through it).
        "lightsleep_max_ms": 131072999,
        "deepsleep": "standby",  # ports/stm32/modmachine.c: powerctrl_enter_standby_mode(): RAM lost, reboot
        "deepsleep_max_ms": 131072999,
        # The IWDG runs on the LSI in Stop and Standby unless the option bytes freeze it (IWDG_STOP, IWDG_STDBY, set
        # to "running" from the factory): inferred from ST's RM0453, to confirm on a board.
        "wdt_in_deepsleep": "runs",
        "wdt_in_lightsleep": "runs",
        # powerctrl_enter_stop_mode(): SysTick stops in Stop mode, so ticks_ms() does not count the sleep.
        "ticks_in_lightsleep": False,
        "pin_hold": False,  # Stop mode keeps GPIO levels; standby does not, and there is no hold
    },
}

# ESP32 pins that keep a hold through deep sleep without esp32.gpio_deep_sleep_hold(True): the RTC GPIOs.
# docs/esp32/quickref.rst (Deep-sleep mode): "non-RTC GPIO pins ... esp32.gpio_deep_sleep_hold(True)"; RTC GPIO
# numbers from the ESP32 and ESP32-S3 technical reference manuals (IO MUX / RTC IO MUX tables).
RTC_GPIOS = {
    "esp32": sorted({0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39}),
    "esp32s3": list(range(22)),
}

# I2C: errno of a NACK, and whether explicit pins are taken by the hardware bus.
I2C = {
    # ports/esp32/machine_i2c.c: ESP_FAIL on NACK -> MP_ENODEV
    "esp32": {"nack_errno": "ENODEV", "hw_pins": True},
    # ports/rp2/machine_i2c.c: i2c_write_blocking_until() PICO_ERROR_GENERIC -> MP_EIO
    "rp2": {"nack_errno": "EIO", "hw_pins": True},
    # ports/stm32/machine_i2c.c: "explicit choice of scl/sda is not implemented" (ValueError); NACK -> MP_ENODEV
    "stm32": {"nack_errno": "ENODEV", "hw_pins": False},
}

# The longest machine.WDT timeout (ms) each port takes: ports/rp2/machine_wdt.c (8388, the RP2040 counter),
# ports/stm32/wdt.c (IWDG at its largest prescaler, ~32 s); ports/esp32/machine_wdt.c takes any.
WDT_MAX_MS = {"esp32": None, "rp2": 8388, "stm32": 32767}

# Modules a port has that the unix port does not: the emulator provides a shim for each.
EXTRA_MODULES = {"esp32": ["esp32"], "rp2": [], "stm32": []}

_VERSION = re.compile(r"v(\d+)\.(\d+)(?:\.(\d+))?")


def version(board: dict) -> tuple[int, int, int]:
    """The MicroPython version of the image the board file flashes; (1, 25, 0) when it does not say."""
    m = _VERSION.search((board.get("flash") or {}).get("firmware") or "")
    if not m:
        return (1, 25, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def rules(board: dict) -> dict:
    """Every rule for this board's port, MCU and MicroPython version, as JSON the shims read at boot."""
    port = board["port"]
    v = version(board)
    if not (1, 22) <= v[:2] <= (1, 28):
        raise ValueError(
            f"{board['id']}: MicroPython {'.'.join(map(str, v))}: the emulator models v1.22-v1.28"
        )
    mcu = board.get("mcu", port)
    return {
        "port": port,
        "mcu": mcu,
        "version": list(v),
        "reset": RESET_CONSTANTS[port],
        "cause_after": CAUSE_AFTER[port],
        "unique_id_bytes": UNIQUE_ID_BYTES[port],
        "rtc_at_boot": RTC_AT_BOOT[port],
        "rtc_datetime": RTC_DATETIME[port],
        "sleep": SLEEP[port],
        "rtc_gpios": RTC_GPIOS.get(mcu),  # None: the port has no pin hold at all
        "i2c": I2C[port],
        "wdt_max_ms": WDT_MAX_MS[port],
        "modules": EXTRA_MODULES[port],
    }


# What the shims read (the rest is the supervisor's), as one flat list: on a board these rules are the port's C
# code and cost the firmware nothing, so in the shim they must not add names (every name and string constant a
# module holds is interned, and interned names fill the pools the firmware's own names need). Positions are the
# shim's (hil/mpy/machine.py `_P`); strings become numbers.
_ERRNO = {"ENODEV": 19, "EIO": 5}
_WDT_IN_SLEEP = {"stops": 0, "runs": 1, "locks_chip": 2}


def shim_view(r: dict) -> list:
    """[port is esp32, reset constants as [name, value, ...], NACK errno, I2C takes scl/sda on hardware buses,
    longest WDT timeout, pin hold, longest lightsleep, longest deepsleep, watchdog in lightsleep (0 stops, 1 runs,
    2 locks the chip), ticks run in lightsleep, RTC weekday min, max, RTC keeps sub-seconds, port is rp2]"""
    s, d = r["sleep"], r["rtc_datetime"]
    return [
        r["port"] == "esp32",
        [x for kv in sorted(r["reset"].items()) for x in kv],
        _ERRNO[r["i2c"]["nack_errno"]],
        r["i2c"]["hw_pins"],
        r["wdt_max_ms"],
        s["pin_hold"],
        s["lightsleep_max_ms"],
        s["deepsleep_max_ms"],
        _WDT_IN_SLEEP[s["wdt_in_lightsleep"]],
        s["ticks_in_lightsleep"],
        d["weekday_min"],
        d["weekday_max"],
        d["subseconds"],
        r["port"] == "rp2",
    ]


def cause_value(r: dict, how: str, current: int) -> int:
    """reset_cause() after a boot that ended `how` (deepsleep, reset, watchdog, soft_reset); power-on is PWRON."""
    if how == "power_on":
        return r["reset"]["PWRON_RESET"]
    name = r["cause_after"][how]
    return current if name == "keep" else r["reset"][name]
