# Dropping modules mid-wake: code the rest of the wake does not need leaves the heap at the next collection.
import sys


def unload(*names):
    for n in names:
        if sys.modules.pop(n, None) is not None and "." in n:
            pkg, _, child = n.rpartition(".")
            try:
                delattr(sys.modules[pkg], child)  # the package keeps a reference to its submodule
            except (KeyError, AttributeError):
                pass
