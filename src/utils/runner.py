"""Run one preprocessing stage over many videos: sharded, resumable, failure-tolerant, with a progress bar.

A stage is a function ``process(record) -> None`` that writes one artifact per video atomically (``src.utils.io``).
The runner:

* takes a deterministic shard of the sorted work list (``shard=i num_shards=n`` splits it into ``n`` disjoint
  parts whose union is the whole list, whatever the machine or the order the files were listed in), optionally
  keeping groups of items (a fake and its original) in one shard;
* skips items whose artifact already exists, so a rerun after a kill finishes only the rest;
* catches each item's exception, writes it as one line ``<video_id>: <cause>`` to the log and to a JSONL report,
  and goes on; failed items are retried by the next run unless ``retry_failed=False``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from src.utils.config import one_line
from src.utils.io import atomic_open, remove_stale_temporaries

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class StageReport:
    stage: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    stats: dict[str, object] = field(default_factory=dict)  # what the stage made (tracks, clips, bytes...)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        made = "".join(f", {key} {value}" for key, value in self.stats.items())
        return (
            f"{self.stage}: {self.total} items, {self.done} processed, {self.skipped} already done, "
            f"{self.failed} failed ({self.seconds:.1f} s, {rate:.2f} items/s){made}"
        )


def select_shard(
    items: Sequence[T],
    shard: int,
    num_shards: int,
    key: Callable[[T], str],
    group: Callable[[T], str] | None = None,
) -> list[T]:
    """The ``shard``-th of ``num_shards`` interleaved slices of ``items`` sorted by ``key``.

    With ``group``, whole groups are dealt out (the sorted group names interleaved), so items of one group always
    share a shard: a fake and its original video are then processed by the same process, stage after stage.
    """
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard must satisfy 0 <= shard < num_shards, got shard={shard} num_shards={num_shards}")
    if group is None:
        return sorted(items, key=key)[shard::num_shards]
    mine = set(sorted({group(item) for item in items})[shard::num_shards])
    return sorted((item for item in items if group(item) in mine), key=key)


def run_stage(
    name: str,
    items: Sequence[T],
    process: Callable[[T], object],
    output_path: Callable[[T], Path],
    key: Callable[[T], str],
    group: Callable[[T], str] | None = None,
    report_dir: Path | None = None,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    retry_failed: bool = True,
    progress: bool = True,
) -> StageReport:
    """Process this shard's items whose ``output_path`` does not exist yet; see the module docstring."""
    selected = select_shard(items, shard, num_shards, key, group)
    report = StageReport(stage=name, total=len(selected))
    report_path = None
    previous_failures: set[str] = set()
    if report_dir is not None:
        report_path = Path(report_dir) / f"{name}-shard{shard}of{num_shards}.jsonl"
        previous_failures = _read_failures(report_path)
    todo = []
    for item in selected:
        finished = output_path(item).exists() and not overwrite
        known_bad = not retry_failed and key(item) in previous_failures
        if finished or known_bad:
            report.skipped += 1
        else:
            todo.append(item)
    outputs = {output_path(item).parent for item in todo}
    for folder in outputs:
        if folder.exists():
            remove_stale_temporaries(folder)

    start = time.perf_counter()
    bar = tqdm(todo, desc=name, unit="video", disable=not progress or not todo, dynamic_ncols=True)
    attempted: set[str] = set()
    try:
        for item in bar:
            item_key = key(item)
            attempted.add(item_key)
            try:
                process(item)
                report.done += 1
            except Exception as exc:  # one bad video must not stop the batch
                report.failures[item_key] = one_line(exc)
                log.error("%s: %s failed: %s", item_key, name, report.failures[item_key])
                log.debug("%s", traceback.format_exc())
            bar.set_postfix(failed=report.failed, refresh=False)
    finally:  # also on Ctrl-C or SIGTERM: what failed so far is recorded, finished artifacts are already in place
        report.seconds = time.perf_counter() - start
        if report_path is not None:
            _write_report(report_path, report, attempted)
    log.info("%s", report.summary())
    return report


def _read_failures(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with open(path, encoding="utf-8") as handle:
        return {json.loads(line)["video_id"] for line in handle if line.strip()}


def _write_report(path: Path, report: StageReport, attempted: set[str]) -> None:
    # Earlier failures stay listed until a run attempts them again; this run's failures replace theirs.
    kept = []
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            kept = [json.loads(line) for line in handle if line.strip()]
    rows = [row for row in kept if row["video_id"] not in attempted]
    rows += [{"video_id": k, "stage": report.stage, "error": v} for k, v in sorted(report.failures.items())]
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
