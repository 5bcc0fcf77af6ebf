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


def _is_uplink(ev: dict) -> bool:
    # The radio's board events are {"type": "lora_frame", "frame": "uplink", ...}; --json prints {"type": "uplink"}.
    return ev.get("type") == "uplink" or (ev.get("type") == "lora_frame" and ev.get("frame") == "uplink")


def decode_uplink(fport: int, payload_hex: str):
    """The fleet codec's reading of an uplink (role, message and fields by name), or None if it cannot read it."""
    from fleet.payloads import decode_uplink as decode

    try:
        return decode(fport, bytes.fromhex(payload_hex)).as_dict()
    except ValueError:
        return None


class ClassAirView:
    """Collects a ClassAir run from the board's events; optionally prints it live."""

    def __init__(self, board, *, as_json: bool = False, live: bool = True, console=None):
        self.board = board
        self.as_json = as_json
        self.wakes: list[dict] = []  # t, co2, temp_c, rh_pct, led, level
        self.uplinks: list[dict] = []  # t, fport, size, decoded
        self.leds: list[tuple[float, str]] = []
        self.live = live
        self.console = console
        self.progress = None
        self._task = None
        self._pending: dict | None = None
        board.log.listeners.append(self.on_event)

    # ------------------------------------------------------------------ events

    def on_event(self, ev: dict):
        kind = ev["type"]
        if kind == "log":
            m = _WAKE.search(ev["line"])
            if m:
                co2, t, rh, led, level = m.groups()
                w = {
                    "t": ev["t"],
                    "co2": _num(co2),
                    "temp_c": None if t == "None" else int(t) / 100,
                    "rh_pct": None if rh == "None" else int(rh) / 100,
                    "led": led,
                    "level": level,
                    "uplinks": [],
                }
                self.wakes.append(w)
                self._pending = w
                if not self.leds or self.leds[-1][1] != led:
                    self.leds.append((ev["t"], led))
                    if self.as_json:
                        print(json.dumps({"type": "led", "t": ev["t"], "state": led}), flush=True)
        elif _is_uplink(ev) and ev.get("payload") and ev.get("mic_ok", True):
            if "decoded" not in ev:
                ev["decoded"] = decode_uplink(ev.get("fport"), ev["payload"])  # shared with the --json line
            up = {
                "t": ev["t"],
                "fport": ev.get("fport"),
                "size": len(ev["payload"]) // 2,
                "decoded": ev["decoded"],
            }
            self.uplinks.append(up)
            if self._pending is not None:
                self._pending["uplinks"].append(up)
        elif kind in ("sleep", "lightsleep", "reset", "watchdog", "halt", "powercut"):
            if self._pending is not None and not self.as_json and self.live:
                self._row(self._pending)
            self._pending = None
            if self.progress is not None:
                self.progress.update(self._task, completed=(self.board.t_us - self.board.start_us) / 1e6)

    def decorate(self, ev: dict) -> dict:
        """A JSON line for an uplink, with its decoded payload under `decoded`."""
        if _is_uplink(ev) and ev.get("payload") and "decoded" not in ev:
            ev = dict(ev, decoded=decode_uplink(ev.get("fport"), ev["payload"]))
        return ev

    # ------------------------------------------------------------------ live table

    def _row(self, w: dict):
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

    def plot(
        self, path, *, red_ppm: int = 800, hysteresis_ppm: int = 100, orange_ppm: int = 0, title: str = ""
    ):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt

        b = self.board
        t0, t1 = b.start_us / 1e6, b.t_us / 1e6
        n = max(2, int((t1 - t0) // 120))
        ts = [t0 + (t1 - t0) * i / (n - 1) for i in range(n)]

        def dt(t):
            return datetime.fromtimestamp(t, PARIS)

        fig, (ax, band) = plt.subplots(
            2, 1, figsize=(12, 5.2), sharex=True, gridspec_kw={"height_ratios": [12, 1], "hspace": 0.05}
        )
        try:
            true = [b.world.value("co2_ppm", int(t * 1e6)) for t in ts]
            ax.plot([dt(t) for t in ts], true, color="#555555", lw=1.2, label="CO2 in the room (world)")
        except KeyError:
            pass
        meas = [w for w in self.wakes if w["co2"] is not None]
        ax.plot(
            [dt(w["t"]) for w in meas],
            [w["co2"] for w in meas],
            "o",
            ms=3.5,
            color="#1f77b4",
            label=f"measured by the node ({len(meas)})",
        )
        ax.axhline(red_ppm, color=LED_COLOURS["red"], lw=1.2, ls="--", label=f"red from {red_ppm} ppm")
        ax.axhline(
            red_ppm - hysteresis_ppm,
            color=LED_COLOURS["green"],
            lw=1.0,
            ls=":",
            label=f"green again below {red_ppm - hysteresis_ppm} ppm",
        )
        if orange_ppm:
            ax.axhline(
                orange_ppm,
                color=LED_COLOURS["orange"],
                lw=1.0,
                ls="--",
                label=f"orange from {orange_ppm} ppm",
            )
        ups = self.uplinks or []
        if ups:
            top = max([w["co2"] for w in meas] + [red_ppm]) * 1.04

            def kind(u):
                return (u["decoded"] or {}).get("message") or _KINDS.get(u["fport"], "other")

            groups = {
                "periodic": ("v", 4, "#444444", "periodic uplinks"),
                "event": ("v", 7, "#111111", "event uplinks (light changed)"),
                "status": ("s", 5, "#1f77b4", "status uplinks"),
                "other": ("x", 5, "#999999", "other uplinks"),
            }
            for k, (marker, ms, colour, label) in groups.items():
                sel = [u for u in ups if kind(u) == k]
                if not sel:
                    continue
                if k == "event":
                    for u in sel:
                        led = (u["decoded"] or {}).get("led")
                        ax.plot([dt(u["t"])], [top], marker, ms=ms, color=LED_COLOURS.get(led, colour))
                    ax.plot([], [], marker, ms=ms, color=colour, label=f"{label} ({len(sel)})")
                else:
                    ax.plot(
                        [dt(u["t"]) for u in sel],
                        [top] * len(sel),
                        marker,
                        ms=ms,
                        color=colour,
                        label=f"{label} ({len(sel)})",
                    )
        ax.set_ylabel("CO2 (ppm)")
        ax.set_title(title or "ClassAir")
        ax.grid(alpha=0.3)
        from matplotlib.patches import Patch

        handles, _ = ax.get_legend_handles_labels()
        shown = [st for st in LED_COLOURS if any(st == s_ for _, s_ in self.leds)]
        handles += [Patch(color=LED_COLOURS[st], label=f"LED {st}") for st in shown]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        # The light, as the class saw it.
        edges = [*self.leds, (t1, None)]
        for (a, state), (b_t, _) in zip(edges, edges[1:], strict=False):
            band.axvspan(dt(a), dt(b_t), color=LED_COLOURS.get(state, "#d9d9d9"), lw=0)
        band.set_yticks([])
        band.set_ylabel("LED", rotation=0, ha="right", va="center")
        band.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=PARIS))
        band.set_xlim(dt(t0), dt(t1))
        fig.autofmt_xdate()
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path
