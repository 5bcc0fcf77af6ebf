"""Worlds: what the sensors of an emulated board measure, as functions of virtual time.

A world answers ``value(quantity, t_us)`` for the quantities its scenario models (``co2_ppm``, ``temp_c``,
``battery_mv``, ...). A scenario ``foo-bar`` is the class ``World`` in ``hil/worlds/foo_bar.py`` or is
registered by a module in ``SCENARIO_MODULES``. Worlds must be deterministic for a given seed.
"""

from __future__ import annotations

import importlib


class World:
    name = "still"
    # A quiet, well-aired room: a board served without a scenario (`emulate --serve`) measures something.
    defaults = {
        "battery_mv": 3700.0,
        "temp_c": 21.0,
        "rh_pct": 45.0,
        "pressure_pa": 101325.0,
        "co2_ppm": 450.0,
        "button": 0,
    }

    def __init__(self, start_us: int = 0, seed: int = 0, **options):
        self.start_us = start_us
        self.seed = seed
        self.options = options
        self.overrides: dict[str, object] = {}

    def value(self, quantity: str, t_us: int):
        """The quantity at virtual time t_us. Tests pin a value with `set(quantity, value)`."""
        if quantity in self.overrides:
            v = self.overrides[quantity]
            return v(t_us) if callable(v) else v
        return self.sample(quantity, t_us)

    def sample(self, quantity: str, t_us: int):
        if quantity in self.defaults:
            return self.defaults[quantity]
        raise KeyError(f"world {self.name!r} does not model {quantity!r}")

    def set(self, quantity: str, value):
        self.overrides[quantity] = value


# scenario name -> "module:attribute"; scenarios whose module name is the scenario name need no entry.
SCENARIO_MODULES: dict[str, str] = {"still": "hil.worlds:World"}


def scenario_names() -> list[str]:
    import pkgutil

    names = set(SCENARIO_MODULES)
    for m in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"hil.worlds.{m.name}")
        names.update(getattr(mod, "SCENARIOS", {}).keys())
    return sorted(names)


def make_world(scenario: str | None, start_us: int = 0, seed: int = 0, **options) -> World:
    scenario = scenario or "still"
    target = SCENARIO_MODULES.get(scenario)
    if target is None:
        import pkgutil

        for m in pkgutil.iter_modules(__path__):
            mod = importlib.import_module(f"hil.worlds.{m.name}")
            if scenario in getattr(mod, "SCENARIOS", {}):
                return mod.SCENARIOS[scenario](start_us=start_us, seed=seed, **options)
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(scenario_names())}")
    mod_name, attr = target.split(":")
    return getattr(importlib.import_module(mod_name), attr)(start_us=start_us, seed=seed, **options)
