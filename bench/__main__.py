import importlib
import pkgutil
import sys
import time

import bench


def main(argv):
    # bench.mutate is no figure bench but the mutation tests (`make mutate`): never run with the others.
    found = pkgutil.iter_modules(bench.__path__)
    names = argv or sorted(m.name for m in found if not m.name.startswith("_") and m.name != "mutate")
    rows = []
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        for row in mod.run():
            rows.append((name, *row))
        print(f"# bench.{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    w = max(len(r[1]) for r in rows) if rows else 10
    print(f"| area | {'figure'.ljust(w)} | measured | goal | ok |")
    print(f"|---|{'-' * (w + 2)}|---|---|---|")
    failed = 0
    for area, figure, measured, goal, ok in rows:
        failed += not ok
        print(f"| {area} | {figure.ljust(w)} | {measured} | {goal} | {'yes' if ok else 'NO'} |")
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
