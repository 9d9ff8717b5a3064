"""``python benches/devsuite [n_clean]``: build every dev case and print a one-line summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import devsuite

n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
t0 = time.perf_counter()
for c in devsuite.all_cases(n_clean=n):
    roles = dict(c.df["role"].value_counts().iter_rows())
    extra = ", ".join(f"{k} {v}" for k, v in sorted(roles.items()) if k not in ("clean", "poison"))
    print(
        f"{c.name:30s} {c.family:20s} {c.mix:9s} {c.format:17s} rows={c.df.height:6d} "
        f"poison={c.n_poison:4d} {extra:32s} triggers={c.triggers[:5]}"
    )
print(f"built {len(devsuite.CASE_SPECS)} cases in {time.perf_counter() - t0:.1f}s")
