"""THE payload schema: every message of every role, defined once.

Everything else is generated from or driven by this file: the node's per-role tables (`firmware/payload_<role>.py`),
the Python codec (`fleet.payloads`), the JavaScript codec for network servers (`citynode codec`) and
`docs/payloads.md`. After a change run `python -m fleet.payloads_gen` (tests fail while a generated file is stale).

Wire format (version 1)
- Uplinks are CBOR sequences (RFC 8742): the fields' items back to back, in order, no array head.
  Downlinks (configuration) are one CBOR map with small integer keys; every key is optional (partial update).
- A number is sent as the integer round((value - zero) / res): `res` is the sensor's real resolution and `zero`
  a typical value, so typical readings are 1- or 2-byte CBOR ints. No reading is CBOR null.
- Several small values (LED colour, flags, ...) share one integer ("pack"): the first part in the low bits.
  A pack may carry one boolean in the integer's sign ("sign"): true -> n, false -> -1 - n (CBOR major type 0/1).
- Out-of-range readings are clamped to the range and flagged (out_of_range), never wrapped.
- Versions: each (role, message, version) has its own FPort. Appending a field at the end keeps the FPort
  (older decoders ignore trailing items, newer ones accept their absence); any other change takes a new FPort
  from the role's block, and the old message stays here (retired) so old nodes still decode.

Settings (version 1)
- Every setting a node app has lives here with its range (or choices) and its default: a role's downlinkable ones
  are its config message's fields with a `default=`; a config field without one is a one-shot action (`command`,
  `frc_ppm`); the settings no downlink carries are the role's "settings" list (tool apps: TOOL_APPS), and the
  LoRaWAN link's own (LINK_SETTINGS) apply to every app on the network. The role's "rules" say how settings must
  relate. The generator writes each built role's defaults to `firmware/apps/<role>/settings.py`; the node
  (payload.check_config), `citynode encode-downlink`, `emulate --config`, `provision --set` (fleet/role_settings.py)
  and the JavaScript codec all check the same ranges and rules.

Field constructors return plain dicts; the field names carry their unit (`temp_c`, `co2_ppm`).
"""

from __future__ import annotations

VERSION = 1
MAX_BYTES = 36  # every message, worst case: fits EU868 DR0 (51 B) beside a full FOpts (15 B)

COMMON_FLAGS = ["sensor_fault", "out_of_range", "low_battery"]

# Compressed durations in one byte (minutes): exact to 1 h, then 5 min to 6 h, 30 min to 48 h, 6 h to ~15 days.
# Each step: (first code, value at that code, step); the last code means "this long or longer".
DURATION_STEPS = [(0, 0, 1), (60, 60, 5), (120, 360, 30), (204, 2880, 360)]


def num(name, unit, lo, hi, res=1, zero=0, doc="", default=None):
    return {
        "name": name,
        "type": "num",
        "unit": unit,
        "min": lo,
        "max": hi,
        "res": res,
        "zero": zero,
        "doc": doc,
        "default": default,
    }


def boolean(name, doc="", default=None):
    return {"name": name, "type": "bool", "doc": doc, "default": default}


def text(name, max_len, doc=""):
    return {"name": name, "type": "text", "max_len": max_len, "doc": doc}


def binary(name, max_len, doc=""):
    return {"name": name, "type": "bytes", "max_len": max_len, "doc": doc}


def pack(name, parts, sign=None, doc="", default=None):
    """Parts: (name, bits, kind, arg): kind "uint" | "enum" (arg: names) | "flags" (arg: names, bit 0 first) |
    "bool" | "steps" (arg: step table, unit minutes). A default only for a one-part pack (a setting)."""
    return {
        "name": name,
        "type": "pack",
        "sign": sign,
        "doc": doc,
        "default": default,
        "parts": [
            {
                "name": p[0],
                "bits": p[1],
                "kind": p[2],
                "arg": p[3] if len(p) > 3 else None,
                "doc": p[4] if len(p) > 4 else "",
            }
            for p in parts
        ],
    }


# A single enum/uint/flags/steps value is a one-part pack.
def enum(name, names, bits, doc="", default=None):
    return pack(name, [(name, bits, "enum", names, doc)], doc=doc, default=default)


def uint(name, bits, doc="", default=None):
    return pack(name, [(name, bits, "uint", None, doc)], doc=doc, default=default)


def flags(name, names, doc=""):
    return pack(name, [(name, len(names), "flags", names, doc)], doc=doc)


def duration(name, doc=""):
    return pack(name, [(name, 8, "steps", DURATION_STEPS, doc)], doc=doc)


def temp(name="temp_c", res=0.1, doc="temperature"):
    return num(name, "°C", -40, 85, res=res, zero=20, doc=doc)


_OPS = {"<": "below", "<=": "at most"}


def rule(left, op, right, offset=0, unless_zero=False, doc=""):
    """A rule between two settings of a role: `left op right + offset`, over the node's settings as a downlink
    would leave them. unless_zero: the rule does not apply while `left` is 0 (0 meaning "off")."""
    if op not in _OPS:
        raise ValueError(f"rule op {op!r}: one of {', '.join(_OPS)}")
    return {"left": left, "op": op, "right": right, "offset": offset, "unless_zero": unless_zero, "doc": doc}


def rule_text(r: dict, why: bool = True) -> str:
    """The rule in words, as every checker (node, CLI, JavaScript codec) says it when a setting breaks it; the
    node's log leaves out the why (bytes of heap)."""
    right = r["right"] + (f" {'+' if r['offset'] > 0 else '-'} {abs(r['offset'])}" if r["offset"] else "")
    text = f"{r['left']} must be {_OPS[r['op']]} {right}"
    if r["unless_zero"]:
        text += " (or 0)"
    return text + (f": {r['doc']}" if r["doc"] and why else "")


def status_fields():
    """Daily status, the same for every role."""
    return [
        num("battery_mv", "mV", 0, 5000, res=10, zero=3600, doc="battery voltage under load"),
        text("fw", 10, doc="firmware version (truncated to 10 bytes)"),
        enum(
            "reset_cause",
            ["unknown", "power_on", "hard", "watchdog", "deepsleep", "soft"],
            4,
            doc="why the node last started (machine.reset_cause())",
        ),
        num("crashes", "", 0, 65535, doc="app exceptions since flashing (saturates)"),
        num("wdt_resets", "", 0, 65535, doc="watchdog resets since flashing (saturates)"),
        num("radio_errors", "", 0, 65535, doc="failed joins and transmissions since flashing (saturates)"),
        num("sensor_errors", "", 0, 65535, doc="failed sensor reads since flashing (saturates)"),
        binary("sensor_serial", 8, doc="main sensor's serial number"),
    ]


def config_common(interval_s):
    """Downlink keys 0..2, the same for every role; role keys follow from 3. interval_s: the role's default."""
    return [
        num(
            "interval_s",
            "s",
            60,
            86400,
            res=60,
            doc="time between periodic uplinks (heartbeats for parking)",
            default=interval_s,
        ),
        enum(
            "command",
            ["none", "status", "reboot", "rejoin"],
            2,
            doc="one-shot action: send a status now, reboot, or join again",
        ),
        boolean("confirmed", doc="send events as confirmed uplinks", default=False),
    ]


# The LoRaWAN link's settings (config.json only), read by the node's MAC for any app on the network.
LINK_SETTINGS = [
    num(
        "dr", "", 0, 5, doc="data rate to join and start the session at (default: joins sweep down from DR5)"
    ),
    boolean("adr", doc="let the network adapt the data rate and power (LinkADR)", default=True),
]


def state(extra_flags=(), parts_before=(), sign=None):
    parts = list(parts_before) + [
        (
            "flags",
            len(COMMON_FLAGS) + len(extra_flags),
            "flags",
            COMMON_FLAGS + list(extra_flags),
            "conditions",
        )
    ]
    return pack("state", parts, sign=sign)


LED = ["off", "green", "orange", "red"]

# THE list of node roles. Each role's "built" says whether its firmware exists (the package firmware/apps/<role>/):
# a role not built yet has its messages designed here, but no command offers it (fleet/roles.py).
ROLES = {
    "classair": {
        "doc": "classroom CO2 indicator: SCD4x CO2/T/RH, a traffic-light LED",
        "built": True,
        "messages": {
            "periodic": {
                "fport": 10,
                "dir": "up",
                "fields": [
                    num("co2_ppm", "ppm", 0, 10000, doc="CO2 concentration (SCD4x resolution 1 ppm)"),
                    temp(),
                    num("rh_pct", "%", 0, 100, res=0.5, zero=50, doc="relative humidity"),
                    state(parts_before=[("led", 2, "enum", LED, "LED colour shown")]),
                ],
            },
            "event": {
                "fport": 11,
                "dir": "up",
                "doc": "the LED changed colour",
                "fields": [
                    state(parts_before=[("led", 2, "enum", LED, "new LED colour")]),
                    num("co2_ppm", "ppm", 0, 10000, doc="CO2 that caused the change"),
                ],
            },
            "status": {"fport": 12, "dir": "up", "fields": status_fields()},
            "config": {
                "fport": 15,
                "dir": "down",
                "fields": config_common(interval_s=900)
                + [
                    num("red_ppm", "ppm", 400, 5000, res=10, doc="LED turns red at or above", default=800),
                    num(
                        "hysteresis_ppm",
                        "ppm",
                        0,
                        1000,
                        res=10,
                        doc="LED leaves a colour this far below its threshold",
                        default=100,
                    ),
                    num(
                        "orange_ppm",
                        "ppm",
                        0,
                        5000,
                        res=10,
                        doc="LED turns orange at or above (0: no orange)",
                        default=0,
                    ),
                    num("active_start_h", "h", 0, 23, doc="active hours start (local time)", default=7),
                    num("active_end_h", "h", 0, 24, doc="active hours end (local time)", default=18),
                    uint("active_days", 7, doc="active weekdays, bit 0 = Monday", default=0x1F),
                    enum(
                        "led_mode", ["traffic", "red_only", "off"], 2, doc="LED behaviour", default="traffic"
                    ),
                    boolean("asc", doc="SCD4x automatic self-calibration on", default=True),
                    num(
                        "frc_ppm",
                        "ppm",
                        400,
                        2000,
                        doc="forced recalibration now, to this reference (one-shot)",
                    ),
                ],
            },
        },
        # Set in config.json only (`citynode provision --set`, `citynode emulate --config`).
        "settings": [
            num(
                "idle_interval_s",
                "s",
                0,
                86400,
                res=60,
                doc="time between measurements outside active hours (0: none, the light stays off)",
                default=3600,
            ),
            num(
                "altitude_m",
                "m",
                0,
                3000,
                doc="altitude for the CO2 sensor's pressure compensation",
                default=0,
            ),
            num("tz_min", "min", -720, 840, res=15, doc="local time minus UTC, in winter", default=60),
            enum(
                "dst",
                ["eu", "none"],
                1,
                doc="summer time rule: EU (last Sundays of March and October)",
                default="eu",
            ),
        ],
        "rules": [
            rule("orange_ppm", "<", "red_ppm", unless_zero=True, doc="orange comes before red"),
            rule(
                "hysteresis_ppm",
                "<",
                "red_ppm",
                offset=-400,
                doc="green must come back above outdoor air (~400 ppm)",
            ),
            rule("active_start_h", "<", "active_end_h", doc="active hours start before they end"),
        ],
    },
    "bin": {
        "doc": "waste bin fill level: ultrasonic distance, temperature (fire), tilt",
        "messages": {
            "periodic": {
                "fport": 20,
                "dir": "up",
                "fields": [
                    num("distance_mm", "mm", 0, 10000, doc="sensor to waste surface"),
                    num("fill_pct", "%", 0, 100, zero=50, doc="fill level from the bin depth"),
                    temp(res=1, doc="temperature in the lid"),
                    state(["tilted", "fire", "full"]),
                ],
            },
            "event": {
                "fport": 21,
                "dir": "up",
                "doc": "an alarm was raised or cleared",
                "fields": [
                    enum(
                        "alarm",
                        ["full", "emptied", "fire", "fire_cleared", "tilted", "upright"],
                        3,
                        doc="what happened",
                    ),
                    num("fill_pct", "%", 0, 100, zero=50, doc="fill level"),
                    temp(res=1),
                    state(["tilted", "fire", "full"]),
                ],
            },
            "status": {"fport": 22, "dir": "up", "fields": status_fields()},
            "config": {
                "fport": 25,
                "dir": "down",
                "fields": config_common(interval_s=3600)
                + [
                    num("full_pct", "%", 50, 100, doc="full alarm at or above", default=80),
                    num(
                        "depth_mm", "mm", 200, 5000, doc="sensor to the bottom of the empty bin", default=1000
                    ),
                    num("fire_c", "°C", 40, 85, doc="fire alarm at or above", default=60),
                    num("tilt_deg", "°", 10, 90, doc="tilt alarm beyond", default=45),
                    num("confirm_n", "", 1, 5, doc="readings that must agree before an alarm", default=2),
                ],
            },
        },
    },
    "parking": {
        "doc": "in-ground parking space sensor: magnetometer, temperature",
        "messages": {
            "periodic": {
                "fport": 30,
                "dir": "up",
                "doc": "heartbeat",
                "fields": [
                    state(parts_before=[("occupied", 1, "bool", None, "a vehicle is on the space")]),
                    duration("in_state_min", doc="time in the current state"),
                    num("changes", "", 0, 65535, doc="state changes since the previous heartbeat"),
                    temp(res=1),
                    num("field_ut", "µT", 0, 1000, doc="magnetic field deviation from the empty baseline"),
                ],
            },
            "event": {
                "fport": 31,
                "dir": "up",
                "doc": "state change (occupied in the sign)",
                "fields": [
                    pack(
                        "change",
                        [("prev_min", 8, "steps", DURATION_STEPS, "how long the previous state lasted")],
                        sign="occupied",
                        doc="a vehicle is on the space (carried in the sign: >= 0 occupied)",
                    ),
                ],
            },
            "status": {"fport": 32, "dir": "up", "fields": status_fields()},
            "config": {
                "fport": 35,
                "dir": "down",
                "fields": config_common(interval_s=3600)
                + [
                    num("threshold_ut", "µT", 1, 200, doc="field deviation that means occupied", default=30),
                    num(
                        "hold_s",
                        "s",
                        1,
                        60,
                        doc="a change must last this long before it is reported",
                        default=10,
                    ),
                    boolean(
                        "calibrate",
                        doc="take the empty-space baseline now (one-shot; the space must be empty)",
                    ),
                ],
            },
        },
    },
    "sonometer": {
        "doc": "noise monitor: LAeq over the period, fast max/min, percentiles, LCeq",
        "messages": {
            "periodic": {
                "fport": 40,
                "dir": "up",
                "fields": [
                    num(
                        "laeq_db",
                        "dB(A)",
                        30,
                        130,
                        res=0.2,
                        zero=80,
                        doc="A-weighted equivalent level over the period",
                    ),
                    num("lafmax_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="A-weighted fast maximum"),
                    num("lafmin_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="A-weighted fast minimum"),
                    num(
                        "l10_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="level exceeded 10 % of the period"
                    ),
                    num(
                        "l50_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="level exceeded 50 % of the period"
                    ),
                    num(
                        "l90_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="level exceeded 90 % of the period"
                    ),
                    num("lceq_db", "dB(C)", 30, 130, res=0.2, zero=80, doc="C-weighted equivalent level"),
                    state(["alarm", "night"]),
                ],
            },
            "event": {
                "fport": 41,
                "dir": "up",
                "doc": "noise alarm raised or cleared",
                "fields": [
                    enum("alarm", ["above", "below"], 1, doc="level went above / back below the threshold"),
                    num("laeq_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="LAeq over the alarm window"),
                    num("lafmax_db", "dB(A)", 30, 130, res=0.2, zero=80, doc="fast maximum in the window"),
                ],
            },
            "status": {"fport": 42, "dir": "up", "fields": status_fields()},
            "config": {
                "fport": 45,
                "dir": "down",
                "fields": config_common(interval_s=900)
                + [
                    num("alarm_day_db", "dB(A)", 40, 130, doc="alarm threshold by day", default=70),
                    num("alarm_night_db", "dB(A)", 40, 130, doc="alarm threshold by night", default=60),
                    num("night_start_h", "h", 0, 23, doc="night starts (local time)", default=22),
                    num("night_end_h", "h", 0, 23, doc="night ends (local time)", default=7),
                    num("alarm_hold_s", "s", 1, 600, doc="level must stay above this long", default=60),
                ],
            },
        },
    },
    "greenhouse": {
        "doc": "greenhouse probe: air T/RH, soil moisture and temperature, light",
        "messages": {
            "periodic": {
                "fport": 50,
                "dir": "up",
                "fields": [
                    temp("air_temp_c", doc="air temperature"),
                    num("air_rh_pct", "%", 0, 100, res=0.5, zero=50, doc="air relative humidity"),
                    num("soil_vwc_pct", "%", 0, 100, res=0.5, zero=30, doc="soil volumetric water content"),
                    temp("soil_temp_c", doc="soil temperature"),
                    num("lux", "lx", 0, 130000, res=2, doc="illuminance"),
                    state(),
                ],
            },
            "event": {
                "fport": 51,
                "dir": "up",
                "doc": "an alarm was raised or cleared",
                "fields": [
                    enum(
                        "alarm",
                        ["frost", "frost_cleared", "heat", "heat_cleared", "dry", "dry_cleared"],
                        3,
                        doc="what happened",
                    ),
                    temp("air_temp_c", doc="air temperature"),
                    num("soil_vwc_pct", "%", 0, 100, res=0.5, zero=30, doc="soil volumetric water content"),
                ],
            },
            "status": {"fport": 52, "dir": "up", "fields": status_fields()},
            "config": {
                "fport": 55,
                "dir": "down",
                "fields": config_common(interval_s=900)
                + [
                    num("frost_c", "°C", -10, 10, res=0.5, doc="frost alarm at or below", default=2),
                    num("heat_c", "°C", 20, 60, res=0.5, doc="heat alarm at or above", default=35),
                    num("dry_vwc_pct", "%", 0, 60, doc="dry-soil alarm at or below", default=20),
                ],
            },
        },
    },
}

# Firmware apps that are not roles: they send no payload of the schema and are never provisioned as a role. Their
# settings (config.json) are declared like a role's, and validated the same way.
TOOL_APPS = {
    "counter": {
        "doc": "counts its wakes, no network: what an unprovisioned node runs",
        "settings": [num("interval_s", "s", 1, 86400, doc="time between wakes", default=900)],
    },
    "lorawan_probe": {
        "doc": "a link test: one small uplink per wake (wake counter, last SNR)",
        "settings": [
            num("interval_s", "s", 1, 86400, doc="time between uplinks", default=900),
            num("fport", "", 1, 223, doc="FPort of the probe's uplinks", default=1),
            boolean("confirmed", doc="send confirmed uplinks", default=False),
        ]
        + LINK_SETTINGS,
    },
}
