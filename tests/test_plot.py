"""`citynode emulate --plot`: the generic plot draws the panels a role supplies; ClassAir supplies its day."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from citynode import plot, views
from citynode.plot import Band, Level, Panel, Plot, Series
from citynode.views.classair import LED_COLOURS, ClassAirView
from matplotlib.colors import to_hex
from PIL import Image

from hil.network import attach_network

T0 = datetime(2026, 9, 7, tzinfo=timezone.utc).timestamp()
START = "2026-09-07T00:00:00+02:00"


def _lines(ax) -> dict:
    """Legend label -> the Line2D drawn with it."""
    return {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}


def _spans(ax) -> list[str]:
    return [to_hex(p.get_facecolor()) for p in ax.patches]


def test_panels_series_levels_and_bands_are_drawn(tmp_path):
    ts = [T0 + 600 * i for i in range(7)]
    spec = Plot(
        "a role's hour",
        T0,
        T0 + 3600,
        panels=[
            Panel(
                "level (cm)",
                [
                    Series("true", ts, [1, 2, 3, 4, 5, 6, 7], "#555555"),
                    Series("measured", ts[::2], [1, 3, 5, 7], "#1f77b4", marker="o"),
                    Level(5, "limit", "#d62728"),
                    Series("alarms", ts[1:3], [8, 8], "#111111", marker="v", colours=["#2ca02c", "#d62728"]),
                ],
            ),
            Band(
                "state",
                [(T0, "empty"), (T0 + 1200, "full"), (T0 + 2400, "unknown")],
                {"empty": "#2ca02c", "full": "#d62728"},
            ),
        ],
    )
    fig = plot.render(spec)
    ax, band = fig.axes
    assert ax.get_title() == "a role's hour"
    assert (ax.get_ylabel(), band.get_ylabel()) == ("level (cm)", "state")
    lines = _lines(ax)
    assert list(lines) == ["true", "measured", "limit", "alarms"]
    assert list(lines["true"].get_ydata()) == [1, 2, 3, 4, 5, 6, 7] and lines["true"].get_marker() == "None"
    assert list(lines["measured"].get_ydata()) == [1, 3, 5, 7] and lines["measured"].get_marker() == "o"
    # Marks coloured one by one, then the legend's entry in the series' colour.
    marks = [
        to_hex(ln.get_color()) for ln in ax.get_lines() if ln.get_marker() == "v" and len(ln.get_xdata())
    ]
    assert marks == ["#2ca02c", "#d62728"]
    # Each state lasts until the next change; one not in the colours is drawn in `other`.
    assert _spans(band) == ["#2ca02c", "#d62728", "#d9d9d9"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["true", "measured", "limit", "alarms", "empty", "full"]  # then the band's states
    assert fig.get_size_inches().tolist() == [12.0, 0.4 * 13]

    png = plot.write(fig, tmp_path / "hour.png")
    box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)  # inches: what savefig crops to
    with Image.open(png) as im:
        assert im.format == "PNG"
        im.load()  # the whole image decodes
        w, h = im.size
    assert abs(w - box.width * plot.DPI) <= 2 and abs(h - box.height * plot.DPI) <= 2


def test_a_plot_needs_a_panel():
    with pytest.raises(ValueError):
        plot.render(Plot("nothing", T0, T0 + 60))


def test_views_are_found_by_role():
    assert views.view_class("classair") is ClassAirView
    assert views.view_class("counter") is None and views.view_class("../classair") is None
    assert "classair" in views.plotting_roles() and "counter" not in views.plotting_roles()


def test_classair_supplies_its_day(make_board):
    b = make_board(app="classair", world="school-day", start=START)
    attach_network(b)
    view = ClassAirView(b, live=False)
    b.run(hours=12)
    spec = view.plot("school-day")
    assert spec.title == "ClassAir, scenario school-day"
    assert (spec.start, spec.end) == (b.start_us / 1e6, b.t_us / 1e6)
    co2, light = spec.panels
    assert co2.ylabel == "CO2 (ppm)" and light.changes == view.leds
    assert {s for _, s in view.leds} == {"green", "off", "red"}

    fig = plot.render(spec)
    ax, band = fig.axes
    lines = _lines(ax)
    measured = [w["co2"] for w in view.wakes if w["co2"] is not None]
    assert list(lines[f"measured by the node ({len(measured)})"].get_ydata()) == measured
    assert max(lines["CO2 in the room (world)"].get_ydata()) > 1500  # the lessons' CO2
    assert {"red from 800 ppm", "green again below 700 ppm"} <= set(lines)
    # Every uplink is marked once, in a row above the readings.
    top = max(measured) * 1.04
    marks = [ln for ln in ax.get_lines() if len(ln.get_ydata()) and set(ln.get_ydata()) == {top}]
    assert sum(len(ln.get_xdata()) for ln in marks) == len(view.uplinks) > 20
    assert _spans(band) == [LED_COLOURS[s] for _, s in view.leds]
