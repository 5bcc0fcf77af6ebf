"""The registry of emulated serial ports: emulated boards and ROM loaders (`hil`) advertise their ptys here, and
the CLI's port listing (`citynode.ports`) finds them like USB boards.

One JSON file per port in ``CITYNODE_EMULATED_PORTS`` (default ``$XDG_RUNTIME_DIR/citynode-ports-<uid>``),
with the serving process's pid; entries whose process or device is gone are dropped when listed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def registry_dir() -> Path:
    env = os.environ.get("CITYNODE_EMULATED_PORTS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"citynode-ports-{os.getuid()}"


def register_emulated(device: str, board: str, serial_number: str) -> Path:
    """Advertise an emulated board's pty; returns the entry file (remove it when the board goes away)."""
    d = registry_dir()
    d.mkdir(parents=True, exist_ok=True)
    entry = d / f"{os.getpid()}-{serial_number}.json"
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"device": device, "board": board, "serial_number": serial_number, "pid": os.getpid()})
    )
    os.replace(tmp, entry)
    return entry


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def emulated_entries() -> list[dict]:
    """The live entries (device, board, serial_number, pid), in a stable order; stale ones are removed."""
    d = registry_dir()
    out = []
    if not d.is_dir():
        return out
    for f in sorted(d.glob("*.json")):
        try:
            e = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(int(e.get("pid", 0))) or not os.path.exists(e["device"]):
            f.unlink(missing_ok=True)  # left behind by a server that was killed
            continue
        out.append(e)
    return out
