"""The `citynode` command line.

Each subcommand lives in its own module under `citynode.commands` and is imported only when it runs, so
`citynode --help` and quick commands stay fast. A module `commands/foo_bar.py` provides the command
`foo-bar` as a module-level click object named `cli`.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from citynode import __version__
from citynode import commands as _commands_pkg


class UserError(click.ClickException):
    """A failure the user can fix: printed as one line, exit status 2, never a traceback."""

    exit_code = 2

    def show(self, file=None):
        click.echo(f"citynode: error: {self.format_message()}", err=True, file=file)


def role_option(*decls, tools: bool = False, what: str = "", **kw):
    """A click option naming a role, checked against the one list (fleet/roles.py): an unknown or unbuilt role
    is one line and exit 2 before the command runs. tools=True also takes the tool apps (counter, ...)."""
    from fleet import roles

    name = next((d for d in decls if d.startswith("--")), decls[0])

    def check(ctx, param, value):
        if value is None:
            return None
        try:
            return roles.check(value, tools=tools, option=name)
        except roles.UnknownRole as e:
            raise UserError(str(e)) from None

    offered = roles.APPS if tools else roles.BUILT
    kw["help"] = f"{what or ('node app' if tools else 'node role')}: {', '.join(offered)}"
    return click.option(*decls, callback=check, **kw)


def ignore_heap_option(what: str):
    """--ignore-heap: go ahead with an app that needs more heap than the board has (citynode.fits). Without it,
    such an app is one line and exit 2, before anything is built, written or sent."""
    return click.option(
        "--ignore-heap",
        is_flag=True,
        help=f"{what} even if the app needs more emulator heap than the board has (the measured figures: "
        "`citynode boards show BOARD`), e.g. to try a MicroPython image with modules frozen in",
    )


def _command_names() -> list[str]:
    return sorted(
        m.name.replace("_", "-")
        for m in pkgutil.iter_modules(_commands_pkg.__path__)
        if not m.name.startswith("_")
    )


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return _command_names()

    def get_command(self, ctx, name):
        if name not in _command_names():
            return None
        module = importlib.import_module(f"citynode.commands.{name.replace('-', '_')}")
        return module.cli

    def format_commands(self, ctx, formatter):
        # Help lists commands with their short help: reading the first docstring line keeps it lazy-ish.
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="citynode")
def cli():
    """citynode: firmware and tools for LoRaWAN smart-city sensor nodes."""


def main():
    cli(prog_name="citynode")
