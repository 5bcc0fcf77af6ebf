"""What `citynode emulate` shows of a role's run: one module per role, `citynode/views/<role>.py`.

Such a module defines `View`, a `RoleView` subclass: it reads the app's own log line of each wake
(`wake_from_log`), prints one table row per wake (`header`, `row`), and, if it defines `plot(scenario)`, returns
the `citynode.plot.Plot` that `--plot` draws (the role's measured and true values, states, uplinks). An app
without a module here shows the board's log and radio frames as they come, and has nothing to plot.
"""

from __future__ import annotations

import importlib
import pkgutil


def view_class(role: str):
    """The role's `View` class, or None if the role has no view module."""
    # Only a plain name can be a role: `--app ../x` or `a.b` must not reach the import system.
    if not role or not role.isidentifier():
        return None
    name = f"{__name__}.{role}"
    try:
        return importlib.import_module(name).View
    except ModuleNotFoundError as e:
        if e.name != name:
            raise  # the module exists but something it imports does not: not a missing view
        return None


def plotting_roles() -> list[str]:
    """Roles whose view draws a plot."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return [r for r in names if hasattr(view_class(r), "plot")]


def is_uplink(ev: dict) -> bool:
    # The radio's board events are {"type": "lora_frame", "frame": "uplink", ...}; --json prints {"type": "uplink"}.
    return ev.get("type") == "uplink" or (ev.get("type") == "lora_frame" and ev.get("frame") == "uplink")


def decode_uplink(fport: int, payload_hex: str):
    """The fleet codec's reading of an uplink (role, message and fields by name), or None if it cannot read it."""
    from fleet.payloads import decode_uplink as decode

    try:
        return decode(fport, bytes.fromhex(payload_hex)).as_dict()
    except ValueError:
        return None


WAKE_ENDS = ("sleep", "lightsleep", "reset", "watchdog", "halt", "powercut")


class RoleView:
    """What every role's view does with the board's events: the wakes the app logged, the uplinks the network
    server received (decoded), one table row per wake once it has ended, progress on virtual time."""

    def __init__(self, board, *, as_json: bool = False, live: bool = True, console=None):
        self.board = board
        self.as_json = as_json
        self.live = live
        self.console = console
        self.wakes: list[dict] = []  # what wake_from_log returned, each with the wake's "uplinks"
        self.uplinks: list[dict] = []  # t, fport, size, decoded
        self.progress = None  # a rich Progress and its task, set by `citynode emulate` while it runs
        self._task = None
        self._pending: dict | None = None  # the wake going on, shown when it ends
        board.log.listeners.append(self.on_event)

    # ------------------------------------------------------------------ for a role to define

    def wake_from_log(self, ev: dict) -> dict | None:
        """The wake an app's log line reports (a dict with at least "t"), or None for other lines."""
        return None

    def header(self):
        """The table's heading, printed before the run."""

    def row(self, wake: dict):
        """The table's line for a wake that has ended."""

    # ------------------------------------------------------------------ events

    def on_event(self, ev: dict):
        kind = ev["type"]
        if kind == "log":
            w = self.wake_from_log(ev)
            if w is not None:
                w.setdefault("uplinks", [])
                self.wakes.append(w)
                self._pending = w
        elif is_uplink(ev) and ev.get("payload") and ev.get("mic_ok", True):
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
        elif kind in WAKE_ENDS:
            if self._pending is not None and not self.as_json and self.live:
                self.row(self._pending)
            self._pending = None
            if self.progress is not None:
                self.progress.update(self._task, completed=(self.board.t_us - self.board.start_us) / 1e6)

    def decorate(self, ev: dict) -> dict:
        """A JSON line for an uplink, with its decoded payload under `decoded`."""
        if is_uplink(ev) and ev.get("payload") and "decoded" not in ev:
            ev = dict(ev, decoded=decode_uplink(ev.get("fport"), ev["payload"]))
        return ev
