"""`citynode emulate --app classair`: the table, --json with LED lines, --plot, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

from citynode.commands.emulate import cli
from click.testing import CliRunner


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


def test_plot_needs_classair():
    r = subprocess.run(
        [sys.executable, "-m", "citynode", "emulate", "--app", "counter", "--hours", "1", "--plot", "x.png"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "--plot" in r.stderr and "Traceback" not in r.stderr


def test_unknown_scenario_is_one_clear_line():
    r = subprocess.run(
        [sys.executable, "-m", "citynode", "emulate", "--app", "classair", "--scenario", "nope"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "unknown scenario" in r.stderr and "Traceback" not in r.stderr
