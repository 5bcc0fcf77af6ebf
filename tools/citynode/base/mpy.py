"""Compile MicroPython sources to .mpy with mpy-cross, with a content-addressed cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Modules that use @micropython.native/@viper must be compiled per architecture; plain bytecode is the same
# for every arch (checked: x64 and xtensawin give identical files).
NATIVE_MARKERS = (b"@micropython.native", b"@micropython.viper", b"@native", b"@viper")
# Changes whenever the way a file is compiled changes (options), so caches keyed by sources alone rebuild.
COMPILE_REVISION = b"2"


def mpy_cross_exe() -> str:
    exe = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    return exe


def needs_arch(source: bytes) -> bool:
    return any(m in source for m in NATIVE_MARKERS)


def compile_file(src: Path, dest: Path, arch: str | None, cache_dir: Path | None = None) -> Path:
    """Compile one file to `dest` (.mpy). Identical inputs are served from `cache_dir`."""
    data = src.read_bytes()
    march = arch if needs_arch(data) else None
    key = hashlib.sha256(
        b"\0".join((COMPILE_REVISION, data, (march or "").encode(), src.stem.encode()))
    ).hexdigest()[:24]
    cached = cache_dir / f"{key}.mpy" if cache_dir else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    if cached is not None and cached.exists():
        shutil.copyfile(cached, dest)
        return dest
    # The source name recorded in the .mpy (tracebacks show it) is the module's own name: that name is interned
    # anyway when the module is imported, so it costs the board no extra qstr.
    cmd = [mpy_cross_exe(), "-o", str(dest), "-s", src.stem]
    if march:
        cmd.append(f"-march={march}")
    cmd.append(str(src))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"mpy-cross failed on {src}: {r.stderr.strip() or r.stdout.strip()}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        shutil.copyfile(dest, tmp)
        os.replace(tmp, cached)
    return dest


def compile_tree(
    src_dir: Path,
    out_dir: Path,
    arch: str | None,
    cache_dir: Path | None = None,
    keep_py: tuple[str, ...] = ("main.py", "boot.py"),
) -> list[Path]:
    """Mirror src_dir into out_dir with every .py compiled to .mpy (except top-level main.py/boot.py)."""
    written = []
    for src in sorted(src_dir.rglob("*.py")):
        rel = src.relative_to(src_dir)
        if "__pycache__" in rel.parts:
            continue
        if len(rel.parts) == 1 and rel.name in keep_py:
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        else:
            dest = compile_file(src, out_dir / rel.with_suffix(".mpy"), arch, cache_dir)
        written.append(dest)
    return written
