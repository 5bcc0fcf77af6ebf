"""`citynode decode` and `citynode encode-downlink`, run as the user runs them (the installed console script)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from fleet import payloads as P


def citynode(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("citynode")
    assert exe, "the citynode console script is not on PATH (run the tests with .venv/bin on PATH)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30)


def test_decode_names_units_and_flags():
    data = P.encode_uplink(
        "classair", "periodic", {"co2_ppm": 1180, "temp_c": 23.5, "rh_pct": 41, "led": "red", "flags": 0x05}
    )
    r = citynode("decode", "--fport", "10", data.hex())
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"classair periodic (uplink, FPort 10, {len(data)} bytes, schema v1)"
    assert any(ln.split()[:3] == ["co2_ppm", "1180", "ppm"] for ln in lines)
    assert any(ln.split()[:3] == ["temp_c", "23.5", "°C"] for ln in lines)
    assert any(ln.split()[:3] == ["flags", "sensor_fault,", "low_battery"] for ln in lines)


def test_a_role_not_built_yet_is_not_decoded():
    data = P.encode_uplink("bin", "periodic", {"distance_mm": 180, "fill_pct": 96, "temp_c": 21, "flags": 0})
    r = citynode("decode", "--fport", "20", data.hex())
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "bin: that role is not built yet (roles: classair)" in r.stderr


def test_decode_json_and_spaced_hex():
    r = citynode("decode", "-p", "10", "19 04 67", "0e2801", "--json", "--app", "classair")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "role": "classair",
        "message": "periodic",
        "co2_ppm": 1127,
        "temp_c": 21.4,
        "rh_pct": 45.5,
        "led": "green",
        "flags": [],
        "fport": 10,
        "warnings": [],
    }


def test_decode_base64():
    r = citynode("decode", "-p", "10", "--base64", "GQRnDigB", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["co2_ppm"] == 1127


@pytest.mark.parametrize(
    "args,message",
    [
        (["decode", "-p", "10", "xyz"], "payload is not hex"),
        (["decode", "-p", "10", "19"], "CBOR data truncated"),
        (["decode", "-p", "10", "--base64", "GQ*"], "payload is not base64"),
        (["decode", "-p", "77", "00"], "FPort 77 carries no citynode message"),
        (["decode", "-p", "10", "00", "--app", "bin"], "--app bin: that role is not built yet"),
        (["encode-downlink", "--app", "classair", "red_ppm=9000"], "red_ppm: 9000 outside 400..5000 ppm"),
        (["encode-downlink", "--app", "classair", "red_ppm"], "expected key=value"),
        (["encode-downlink", "--app", "classair", "red_ppm=lots"], "red_ppm: expected a number"),
        (["encode-downlink", "--app", "classair", "asc=maybe"], "asc: expected on/off"),
        (["encode-downlink", "--app", "classair", "led_mode=disco"], "led_mode: 'disco' is not one of"),
        (["encode-downlink", "--app", "classair", "volume=3"], "classair has no setting 'volume'"),
        (["encode-downlink", "--app", "toaster", "a=1"], "--app 'toaster' is not a role (roles: classair)"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args, message):
    r = citynode(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines() == [
        f"citynode: error: {r.stderr.strip()[len('citynode: error: ') :]}"
    ]
    assert message in r.stderr and "Traceback" not in r.stderr


def test_encode_downlink_then_decode_it():
    r = citynode(
        "encode-downlink",
        "--app",
        "classair",
        "red_ppm=800",
        "hysteresis_ppm=50",
        "asc=off",
        "active_days=0b0011111",
        "led_mode=red_only",
        "interval_s=600",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fport"] == 15 and out["bytes"] == len(bytes.fromhex(out["hex"])) <= 36
    assert P.decode_downlink("classair", 15, bytes.fromhex(out["hex"])) == {
        "interval_s": 600,
        "red_ppm": 800,
        "hysteresis_ppm": 50,
        "active_days": 31,
        "led_mode": "red_only",
        "asc": False,
    }
    r = citynode("decode", "-p", "15", out["hex"])
    assert r.returncode == 0 and "config (downlink, FPort 15" in r.stdout and "red_only" in r.stdout
