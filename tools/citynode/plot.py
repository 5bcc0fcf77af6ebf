"""The one way `citynode emulate --plot` draws a run: a role's view says what to draw (panels of series over
virtual time, bands of states), this module draws it with matplotlib (Agg, no display) and writes the PNG.

A `Plot` is a stack of panels sharing the time axis, top to bottom. A `Panel` holds `Series` (a line for what the
world holds, marks for what the node measured or sent) and `Level`s (thresholds), drawn and listed in the legend
in the order given. A `Band` is a thin strip of coloured spans, one per state (the colour of a light); its states
join the legend of the panel above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo

DPI = 110
INCHES_PER_HEIGHT = 0.4  # a panel of height 12 over a band of height 1: 5.2 inches


@dataclass
class Series:
    """Values over time (unix seconds): a line, or marks when `marker` is set."""

    label: str | None  # None: not in the legend
    times: Sequence[float]
    values: Sequence[float]
    colour: str
    marker: str | None = None
    size: float = 4.0  # marker size, points
    width: float = 1.2  # line width, points
    colours: Sequence[str] | None = None  # one per mark (the legend shows `colour`)


@dataclass
class Level:
    """A horizontal line across a panel: a threshold."""

    value: float
    label: str
    colour: str
    style: str = "--"
    width: float = 1.0


@dataclass
class Panel:
    ylabel: str
    items: list[Series | Level]
    height: float = 12.0  # relative to the other panels


@dataclass
class Band:
    """A state over time: `changes` are (time, state), each state lasting until the next change or the end."""

    label: str
    changes: list[tuple[float, str]]
    colours: dict[str, str]  # state -> colour; the legend lists the states shown, in this order
    legend: str = "{state}"  # a state's legend entry
    other: str = "#d9d9d9"  # colour of a state not in `colours`
    height: float = 1.0


@dataclass
class Plot:
    title: str
    start: float  # unix seconds
    end: float
    panels: list[Panel | Band] = field(default_factory=list)
    tz: tzinfo = timezone.utc  # time axis labels read in this zone
    width: float = 12.0  # inches


def sample_times(start: float, end: float, step_s: float = 120.0) -> list[float]:
    """Times from start to end, both included, about step_s apart: where to sample a world for its line."""
    n = max(2, int((end - start) // step_s))
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def render(plot: Plot, dpi: int = DPI):
    """The matplotlib Figure of `plot` (on an Agg canvas at the PNG's resolution), for `write` or for a test to
    look into."""
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    def dt(t):
        return datetime.fromtimestamp(t, plot.tz)

    if not plot.panels:
        raise ValueError("a plot needs at least one panel")
    heights = [p.height for p in plot.panels]
    fig = Figure(figsize=(plot.width, INCHES_PER_HEIGHT * sum(heights)), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        len(plot.panels),
        1,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": heights, "hspace": 0.05},
    )[:, 0]
    states: dict[int | None, list] = {}  # data panel index -> legend entries of the bands below it
    above = None
    for i, (ax, p) in enumerate(zip(axes, plot.panels, strict=True)):
        if isinstance(p, Band):
            _band(ax, p, plot.end, dt)
            shown = [st for st in p.colours if any(st == s for _, s in p.changes)]
            states.setdefault(above, []).extend(
                Patch(color=p.colours[st], label=p.legend.format(state=st)) for st in shown
            )
        else:
            above = i
            _panel(ax, p, dt)
    data = [i for i, p in enumerate(plot.panels) if isinstance(p, Panel)]
    if None in states and data:
        states[data[0]] = states.pop(None) + states.get(data[0], [])  # bands on top: the first panel's legend
    for i in data:
        handles = axes[i].get_legend_handles_labels()[0] + states.get(i, [])
        if handles:
            axes[i].legend(
                handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False
            )
    axes[0].set_title(plot.title)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M", tz=plot.tz))
    axes[-1].set_xlim(dt(plot.start), dt(plot.end))
    fig.autofmt_xdate()
    return fig


def _panel(ax, p: Panel, dt):
    for item in p.items:
        if isinstance(item, Level):
            ax.axhline(item.value, color=item.colour, lw=item.width, ls=item.style, label=item.label)
        elif item.colours is not None:
            # Marks coloured one by one (an event in the colour it turned the light); one legend entry.
            for t, v, c in zip(item.times, item.values, item.colours, strict=True):
                ax.plot([dt(t)], [v], item.marker or "o", ms=item.size, color=c)
            ax.plot([], [], item.marker or "o", ms=item.size, color=item.colour, label=item.label)
        elif item.marker:
            ax.plot(
                [dt(t) for t in item.times],
                list(item.values),
                item.marker,
                ms=item.size,
                color=item.colour,
                label=item.label,
            )
        else:
            ax.plot(
                [dt(t) for t in item.times],
                list(item.values),
                color=item.colour,
                lw=item.width,
                label=item.label,
            )
    ax.set_ylabel(p.ylabel)
    ax.grid(alpha=0.3)


def _band(ax, b: Band, end: float, dt):
    edges = [*b.changes, (end, None)]
    for (t0, state), (t1, _) in zip(edges, edges[1:], strict=False):
        ax.axvspan(dt(t0), dt(t1), color=b.colours.get(state, b.other), lw=0)
    ax.set_yticks([])
    ax.set_ylabel(b.label, rotation=0, ha="right", va="center")


def write(fig, path):
    """The figure as a PNG at `path`, cropped to what is drawn (the legend sits right of the panels)."""
    fig.savefig(path, dpi=fig.dpi, bbox_inches="tight")
    return path


def save(plot: Plot, path, dpi: int = DPI):
    return write(render(plot, dpi), path)
