"""Run one preprocessing stage over many videos: sharded, resumable, failure-tolerant, with a progress bar.

A stage is a function ``process(record) -> None`` that writes one artifact per video atomically (``src.utils.io``).
The runner:

* takes a deterministic shard of the sorted work list (``shard=i num_shards=n`` splits it into ``n`` disjoint
  parts whose union is the whole list, whatever the machine or the order the files were listed in), optionally
  keeping groups of items (a fake and its original) in one shard;
* skips items whose artifact already exists and was made by the same settings and inputs, so a rerun after a kill
  finishes only the rest. With a :class:`Provenance`, each artifact records what made it (``made_by``: the stage's
  settings, schema version, the identity of its inputs and a fingerprint of all three); an artifact made otherwise
  is redone (``on_change="redo"``) or the stage refuses to start with one line naming the difference
  (``on_change="refuse"``, the default: a changed setting must not silently redo 119k videos, nor mix with them).
  Artifacts written before artifacts recorded this are adopted: stamped with today's settings, with one warning;
* takes a lock per item (``src.utils.io.item_lock``), so two processes given the same shard never make the same
  artifact, and removes only temporaries whose writer is gone (never another shard's file in flight);
* catches each item's exception, writes it as one line ``<video_id>: <cause>`` to the log and to a JSONL report,
  and goes on; failed items are retried by the next run unless ``retry_failed=False``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from tqdm.auto import tqdm

from src.utils.config import one_line
from src.utils.io import atomic_open, item_lock, json_default, read_made_by, remove_stale_temporaries, stamp_made_by

log = logging.getLogger(__name__)
T = TypeVar("T")
OnChange = Literal["refuse", "redo"]
# Errors after which every further item would fail the same way: stop the stage instead of failing them all.
FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


class SettingsChanged(RuntimeError):
    """Finished artifacts were made with other settings or inputs and the run was told not to redo them."""


@dataclass
class Provenance:
    """What makes a stage's artifacts: the stage's settings and schema version, and per item the identity of its
    inputs (``inputs(item)``: a video's size and mtime, an upstream artifact's fingerprint). ``made_by(item)`` is
    the record an artifact stores; its ``fingerprint`` changes whenever any of them does."""

    stage: str
    schema_version: int
    settings: dict[str, Any]
    inputs: Callable[[Any], dict[str, Any]]

    def __post_init__(self) -> None:
        self.settings = json.loads(json.dumps(self.settings, default=json_default, sort_keys=True))

    def made_by(self, item: Any) -> dict[str, Any]:
        body = {
            "stage": self.stage,
            "schema_version": self.schema_version,
            "settings": self.settings,
            "inputs": json.loads(json.dumps(self.inputs(item), default=json_default, sort_keys=True)),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return body | {"fingerprint": digest}


def difference(recorded: dict[str, Any], current: dict[str, Any]) -> str:
    """The first thing that differs between two ``made_by`` records, in words (``tracker.clip_length: 50 -> 16``)."""
    if recorded.get("schema_version") != current["schema_version"]:
        return f"schema version {recorded.get('schema_version')} -> {current['schema_version']}"
    old, new = _flatten(recorded.get("settings", {})), _flatten(current["settings"])
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}"
    old, new = _flatten(recorded.get("inputs", {})), _flatten(current["inputs"])
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return f"input changed ({', '.join(changed) or 'identity'})"


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out |= _flatten(value, f"{prefix}{key}.")
    return out


@dataclass
class StageReport:
    stage: str
    total: int = 0
    done: int = 0
    skipped: int = 0
    adopted: int = 0  # finished before artifacts recorded their settings: stamped with today's
    redone: int = 0  # made with other settings or inputs and made again (on_change=redo)
    busy: int = 0  # being made by another process holding its lock
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    stats: dict[str, object] = field(default_factory=dict)  # what the stage made (tracks, clips, bytes...)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        made = "".join(f", {key} {value}" for key, value in self.stats.items())
        extra = "".join(
            f", {count} {what}"
            for count, what in ((self.redone, "redone"), (self.adopted, "adopted"), (self.busy, "busy elsewhere"))
            if count
        )
        return (
            f"{self.stage}: {self.total} items, {self.done} processed, {self.skipped} already done, "
            f"{self.failed} failed{extra} ({self.seconds:.1f} s, {rate:.2f} items/s){made}"
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
    provenance: Provenance | None = None,
    on_change: OnChange = "refuse",
) -> StageReport:
    """Process this shard's items whose artifact is missing or was made otherwise; see the module docstring."""
    if on_change not in ("refuse", "redo"):
        raise ValueError(f"on_change must be refuse or redo, got {on_change!r}")
    selected = select_shard(items, shard, num_shards, key, group)
    report = StageReport(stage=name, total=len(selected))
    report_path = None
    previous_failures: set[str] = set()
    if report_dir is not None:
        report_path = Path(report_dir) / f"{name}-shard{shard}of{num_shards}.jsonl"
        previous_failures = _read_failures(report_path)
    todo, changed = [], []
    for item in selected:
        if not retry_failed and key(item) in previous_failures:
            report.skipped += 1
            continue
        state = "missing" if overwrite else _state(output_path(item), item, provenance, report)
        if state == "finished":
            report.skipped += 1
        elif state == "missing":
            todo.append(item)
        else:
            changed.append((item, state))
    if report.adopted:
        log.warning(
            "%s: adopted %d artifacts written before artifacts recorded their settings (assumed made with today's "
            "settings; overwrite=true rebuilds them)",
            name,
            report.adopted,
        )
    if changed:
        item, why = changed[0]
        what = f"{len(changed)} finished {name} artifacts were made with other settings or inputs ({why}; e.g. "
        if on_change == "refuse":
            raise SettingsChanged(
                f"{what}{output_path(item)}); rerun with on_change=redo to remake them, or write to another work "
                "dir / output"
            )
        log.warning("%s%s): making them again", what, output_path(item))
        todo = sorted(todo + [item for item, _ in changed], key=key)
        report.redone = len(changed)
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
            with item_lock(output_path(item)) as mine:
                if not mine:  # another process (same shard started twice) is making it right now
                    report.busy += 1
                    log.info("%s: %s is being made by another process; skipped", item_key, name)
                    continue
                if not overwrite and _state(output_path(item), item, provenance, None) == "finished":
                    report.skipped += 1  # another process made it since this run listed its work
                    continue
                attempted.add(item_key)
                try:
                    process(item)
                    report.done += 1
                except Exception as exc:  # one bad video must not stop the batch
                    report.failures[item_key] = one_line(exc)
                    log.error("%s: %s failed: %s", item_key, name, report.failures[item_key])
                    log.debug("%s", traceback.format_exc())
                    if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
                        raise  # a full or read-only disk: every further item would fail the same way
            bar.set_postfix(failed=report.failed, refresh=False)
    finally:  # also on Ctrl-C or SIGTERM: what failed so far is recorded, finished artifacts are already in place
        report.seconds = time.perf_counter() - start
        if report_path is not None:
            _write_report(report_path, report, attempted)
    log.info("%s", report.summary())
    return report


def _state(path: Path, item: Any, provenance: Provenance | None, report: StageReport | None) -> str:
    """``finished``, ``missing`` (make it) or, for an artifact made otherwise, what differs.

    An artifact without a ``made_by`` record (written before artifacts recorded one) is adopted when ``report`` is
    given: stamped with today's settings and counted.
    """
    if not path.exists():
        return "missing"
    if provenance is None:
        return "finished"
    try:
        current = provenance.made_by(item)
        recorded = read_made_by(path)
    except Exception as exc:  # an unreadable artifact or input: make it again, the stage reports the cause
        log.debug("%s: cannot compare with the current settings (%s)", path, one_line(exc))
        return "missing"
    if recorded is None:
        if report is None:
            return "missing"
        stamp_made_by(path, current)
        report.adopted += 1
        return "finished"
    if recorded.get("fingerprint") == current["fingerprint"]:
        return "finished"
    return difference(recorded, current)


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
