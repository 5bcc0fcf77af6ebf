"""`citynode build`: the bundle for one node (board + role): only the modules that role needs, as .mpy.

Bundle layout (what deploy puts on the board):

    main.py          the loader: runs the firmware slot named by fw/active (see LOADER)
    board.json       the board file
    fw/              the firmware slot: main.py (the firmware's), node/*.mpy, apps/<role>.mpy, lorawan/..., ...
    manifest.json    every file's sha256, version, MicroPython requirements, micropython-lib packages

Which modules: imports are followed by AST from firmware/main.py, node.runtime and apps.<role> (imports inside
functions too: the firmware imports lazily). The runtime imports the app by name at run time, so the app is a
root; `node.link` imports lorawan.link only when an app uses `.link`, so lorawan.* comes in only then. Sensor
drivers (sensors.<chip>[_extra]) come in only for chips this board wires for this role.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from citynode import __version__
from citynode.base import boards as boards_mod
from citynode.base.mpy import compile_file, needs_arch
from citynode.base.paths import BOARDS_DIR, FIRMWARE_DIR, REPO_ROOT

SLOT_FILES_DIR = "fw"
MICROPYTHON_REQUIRED = ">=1.22"
MPY_VERSION = 6
# Lazy imports that depend on what the app uses: attribute -> (module, function that imports it).
LAZY_BY_ATTRIBUTE = {"link": ("lorawan.link", ("node.runtime", "link"))}
# The wake pipeline every role runs (node/runtime.py imports it in _wake, for roles only) and the MAC it sends with.
PIPELINE_MODULES = (
    "node.pipeline",
    "node.uplink",
    "node.downlink",
    "node.schedule",
    "node.settings",
    "lorawan.link",
)
# MicroPython built-ins and frozen modules a board has: never looked for in the firmware tree.
BUILTINS = {
    "machine",
    "micropython",
    "time",
    "utime",
    "sys",
    "os",
    "uos",
    "gc",
    "json",
    "struct",
    "select",
    "uselect",
    "hashlib",
    "binascii",
    "cryptolib",
    "random",
    "math",
    "errno",
    "io",
    "array",
    "collections",
    "re",
    "network",
    "socket",
    "asyncio",
    "esp32",
    "esp",
    "rp2",
    "pyb",
    "stm",
    "bluetooth",
    "framebuf",
    "neopixel",
    "deflate",
    "heapq",
    "platform",
    "vfs",
    "_thread",
    "ssl",
    "tls",
    "builtins",
    "onewire",
    "dht",
}
# micropython-lib packages, by the top-level module the firmware imports.
MIP_PACKAGES = {"lora": "lora-sync"}

# The board's /main.py: tiny, the same for every version, never changed by a deploy that changes firmware.
LOADER = """\
# citynode loader (written by `citynode deploy`): runs the firmware slot named in fw/active.
# A deploy fills the other slot, checks it, then switches fw/active in one rename: a cable pulled at any
# moment leaves a complete firmware to boot.
import sys


def _slot():
    for name in ("fw/active", "fw/active.new"):
        try:
            with open(name) as f:
                s = f.read().strip()
            open("fw/" + s + "/main.py").close()
            return "fw/" + s
        except OSError:
            pass
    return None


_s = _slot()
if _s is None:
    print("citynode: no firmware installed: run `citynode deploy`")
else:
    sys.path.insert(0, _s)
    with open(_s + "/main.py") as _f:
        _src = _f.read()
    del _f
    exec(_src, {"__name__": "__main__"})
"""


class BuildError(Exception):
    pass


@dataclass
class Bundle:
    out: Path
    manifest: dict
    modules: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def files(self) -> dict[str, str]:
        """Every file of the bundle (path relative to the flash root -> sha256)."""
        return self.manifest["files"]


def firmware_version(repo: Path = REPO_ROOT) -> str:
    """`git describe` of the checkout, or the package version when there is no git (a wheel install)."""
    try:
        r = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


def _module_file(fw: Path, name: str) -> Path | None:
    base = fw.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _module_name(fw: Path, path: Path) -> str:
    rel = path.relative_to(fw).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, modname: str, is_pkg: bool, skip_funcs: set[str]) -> list[str]:
    """Module names imported anywhere in `tree` (functions included, except those named in skip_funcs)."""
    out: list[str] = []

    def visit(node, skipping=False):
        for child in ast.iter_child_nodes(node):
            skip = skipping
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name in skip_funcs:
                skip = True
            if not skip:
                if isinstance(child, ast.Import):
                    out.extend(a.name for a in child.names)
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        pkg = modname.split(".") if is_pkg else modname.split(".")[:-1]
                        pkg = pkg[: len(pkg) - (child.level - 1)]
                        base = ".".join(pkg + ([child.module] if child.module else []))
                    else:
                        base = child.module or ""
                    out.append(base)
                    # `from pkg import mod` imports a module only when pkg is a package: marked, checked later.
                    out.extend(f"?{base}.{a.name}" for a in child.names if a.name != "*")
                elif (arg := _dynamic_import_arg(child)) is not None:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        out.append(arg.value)
                    elif (
                        isinstance(arg, ast.BinOp)
                        and isinstance(arg.op, ast.Mod)
                        and isinstance(arg.left, ast.Constant)
                        and "%s" in str(arg.left.value)
                    ):
                        # __import__("apps.%s.schedule" % node.role): the role's module of that name, if it has one
                        out.append("%" + arg.left.value)
                    elif (
                        isinstance(arg, ast.BinOp)
                        and isinstance(arg.left, ast.Constant)
                        and isinstance(arg.left.value, str)
                    ):
                        prefix = arg.left.value
                        # __import__("pkg." + name): any module of pkg may be loaded (apps: only the role's, a
                        # root); __import__("payload_" + role): the role's own module of that family
                        out.append("*" + prefix[:-1] if prefix.endswith(".") else "+" + prefix)
            visit(child, skip)

    visit(tree)
    return out


def _dynamic_import_arg(node: ast.AST) -> ast.AST | None:
    """The first argument of an `__import__(...)` or `import_module(...)` call, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, (ast.Name, ast.Attribute))
        and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("__import__", "import_module")
        and node.args
    ):
        return node.args[0]
    return None


def _uses_attribute(tree: ast.AST, attr: str) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == attr for n in ast.walk(tree))


def _known_chips() -> set[str]:
    chips = set()
    for p in BOARDS_DIR.glob("*.json"):
        if p.name == "schema.json":
            continue
        try:
            b = json.loads(p.read_text())
        except ValueError:
            continue
        for wiring in b.get("apps", {}).values():
            for s in wiring.get("sensors", {}).values():
                chips.add(s.get("chip", ""))
    return chips - {""}


def _sensor_wanted(mod: str, wired: set[str], known: set[str]) -> bool:
    """sensors.<chip>[_suffix] is a driver: wanted only for a chip this board wires for this role."""
    if not mod.startswith("sensors.") or mod.count(".") != 1:
        return True
    leaf = mod.split(".")[1]
    for chip in known | wired:
        if leaf == chip or leaf.startswith(chip + "_"):
            return chip in wired
    return True


def resolve_modules(app: str, board: dict, fw: Path = FIRMWARE_DIR) -> tuple[list[Path], set[str], list[str]]:
    """(firmware files needed, external top-level modules imported, firmware-like modules not found)."""
    app_dir = fw / "apps" / app
    if not (app_dir / "__init__.py").is_file():
        known = sorted(p.parent.name for p in (fw / "apps").glob("*/__init__.py"))
        raise BuildError(f"no app {app!r} in the firmware (apps: {', '.join(known)})")
    wired = {s["chip"] for s in board.get("apps", {}).get(app, {}).get("sensors", {}).values()}
    known_chips = _known_chips()
    skip = {mod: {fn} for _, (_, (mod, fn)) in LAZY_BY_ATTRIBUTE.items()}
    # The app's package comes whole (its modules are its own, some imported by name: settings, schedule); a role
    # (a package with wake.py) brings the wake pipeline, which the runtime imports only for roles.
    todo = ["node.runtime"] + [_module_name(fw, p) for p in sorted(app_dir.rglob("*.py"))]
    if (app_dir / "wake.py").is_file():
        todo += list(PIPELINE_MODULES)
    else:
        skip.setdefault("node.runtime", set()).add("_wake")
    seen_files: dict[str, Path] = {}
    externals: set[str] = set()
    missing: list[str] = []
    trees: dict[str, ast.AST] = {}
    roots_main = fw / "main.py"
    main_tree = ast.parse(roots_main.read_text(), str(roots_main))
    todo += _imports(main_tree, "__main__", False, set())
    lazy_added = set()
    while todo:
        name = todo.pop()
        if name.startswith("*"):
            pkg = name[1:]
            if pkg != "apps" and (fw / pkg).is_dir():
                todo += [
                    _module_name(fw, p)
                    for p in sorted((fw / pkg).rglob("*.py"))
                    if "__pycache__" not in p.parts
                ]
            continue
        if name.startswith("+"):
            todo.append(name[1:] + app)
            continue
        if name.startswith("%"):
            todo.append("?" + name[1:].replace("%s", app))  # optional: the code guards its ImportError
            continue
        member = name.startswith("?")
        name = name.lstrip("?")
        if not name or name in seen_files:
            continue
        path = _module_file(fw, name)
        if path is None:
            top = name.split(".")[0]
            if _module_file(fw, top) is None and not (fw / top).is_dir():
                if top not in BUILTINS:
                    externals.add(top)
                continue
            if member or fw.joinpath(*name.split(".")).is_dir():
                continue  # a name imported from a module, or a namespace package directory
            if name not in missing:
                missing.append(name)
            continue
        if not _sensor_wanted(name, wired, known_chips):
            continue
        seen_files[name] = path
        tree = ast.parse(path.read_text(), str(path))
        trees[name] = tree
        is_pkg = path.name == "__init__.py"
        todo += _imports(tree, name, is_pkg, skip.get(name, set()))
        # Parent packages come along (their __init__ runs on import).
        parts = name.split(".")
        for i in range(1, len(parts)):
            todo.append(".".join(parts[:i]))
        for attr, (lazy_mod, _) in LAZY_BY_ATTRIBUTE.items():
            if lazy_mod not in lazy_added and not name.startswith("node.") and _uses_attribute(tree, attr):
                lazy_added.add(lazy_mod)
                todo.append(lazy_mod)
    files = sorted(set(seen_files.values()))
    return files, externals, missing


def sha256_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _write_atomic(p: Path, data: bytes):
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, p)


def build(
    board: str | dict,
    app: str,
    out: str | Path | None = None,
    *,
    version: str | None = None,
    fw: Path = FIRMWARE_DIR,
    cache_dir: Path | None = None,
) -> Bundle:
    from hil.launcher import CACHE_DIR

    spec = boards_mod.load(board) if isinstance(board, str) else board
    if app not in spec.get("apps", {}):
        raise BuildError(
            f"board {spec['id']} has no wiring for app {app!r} (it has: {', '.join(spec['apps'])})"
        )
    version = version or firmware_version()
    out = Path(out) if out else REPO_ROOT / "build" / f"{spec['id']}-{app}"
    cache_dir = cache_dir or CACHE_DIR / "mpy"
    files, externals, missing = resolve_modules(app, spec, fw)
    arch = spec["mpy_arch"]
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    slot = staging / SLOT_FILES_DIR
    native = []
    gen = staging / ".gen"
    gen.mkdir(parents=True)
    for src in files:
        rel = src.relative_to(fw)
        if rel.as_posix() == "node/version.py":
            src = gen / "version.py"  # same file name: mpy-cross records it in the .mpy
            src.write_text(f"# Written by citynode build.\nVERSION = {version!r}\n")
        if needs_arch(src.read_bytes()):
            native.append(rel.with_suffix(".mpy").as_posix())
        compile_file(src, slot / rel.with_suffix(".mpy"), arch, cache_dir)
    shutil.rmtree(gen)
    shutil.copyfile(fw / "main.py", slot / "main.py")
    (staging / "main.py").write_text(LOADER)
    # what the node reads of its board, as the emulator gives it (not the desktop's names, notes, flash recipe)
    node_spec = boards_mod.node_view(spec, app)
    (staging / "board.json").write_text(json.dumps(node_spec, separators=(",", ":")))
    packages = []
    for ext in sorted(externals):
        if ext in MIP_PACKAGES:
            packages.append(MIP_PACKAGES[ext])
            driver = spec.get("radio", {}).get("driver")
            if ext == "lora" and driver:
                packages.append(driver)
    manifest = {
        "format": 1,
        "board": spec["id"],
        "app": app,
        "version": version,
        "micropython": MICROPYTHON_REQUIRED,
        "mpy_version": MPY_VERSION,
        "mpy_arch": arch,
        "native_modules": native,
        "packages": packages,
        "external_imports": sorted(externals - set(MIP_PACKAGES)),
        "missing_imports": missing,
        "files": {},
    }
    for p in sorted(staging.rglob("*")):
        if p.is_file():
            manifest["files"][p.relative_to(staging).as_posix()] = sha256_file(p)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, out)
    modules = [_module_name(fw, f) for f in files]
    return Bundle(out, manifest, modules, missing)


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise BuildError(f"{path}: not a bundle ({e})") from None
    return Bundle(path, manifest)
