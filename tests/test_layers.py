"""Host packages in layers, bottom up: the base (`citynode.base`) -> `fleet` -> `hil` -> the CLI (the rest of
`citynode`); `bench` sits on top. No module imports a layer above its own, not even inside a function."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Layer of each host package, lowest first; MicroPython-side code (hil/mpy) is not host code.
LAYERS = ["citynode.base", "fleet", "hil", "citynode", "bench"]
SOURCES = {
    "citynode": ROOT / "tools" / "citynode",
    "fleet": ROOT / "fleet",
    "hil": ROOT / "hil",
    "bench": ROOT / "bench",
}
NOT_HOST = [ROOT / "hil" / "mpy"]


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix), None for the outside world."""
    best = None
    for name in LAYERS:
        if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best)):
            best = name
    return best


def module_name(path: Path) -> str:
    for top, src in SOURCES.items():
        if path.is_relative_to(src):
            parts = [top, *path.relative_to(src).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


def imported(tree: ast.AST, module: str, is_package: bool):
    """(line, imported module or name) for every import in the file, at top level or inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            for alias in node.names:  # `from citynode import ports` imports citynode.ports
                yield node.lineno, f"{base}.{alias.name}"


def host_files():
    for src in SOURCES.values():
        for path in sorted(src.rglob("*.py")):
            if not any(path.is_relative_to(d) for d in NOT_HOST):
                yield path


def upward_imports() -> list[str]:
    """One line per import that reaches above its module's layer: file:line, what, and the rule."""
    problems = []
    for path in host_files():
        module = module_name(path)
        own = layer_of(module)
        above: dict[int, list[str]] = {}
        for line, target in imported(
            ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py"
        ):
            theirs = layer_of(target)
            if theirs is not None and LAYERS.index(theirs) > LAYERS.index(own):
                above.setdefault(line, []).append(f"{target} ({theirs})")
        for line, targets in sorted(above.items()):
            problems.append(
                f"{path.relative_to(ROOT)}:{line}: {module} ({own}) imports {', '.join(targets)}: "
                f"{own} may import only {', '.join(LAYERS[: LAYERS.index(own) + 1])}"
            )
    return problems


def test_no_host_module_imports_a_layer_above_its_own():
    problems = upward_imports()
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    tree = ast.parse("def f():\n    from hil.emulator import EmulatedBoard\n    import citynode.cli\n")
    found = {t for _, t in imported(tree, "fleet.x", False)}
    assert found == {"hil.emulator.EmulatedBoard", "citynode.cli"}
    assert layer_of("citynode.base.paths") == "citynode.base" and layer_of("citynode.deploy") == "citynode"
    assert layer_of("serial") is None and layer_of("citynodes") is None


def test_the_top_package_imports_nothing():
    """`import citynode.base` from fleet or hil must not load the CLI: citynode/__init__.py holds only the
    version."""
    tree = ast.parse((SOURCES["citynode"] / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
