"""`make bench`: run every benchmark module of this package that has a main(), in a fixed order.

`python -m bench` runs them all; `python -m bench operations search` runs the ones named.
Each prints a markdown table; BENCHMARKS.md keeps the latest figures and how they were made.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

_SUPPORT = {"loadgen", "server"}


def main() -> None:
    names = sys.argv[1:] or sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name not in _SUPPORT
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        run = getattr(module, "main", None)
        if callable(run):
            print(f"\n# bench.{name}\n", flush=True)
            run()


if __name__ == "__main__":
    main()
