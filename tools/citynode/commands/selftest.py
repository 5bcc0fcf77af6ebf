"""`citynode selftest`: check the tools the emulator and the build need are here and agree."""

from __future__ import annotations

import subprocess

import click

EXPECTED_MPY_ABI = 2822  # sys.implementation._mpy of the pinned unix port: .mpy v6.3, x64


@click.command()
@click.option("--quiet", is_flag=True, help="print nothing when all is well")
def cli(quiet):
    """Check MicroPython, mpy-cross and the fast launcher."""
    from citynode.base.mpy import mpy_cross_exe
    from citynode.cli import UserError
    from hil.launcher import fast_launcher, micropython_command

    cmd = micropython_command()
    r = subprocess.run(
        [*cmd, "-c", "import sys; print(sys.implementation._mpy, sys.version)"],
        capture_output=True,
        text=True,
    )
    if r.returncode:
        raise UserError(f"MicroPython unix port does not start ({' '.join(cmd)}): {r.stderr.strip()}")
    abi, version = r.stdout.split(" ", 1)
    if int(abi) != EXPECTED_MPY_ABI:
        raise UserError(
            f"MicroPython .mpy ABI {abi}, expected {EXPECTED_MPY_ABI}: reinstall the pinned unix port"
        )
    m = subprocess.run([mpy_cross_exe(), "--version"], capture_output=True, text=True)
    if m.returncode:
        raise UserError("mpy-cross does not run")
    if not quiet:
        click.echo(f"micropython {version.strip()} (.mpy ABI {abi})")
        click.echo(f"launcher: {'fast C launcher' if fast_launcher() else 'console script (slower starts)'}")
        click.echo(m.stdout.strip())
