"""Run a snippet of firmware code under the real MicroPython unix port (no emulated board), for unit tests.

    out = run_mpy("import cbor; print(cbor.dumps(5))")

The firmware tree is on the path; `machine`/`time` are the port's own unless `shims=True`, which needs an
emulated board, so unit tests of pure modules (cbor, crypto, MAC logic with a fake modem) use the default.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from citynode.base.paths import FIRMWARE_DIR

from hil.launcher import micropython_command


class MicroPythonError(AssertionError):
    def __init__(self, code: int, output: str):
        super().__init__(f"MicroPython exited with status {code}:\n{output}")
        self.code = code
        self.output = output


def run_mpy(
    code: str,
    *,
    paths: list[Path | str] = (),
    heap_kb: int | None = None,
    cwd: Path | str | None = None,
    stdin: bytes | None = None,
    timeout: float = 60.0,
    firmware_dir: Path | None = None,
) -> str:
    """Run `code`; return its stdout as text; raise MicroPythonError with the output on a non-zero exit."""
    search = [str(p) for p in paths] + [str(firmware_dir or FIRMWARE_DIR), ".frozen"]
    env = dict(os.environ, MICROPYPATH=":".join(search))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        script = f.name
    try:
        cmd = [*micropython_command()]
        if heap_kb:
            cmd += ["-X", f"heapsize={heap_kb}k"]
        r = subprocess.run(
            cmd + [script], input=stdin, capture_output=True, env=env, cwd=cwd, timeout=timeout
        )
    finally:
        os.unlink(script)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    if r.returncode:
        raise MicroPythonError(r.returncode, out)
    return r.stdout.decode(errors="replace")
