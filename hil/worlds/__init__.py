"""Worlds: what the sensors of an emulated board measure, as functions of virtual time.

A world answers ``value(quantity, t_us)`` for the quantities its scenario models (``co2_ppm``, ``temp_c``,
``battery_mv``, ...). Worlds must be deterministic for a given seed.

A role's worlds live in ``hil/worlds/<role>.py``, which declares:

- ``SCENARIOS``: scenario name -> World subclass. Names are unique across roles: ``--scenario`` takes them
  without the role, and any app can run in any scenario.
- ``DEFAULT_SCENARIO``: what ``citynode emulate --app <role>`` runs without ``--scenario``.
- ``DEFAULT_START`` (optional): ISO 8601 start of such a run; the emulator's own default otherwise.
- ``DEFAULT_HOURS`` (optional, 24): its length. A scenario class may set ``default_hours`` to run longer
  (a school week).

A role (or tool app) without a module here runs in the base ``still`` world.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import NamedTuple


class World:
    name = "still"
    default_hours: float | None = None  # None: the length the role's world module declares
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


class RoleWorld(NamedTuple):
    """What a role's world module declares (see the module docstring)."""

    role: str
    scenarios: dict[str, type[World]]
    default_scenario: str
    default_start: str | None  # None: the emulator's default start
    default_hours: float

    def hours(self, scenario: str | None) -> float:
        """How long a run of `scenario` lasts by default: the scenario's own length, else the role's."""
        try:
            cls = scenario_class(scenario or self.default_scenario)
        except ValueError:
            return self.default_hours  # the board reports the unknown name when it builds its world
        return cls.default_hours or self.default_hours


STILL = RoleWorld("", {"still": World}, "still", None, 24.0)


def role_world(role: str) -> RoleWorld:
    """The declarations of `hil/worlds/<role>.py`, or the still world for a role that has no module there."""
    mod = _role_module(role)
    if mod is None:
        return STILL._replace(role=role, scenarios=dict(STILL.scenarios))
    return RoleWorld(
        role=role,
        scenarios=dict(mod.SCENARIOS),
        default_scenario=mod.DEFAULT_SCENARIO,
        default_start=getattr(mod, "DEFAULT_START", None),
        default_hours=float(getattr(mod, "DEFAULT_HOURS", STILL.default_hours)),
    )


def _role_module(role: str):
    # Only a plain name can be a role: `--app ../x` or `a.b` must not reach the import system.
    if not role or not role.isidentifier():
        return None
    name = f"{__name__}.{role}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise  # the module exists but something it imports does not: not a missing world
        return None


def world_modules() -> list[str]:
    """The names of the role world modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _all_scenarios() -> dict[str, type[World]]:
    found: dict[str, type[World]] = {"still": World}
    for role in world_modules():
        found.update(role_world(role).scenarios)
    return found


def scenario_names() -> list[str]:
    return sorted(_all_scenarios())


def scenario_class(scenario: str) -> type[World]:
    try:
        return _all_scenarios()[scenario]
    except KeyError:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(scenario_names())}") from None


def make_world(scenario: str | None, start_us: int = 0, seed: int = 0, **options) -> World:
    return scenario_class(scenario or "still")(start_us=start_us, seed=seed, **options)
