"""`citynode emulator ...`: emulated hardware as real devices for other tools (serial boards, ESP ROM loader).

Subcommands live in their own modules and load only when used: `serve` (an emulated board as a pty serial
device with a MicroPython REPL) and `rom` (a fake ESP32 ROM loader on a pty that esptool flashes).
"""

from __future__ import annotations

import importlib
import importlib.util

import click

_SUBCOMMANDS = {"serve": "citynode.commands._emulator_serve", "rom": "citynode.commands._emulator_rom"}


class _Lazy(click.Group):
    def list_commands(self, ctx):
        return [n for n, m in _SUBCOMMANDS.items() if importlib.util.find_spec(m) is not None]

    def get_command(self, ctx, name):
        if name not in self.list_commands(ctx):
            return None
        return importlib.import_module(_SUBCOMMANDS[name]).cli


@click.group(cls=_Lazy)
def cli():
    """Emulated hardware on ptys: boards for mpremote/deploy, ROM loaders for esptool/flash."""
