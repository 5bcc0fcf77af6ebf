"""Payload sizes: ours (CBOR, this schema) against CayenneLPP, compact JSON and the best vendor format we found.

Every message gets one representative reading (EXAMPLES). Vendor figures are counted from the vendors' public
codecs (../shared/reference/devices.md, application payload only). CayenneLPP is counted from its spec: each value
costs a channel byte, a type byte and the type's value bytes (temperature 2, humidity 1, luminosity 2, analog 2,
digital 1, extended: concentration 2, percentage 1, distance 4, voltage 2); it has no type for text, bytes or dB
(analog, 0.01 units, cannot hold 130 dB with 0.1 dB: counted as analog anyway).
"""

from __future__ import annotations

import json

from fleet import payloads as P

EXAMPLES: dict[tuple[str, str], dict] = {
    ("classair", "periodic"): {"co2_ppm": 1127, "temp_c": 21.4, "rh_pct": 45.5, "led": "green", "flags": 0},
    ("classair", "event"): {"led": "red", "flags": 0, "co2_ppm": 1204},
    ("classair", "config"): {
        "interval_s": 900,
        "red_ppm": 800,
        "hysteresis_ppm": 50,
        "orange_ppm": 600,
        "active_start_h": 8,
        "active_end_h": 18,
        "active_days": 0x1F,
        "led_mode": "traffic",
    },
    ("bin", "periodic"): {"distance_mm": 2116, "fill_pct": 63, "temp_c": 26, "flags": 0},
    ("bin", "event"): {"alarm": "full", "fill_pct": 86, "temp_c": 24, "flags": 0x20},
    ("bin", "config"): {"interval_s": 3600, "full_pct": 80, "depth_mm": 1100, "fire_c": 60},
    ("parking", "periodic"): {
        "occupied": True,
        "flags": 0,
        "in_state_min": 74,
        "changes": 12,
        "temp_c": 14,
        "field_ut": 35,
    },
    ("parking", "event"): {"occupied": True, "prev_min": 74},
    ("parking", "config"): {"interval_s": 86400, "hold_s": 5, "calibrate": True},
    ("sonometer", "periodic"): {
        "laeq_db": 62.4,
        "lafmax_db": 81.2,
        "lafmin_db": 48.6,
        "l10_db": 66.0,
        "l50_db": 58.2,
        "l90_db": 51.0,
        "lceq_db": 71.8,
        "flags": 0,
    },
    ("sonometer", "event"): {"alarm": "above", "laeq_db": 74.6, "lafmax_db": 92.4},
    ("sonometer", "config"): {
        "interval_s": 600,
        "alarm_day_db": 70,
        "alarm_night_db": 60,
        "night_start_h": 22,
        "night_end_h": 7,
    },
    ("greenhouse", "periodic"): {
        "air_temp_c": 24.3,
        "air_rh_pct": 68.5,
        "soil_vwc_pct": 31.5,
        "soil_temp_c": 18.2,
        "lux": 23450,
        "flags": 0,
    },
    ("greenhouse", "event"): {"alarm": "frost", "air_temp_c": 1.4, "soil_vwc_pct": 28.0},
    ("greenhouse", "config"): {"interval_s": 900, "frost_c": 2, "heat_c": 35, "dry_vwc_pct": 20},
}
STATUS_EXAMPLE = {
    "battery_mv": 3610,
    "fw": "0.1.0-dev",
    "reset_cause": "deepsleep",
    "crashes": 0,
    "wdt_resets": 0,
    "radio_errors": 3,
    "sensor_errors": 1,
    "sensor_serial": bytes.fromhex("a1b2c3d4e5f6"),
}
for _role in P.ROLES:
    EXAMPLES[(_role, "status")] = STATUS_EXAMPLE

# Best vendor frame for the same message (devices.md): (device, bytes, what it carries).
VENDOR: dict[tuple[str, str], tuple[str, int, str]] = {
    ("classair", "periodic"): ("Nexelec Carbon", 7, "bit-packed; CO2 in 20 ppm steps, T 0.2 C, RH 0.5 %"),
    ("classair", "event"): ("Nexelec Carbon CO2 alert", 3, "thresholds crossed"),
    ("bin", "periodic"): ("Milesight EM310-UDL", 10, "battery, distance, tilt"),
    ("bin", "event"): ("Milesight EM400-UDL", 5, "one alarm"),
    ("parking", "periodic"): ("Nwave NPS heartbeat", 3, "state, health, battery, temperature"),
    ("parking", "event"): ("Nwave NPS", 1, "state + compressed previous duration"),
    ("parking", "status"): ("Bosch TPS110 startup", 17, "debug codes, firmware, reset cause"),
    ("sonometer", "periodic"): ("Milesight WS302", 12, "battery, weighting, L, Leq, Lmax (3 levels)"),
    ("greenhouse", "periodic"): ("Milesight EM500-SMTC", 14, "battery, soil T, VWC, EC (no air, no light)"),
}

_LPP_BY_UNIT = {"°C": 2, "ppm": 2, "lx": 2, "mm": 4, "mV": 2, "%": 1}


def lpp_size(msg: P.Message) -> int | None:
    """CayenneLPP bytes for the same fields, or None if LPP cannot carry them (text, bytes)."""
    n = 0
    for f in msg.fields:
        if f["type"] in ("text", "bytes"):
            return None
        if f["type"] == "num":
            n += 2 + _LPP_BY_UNIT.get(f["unit"], 2)
        elif f["type"] == "bool":
            n += 3
        else:
            n += 3 * (len(f["parts"]) + (1 if f.get("sign") else 0))
    return n


def encoded(role: str, name: str) -> bytes:
    msg = P.message(role, name)
    values = EXAMPLES[(role, name)]
    if msg.direction == "down":
        return P.encode_downlink(role, values)[1]
    return P.encode_uplink(role, name, values)


def rows() -> list[dict]:
    out = []
    for role in P.ROLES:
        for name, msg in P.MESSAGES[role].items():
            data = encoded(role, name)
            decoded = P.decode(msg.fport, data).data
            vendor = VENDOR.get((role, name))
            out.append(
                {
                    "role": role,
                    "message": name,
                    "fport": msg.fport,
                    "cbor": len(data),
                    "worst": P.worst_case_size(msg),
                    "lpp": lpp_size(msg),
                    "json": len(json.dumps(decoded, separators=(",", ":"), ensure_ascii=False).encode()),
                    "vendor": vendor,
                    "hex": data.hex(),
                }
            )
    return out


def markdown_table() -> str:
    lines = [
        "| message | FPort | ours | worst case | CayenneLPP | JSON | best vendor | example (hex) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows():
        v = r["vendor"]
        vendor = f"{v[1]} B ({v[0]}: {v[2]})" if v else "n/f"
        lpp = f"{r['lpp']} B" if r["lpp"] is not None else "n/a"
        lines.append(
            f"| {r['role']} {r['message']} | {r['fport']} | **{r['cbor']} B** | {r['worst']} B | {lpp} | "
            f"{r['json']} B | {vendor} | `{r['hex']}` |"
        )
    return "\n".join(lines) + "\n"
