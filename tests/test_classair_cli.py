"""`citynode emulate --app classair`: its world by default, the table, --json with LED lines, --plot, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from citynode.commands.emulate import cli
from click.testing import CliRunner


def _wakes_and_lights(args):
    """(minute, reading) of each wake and (minute, colour) of each light change in `emulate --json`: what the
    world decides. Radio channels and join timing are left out: the node draws them at random."""
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = []
    for ln in r.output.splitlines():
        ev = json.loads(ln) if ln.startswith("{") else {}
        if ev.get("type") == "led":
            out.append((ev["t"] // 60, ev["state"]))
        elif ev.get("type") == "log" and "classair: co2=" in ev["line"]:
            out.append((ev["t"] // 60, ev["line"].split("] ", 1)[1]))
    return out


def test_classair_runs_its_world_by_default():
    # hil/worlds/classair.py: a school day from local midnight in Paris.
    default = _wakes_and_lights(["--app", "classair", "--hours", "12"])
    explicit = _wakes_and_lights(
        [
            "--app",
            "classair",
            "--hours",
            "12",
            "--scenario",
            "school-day",
            "--start",
            "2026-09-07T00:00+02:00",
        ]
    )
    assert default == explicit
    assert default[0][0] * 60 == datetime(2026, 9, 7, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    # The still world's 450 ppm would never turn the light red.
    assert "red" in [what for _, what in default]


def test_json_lines_have_led_changes_and_a_summary():
    r = CliRunner().invoke(cli, ["--app", "classair", "--scenario", "stuffy-room", "--hours", "12", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(ln) for ln in r.output.splitlines() if ln.startswith("{")]
    leds = [ln for ln in lines if ln["type"] == "led"]
    # Lit at power-on (the time is not known yet), off for the night once the network has told the time,
    # green from 7:00, red once the lesson has filled the room.
    assert [ln["state"] for ln in leds] == ["green", "off", "green", "red"]
    assert all(set(ln) == {"type", "t", "state"} for ln in leds)
    ups = [ln for ln in lines if ln["type"] == "uplink"]
    assert ups and all(ln["decoded"]["role"] == "classair" for ln in ups)
    assert {ln["decoded"]["message"] for ln in ups} == {"periodic", "event", "status"}
    assert lines[-1]["type"] == "summary" and lines[-1]["wakes"] == len(
        [ln for ln in lines if ln["type"] == "sleep"]
    )


def test_table_and_plot(tmp_path):
    png = tmp_path / "day.png"
    r = CliRunner().invoke(cli, ["--app", "classair", "--hours", "12", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert "local time" in r.output and "Mon 09:00" in r.output and "red" in r.output
    assert f"plot written to {png}" in r.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_plot_needs_a_role_that_draws():
    r = subprocess.run(
        [sys.executable, "-m", "citynode", "emulate", "--app", "counter", "--hours", "1", "--plot", "x.png"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--plot" in r.stderr and "classair" in r.stderr


@pytest.mark.parametrize("app", ["classair", "counter"])
def test_unknown_scenario_is_one_clear_line(app):
    r = subprocess.run(
        [sys.executable, "-m", "citynode", "emulate", "--app", app, "--scenario", "nope"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "unknown scenario 'nope'" in r.stderr and "school-day" in r.stderr
