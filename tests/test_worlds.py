"""A role's world module (hil/worlds/<role>.py): what it declares, the still world for a role without one,
scenario names across roles."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from citynode.base import roles

from hil import worlds
from hil.worlds import World, make_world, role_world, scenario_names


def test_classair_declares_its_run():
    w = role_world("classair")
    assert w.default_scenario == "school-day"
    assert set(w.scenarios) == {"school-day", "school-week", "stuffy-room", "sensor-fault"}
    start = datetime.fromisoformat(w.default_start)
    assert start == datetime(2026, 9, 7, tzinfo=ZoneInfo("Europe/Paris"))  # local midnight, a Monday
    assert w.hours(None) == w.hours("school-day") == 24
    assert w.hours("school-week") == 24 * 7  # the scenario's own length wins over the role's


@pytest.mark.parametrize("app", ["counter", "lorawan_probe", "../classair", "classair.x", ""])
def test_an_app_without_a_world_module_runs_still(app):
    w = role_world(app)
    assert (w.default_scenario, w.default_start, w.hours(None)) == ("still", None, 24)
    assert type(make_world(w.default_scenario)) is World


def test_every_world_module_is_a_role_with_a_default_among_its_scenarios():
    mods = worlds.world_modules()
    assert "classair" in mods
    for role in mods:
        assert role in roles.ALL, f"hil/worlds/{role}.py is not named after a role"
        w = role_world(role)
        assert w.default_scenario in w.scenarios, role
        assert w.default_start is None or datetime.fromisoformat(w.default_start).tzinfo is not None, role
        assert all(issubclass(cls, World) for cls in w.scenarios.values()), role


def test_scenario_names_are_unique_across_roles():
    # --scenario takes a name without its role: two roles must not claim the same one.
    seen: dict[str, str] = {}
    for role in worlds.world_modules():
        for name in role_world(role).scenarios:
            assert name not in seen and name != "still", f"{name!r}: {role} and {seen.get(name, 'the base')}"
            seen[name] = role
    assert sorted([*seen, "still"]) == scenario_names()


def test_unknown_scenario_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown scenario 'nosuch'; known: .*school-day.*still"):
        make_world("nosuch")
    assert role_world("classair").hours("nosuch") == 24  # the board reports the name, not the defaults
