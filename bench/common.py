"""Helpers shared by the benchmarks: where the data is, the machine description, a markdown table."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from src.utils.paths import REPO_ROOT

SHARED = Path(os.environ.get("DFDETECT_SHARED", REPO_ROOT.parent / "shared"))
DFDC_1080P = SHARED / "realvideos" / "dfdc" / "abofeumbvv.mp4"


def machine() -> str:
    import torch

    cpu = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    if torch.cuda.is_available():
        return f"{cpu}, {torch.cuda.get_device_name(0)}"
    return f"{cpu}, no GPU, torch threads {torch.get_num_threads()}"


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
