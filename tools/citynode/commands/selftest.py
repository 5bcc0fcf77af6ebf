"""`citynode selftest`: check the tools the emulator and the build need are here and agree."""

from __future__ import annotations

import subprocess

import click

EXPECTED_MPY_ABI = 2822  # sys.implementation._mpy of the pinned unix port: .mpy v6.3, x64


@click.command()
@click.option("--quiet", is_flag=True, help="print nothing when all is well")
def cli(quiet):
    """Check MicroPython, mpy-cross, the fast launcher, and that MicroPython hashes files as deploy expects."""
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
    _check_file_hash(cmd)
    m = subprocess.run([mpy_cross_exe(), "--version"], capture_output=True, text=True)
    if m.returncode:
        raise UserError("mpy-cross does not run")
    if not quiet:
        click.echo(f"micropython {version.strip()} (.mpy ABI {abi})")
        click.echo(f"launcher: {'fast C launcher' if fast_launcher() else 'console script (slower starts)'}")
        click.echo(m.stdout.strip())


def _check_file_hash(cmd: list[str]) -> None:
    """The device-side hash script (citynode.transport.SHA256) must give what hashlib gives here: deploy and
    provision compare the two. A file over one read buffer, so the partial last read counts too."""
    import hashlib
    import tempfile
    from pathlib import Path

    from citynode.cli import UserError
    from citynode.transport import SHA256

    data = bytes(range(256)) * 9  # 2304 B: two full 1 KB reads and a partial one
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.bin"
        path.write_bytes(data)
        r = subprocess.run([*cmd, "-c", SHA256 + f"print(_h({str(path)!r}))"], capture_output=True, text=True)
    if r.returncode or r.stdout.strip() != hashlib.sha256(data).hexdigest():
        raise UserError(
            f"MicroPython's file hash differs from hashlib's: {(r.stderr or r.stdout).strip()[-200:]}"
        )
