"""What `citynode emulate --app classair` shows: a live table of decoded uplinks with a progress bar on virtual
time, JSON lines with the decoded payload and the light's changes, and a PNG of the day (`--plot`).

Sources, all from the emulated board's event log: the app's one log line per wake (`classair: co2=... led=...`,
giving what the LED shows), the uplinks the network server received (decoded with the fleet codec), and the
world's true CO2 for the plot.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from citynode.plot import Band, Level, Panel, Plot, Series, sample_times
from citynode.views import RoleView

PARIS = ZoneInfo("Europe/Paris")
_WAKE = re.compile(r"classair: co2=(\S+) t=(\S+) rh=(\S+) led=(\w+) level=(\w+)")
LED_COLOURS = {
    "green": "#2ca02c",
    "orange": "#ff9f1c",
    "red": "#d62728",
    "off": "#d9d9d9",
    "fault": "#7f3fbf",
}


_KINDS = {10: "periodic", 11: "event", 12: "status"}
# How each kind of uplink is marked above the CO2: marker, size, colour, legend.
UPLINK_MARKS = {
    "periodic": ("v", 4, "#444444", "periodic uplinks"),
    "event": ("v", 7, "#111111", "event uplinks (light changed)"),
    "status": ("s", 5, "#1f77b4", "status uplinks"),
    "other": ("x", 5, "#999999", "other uplinks"),
}


def _fields(decoded):
    """The named values in a decoded uplink, whether the codec returns them flat or under a key."""
    if not isinstance(decoded, dict):
        return None
    if "co2_ppm" in decoded or "led" in decoded:
        return decoded
    for k in ("fields", "data", "values", "decoded"):
        if isinstance(decoded.get(k), dict):
            return decoded[k]
    return decoded


def _num(s):
    return None if s == "None" else int(s)


class ClassAirView(RoleView):
    """Collects a ClassAir run from the board's events; optionally prints it live."""

    def __init__(self, board, *, as_json: bool = False, live: bool = True, console=None):
        super().__init__(board, as_json=as_json, live=live, console=console)
        self.leds: list[tuple[float, str]] = []  # (t, what the LED shows) at each change

    def wake_from_log(self, ev: dict) -> dict | None:
        m = _WAKE.search(ev["line"])
        if not m:
            return None
        co2, t, rh, led, level = m.groups()
        if not self.leds or self.leds[-1][1] != led:
            self.leds.append((ev["t"], led))
            if self.as_json:
                print(json.dumps({"type": "led", "t": ev["t"], "state": led}), flush=True)
        return {
            "t": ev["t"],
            "co2": _num(co2),
            "temp_c": None if t == "None" else int(t) / 100,
            "rh_pct": None if rh == "None" else int(rh) / 100,
            "led": led,
            "level": level,
        }

    # ------------------------------------------------------------------ live table

    def row(self, w: dict):
        """One line per wake: the values as the network decoded them (as the node measured them if no uplink
        was decoded), the light, and what went on the air."""
        vals = {"co2": w["co2"], "temp_c": w["temp_c"], "rh_pct": w["rh_pct"]}
        for up in w["uplinks"]:
            f = _fields(up["decoded"])
            if f and "co2_ppm" in f:
                vals = {
                    "co2": f.get("co2_ppm"),
                    "temp_c": f.get("temp_c", vals["temp_c"]),
                    "rh_pct": f.get("rh_pct", vals["rh_pct"]),
                }
        local = datetime.fromtimestamp(w["t"], PARIS).strftime("%a %H:%M")
        co2 = "   --" if vals["co2"] is None else f"{vals['co2']:5d}"
        temp = "   --" if vals["temp_c"] is None else f"{vals['temp_c']:5.1f}"
        rh = " --" if vals["rh_pct"] is None else f"{vals['rh_pct']:3.0f}"
        colour = {"green": "green", "red": "red", "orange": "dark_orange", "fault": "magenta"}.get(
            w["led"], "dim"
        )
        ups = ", ".join(f"{_KINDS.get(u['fport'], u['fport'])} {u['size']} B" for u in w["uplinks"]) or "-"
        text = f"{local}  {co2} ppm  {temp} C  {rh} %  [{colour}]{w['led']:>6}[/]  {ups}"
        if any(u["decoded"] is None for u in w["uplinks"]):
            text += " [dim](not decoded)[/]"
        if self.console is not None:
            self.console.print(text, highlight=False)

    def header(self):
        if self.console is not None and not self.as_json:
            self.console.print("[bold]local time    CO2        T        RH    LED     uplinks[/]")

    # ------------------------------------------------------------------ plot

    def plot(self, scenario: str) -> Plot:
        """The day as `--plot` draws it: the room's CO2 and the node's readings against the light's thresholds
        (from the node's settings), the uplinks above them, and the light below."""
        b = self.board
        cfg = b.config()
        red, hysteresis, orange = (
            cfg.get("red_ppm", 800),
            cfg.get("hysteresis_ppm", 100),
            cfg.get("orange_ppm", 0),
        )
        t0, t1 = b.start_us / 1e6, b.t_us / 1e6
        items: list = []
        ts = sample_times(t0, t1)
        try:
            true = [b.world.value("co2_ppm", int(t * 1e6)) for t in ts]
            items.append(Series("CO2 in the room (world)", ts, true, "#555555"))
        except KeyError:
            pass  # the world does not model CO2: the readings alone
        meas = [w for w in self.wakes if w["co2"] is not None]
        items.append(
            Series(
                f"measured by the node ({len(meas)})",
                [w["t"] for w in meas],
                [w["co2"] for w in meas],
                "#1f77b4",
                marker="o",
                size=3.5,
            )
        )
        items.append(Level(red, f"red from {red} ppm", LED_COLOURS["red"], width=1.2))
        items.append(
            Level(
                red - hysteresis, f"green again below {red - hysteresis} ppm", LED_COLOURS["green"], style=":"
            )
        )
        if orange:
            items.append(Level(orange, f"orange from {orange} ppm", LED_COLOURS["orange"]))
        top = max([w["co2"] for w in meas] + [red]) * 1.04  # the uplinks' row, above every reading

        def kind(u):
            return (u["decoded"] or {}).get("message") or _KINDS.get(u["fport"], "other")

        for k, (marker, size, colour, label) in UPLINK_MARKS.items():
            sel = [u for u in self.uplinks if kind(u) == k]
            if not sel:
                continue
            # An event uplink shows the colour the light turned.
            colours = (
                [LED_COLOURS.get((u["decoded"] or {}).get("led"), colour) for u in sel]
                if k == "event"
                else None
            )
            items.append(
                Series(
                    f"{label} ({len(sel)})",
                    [u["t"] for u in sel],
                    [top] * len(sel),
                    colour,
                    marker=marker,
                    size=size,
                    colours=colours,
                )
            )
        return Plot(
            title=f"ClassAir, scenario {scenario}",
            start=t0,
            end=t1,
            tz=PARIS,
            panels=[
                Panel("CO2 (ppm)", items),
                # The light, as the class saw it.
                Band("LED", self.leds, LED_COLOURS, legend="LED {state}"),
            ],
        )


View = ClassAirView
