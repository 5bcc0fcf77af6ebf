"""Which node roles exist, read from the one list in `citynode.base.payload_schema`.

A role is built when its firmware package `firmware/apps/<role>/` exists (the schema says so, and a test checks
the two agree). Only built roles are offered by any command; tool apps (counter, lorawan_probe) run on a node
but are not roles: build, deploy and emulate take them, provisioning does not.
"""

from __future__ import annotations

from citynode.base import payload_schema as S

ALL = list(S.ROLES)
BUILT = [r for r, spec in S.ROLES.items() if spec.get("built")]
PLANNED = [r for r in ALL if r not in BUILT]
TOOL_APPS = list(S.TOOL_APPS)
APPS = BUILT + TOOL_APPS


class UnknownRole(ValueError):
    """The message is one line for the user."""


def check(name: str | None, *, tools: bool = False, option: str = "--app") -> str:
    """`name` if it is a built role (or, with tools=True, a tool app); else UnknownRole saying what is."""
    offered = APPS if tools else BUILT
    if name in offered:
        return name
    if name in PLANNED:
        raise UnknownRole(f"{option} {name}: that role is not built yet (roles: {', '.join(offered)})")
    if name in TOOL_APPS:
        raise UnknownRole(f"{option} {name} is a tool app, not a role (roles: {', '.join(BUILT)})")
    raise UnknownRole(f"{option} {name!r} is not a role (roles: {', '.join(offered)})")


def help_text(tools: bool = False) -> str:
    """For click help: the offered names, read when the help is shown."""
    return ", ".join(APPS if tools else BUILT)
