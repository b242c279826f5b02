"""Score a folder of videos: resumable per-video reports, then ``submission.csv`` with a row for every video.

Layout beside the submission (``<stem>_report/``):

* ``videos/<video_id>.json`` — one report per scored video (:meth:`VideoResult.to_report`), written atomically; a
  rerun skips videos that have one made by the same models (their sha256) and the same video file (resolved path,
  size, mtime), so a killed run over 4000 videos loses at most the video in flight, and a re-exported model, a
  model fixed in place or ``videos=`` pointing at other files of the same names rescore.
* ``predict-shard<i>of<n>.jsonl`` — videos that raised (unreadable file, ...): retried by the next run.
* ``config.yaml`` — the settings that shape the scores; a rerun with different settings refuses to mix reports.
* ``run_report.json`` — fallback rows with their reasons, member failures, the timing report.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from src.inference.pipeline import Predictor, PreparedVideo
from src.inference.timing import TimingReport, timing_report
from src.utils.io import atomic_open, file_identity, read_json, write_json
from src.utils.runner import Provenance, run_stage, select_shard
from src.video.prefetch import ProcessExecutor, limit_threads
from src.video.sources import VideoRecord

log = logging.getLogger(__name__)
STAGE = "predict"
REPORT_SCHEMA_VERSION = 1
STATUS_WORDS = {"no_track": "faces found but too few to form a track"}


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " "))


def video_identity(record: VideoRecord) -> dict[str, object]:
    """Which file was scored: another folder with the same names, or a file replaced in place, is another video."""
    return {"video": {"path": str(Path(record.path).resolve()), **file_identity(record.path)}}


def scoring_provenance(settings: dict) -> Provenance:
    """What makes a video's report: ``settings`` (ensemble, detector, each model's sha256) and the video file."""
    return Provenance(STAGE, REPORT_SCHEMA_VERSION, settings, video_identity)


@dataclass
class RunSummary:
    rows: dict[str, float]  # video_id → submitted score
    fallbacks: dict[str, str]  # video_id → why it got the fallback
    member_failures: list[dict[str, str]] = field(default_factory=list)
    timing: TimingReport | None = None

    def summary(self) -> str:
        return (
            f"predict: {len(self.rows)} rows, {len(self.fallbacks)} with the fallback, "
            f"{len(self.member_failures)} member failures"
        )


def report_path(report_dir: Path, video_id: str) -> Path:
    return report_dir / "videos" / f"{video_id}.json"


def check_settings(report_dir: Path, settings: str, overwrite: bool) -> None:
    """Refuse to resume into reports made with other settings (their scores would be mixed into one submission)."""
    path = report_dir / "config.yaml"
    if path.is_file() and not overwrite and path.read_text(encoding="utf-8") != settings:
        raise SystemExit(
            f"{report_dir}: holds reports made with other settings ({path}); choose another out= or pass "
            "overwrite=true to score every video again"
        )
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(settings)


def predict_videos(
    records: Sequence[VideoRecord],
    predictor: Predictor,
    out: Path,
    report_dir: Path,
    fallback: float,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    retry_failed: bool = True,
    progress: bool = True,
    prefetch: int = 1,
    time_limit: float | None = None,
    settings: dict | None = None,
    workers: int = 0,
) -> RunSummary:
    """Score this shard's unscored videos, then write the submission for all ``records`` (see the module doc).

    ``prefetch`` videos are prepared (decoded, detected, tracked, crops cut) ahead while the current one is scored:
    in ``workers`` spawned processes (the preparer must pickle; this process keeps the cores they leave for torch)
    or, with ``workers=0``, in one background thread.
    After ``time_limit`` seconds no new video is started: the rest get the fallback (and are scored by a rerun), so
    a run under a deadline (Kaggle's 9 hours) still ends with a complete submission. Ctrl-C (and SIGTERM, see
    ``src.utils.signals``) also writes it. ``settings`` (with each model's sha256) go into every report's fingerprint.
    """
    provenance = scoring_provenance(settings or {})
    timings: list[dict[str, float]] = []
    output = lambda r: report_path(report_dir, r.video_id)  # noqa: E731
    order = select_shard(records, shard, num_shards, key=lambda r: r.video_id)
    if workers > 0:
        log.info("%d preparing worker processes, %d torch threads for scoring", workers, size_threads(workers))
    ahead = Prefetcher(predictor.prepare, order, lambda r: output(r).is_file() and not overwrite, prefetch, workers)
    start = time.perf_counter()

    def process(record: VideoRecord) -> None:
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise TimeoutError(f"time limit of {time_limit:g} s reached before this video")
        result = predictor.score(ahead.get(record), record.video_id)
        write_json(output(record), result.to_report() | {"made_by": provenance.made_by(record)})
        timings.append(result.timings)
        if result.status != "ok":
            log.warning("%s: %s, fallback %.2f", record.video_id, status_words(result.status), result.score)

    stage = None
    try:
        stage = run_stage(
            STAGE,
            records,
            process,
            output_path=output,
            key=lambda r: r.video_id,
            report_dir=report_dir,
            shard=shard,
            num_shards=num_shards,
            overwrite=overwrite,
            retry_failed=retry_failed,
            progress=progress,
            provenance=provenance,
            on_change="redo",
        )
    finally:  # interrupted or not: a submission with a row for every video
        ahead.close()
        summary = collect(records, report_dir, fallback, provenance)
        summary.timing = timing_report(timings, time.perf_counter() - start)
        write_submission(out, summary.rows)
        this_run = {"processed": stage.done, "skipped": stage.skipped, "failed": stage.failed} if stage else "stopped"
        write_json(
            report_dir / "run_report.json",
            {
                "submission": str(out),
                "rows": len(summary.rows),
                "fallbacks": summary.fallbacks,
                "member_failures": summary.member_failures,
                "this_run": this_run,
                "timing": summary.timing.to_dict(),
            },
        )
    return summary


class Prefetcher:
    """Prepares (decodes, detects, tracks, cuts crops of) the next ``depth`` unfinished videos of ``order`` ahead:
    in ``workers`` spawned processes, or with ``workers=0`` in one background thread.

    ``get(record)`` returns the record's :class:`PreparedVideo`: prepared ahead if it was queued, now otherwise;
    what the scoring loop waited for it is its ``waited``.
    """

    def __init__(
        self,
        prepare: Callable[[str], PreparedVideo],
        order: Sequence[VideoRecord],
        done: Callable[[VideoRecord], bool],
        depth: int,
        workers: int = 0,
    ):
        self.prepare, self.order, self.done = prepare, list(order), done
        self.depth = max(depth, workers)  # every worker busy
        self.position = {r.video_id: i for i, r in enumerate(self.order)}
        if workers > 0:
            self.pool: ProcessExecutor | ThreadPoolExecutor | None = ProcessExecutor(prepare, workers)
            self._submit = self.pool.submit
        elif depth > 0:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare")
            self._submit = lambda path: self.pool.submit(self.prepare, path)
        else:
            self.pool = None
        self.pending: dict[str, Future] = {}

    def get(self, record: VideoRecord) -> PreparedVideo:
        future = self.pending.pop(record.video_id, None)
        self._queue_after(self.position.get(record.video_id, len(self.order)))
        if future is None:
            return self.prepare(str(record.path))
        start = time.perf_counter()
        video = future.result()
        video.waited = time.perf_counter() - start
        return video

    def _queue_after(self, position: int) -> None:
        if self.pool is None:
            return
        for stale in [v for v in self.pending if self.position[v] < position]:
            self.pending.pop(stale).cancel()
        queued = 0
        for record in self.order[position + 1 :]:
            if queued >= self.depth:
                break
            if self.done(record):
                continue
            if record.video_id not in self.pending:
                self.pending[record.video_id] = self._submit(str(record.path))
            queued += 1

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def size_threads(workers: int) -> int:
    """This process's torch threads: the cores left to it by ``workers`` preparing processes (at least one)."""
    threads = max(1, len(os.sched_getaffinity(0)) - workers)
    limit_threads(threads)
    return threads


def collect(
    records: Sequence[VideoRecord], report_dir: Path, fallback: float, provenance: Provenance | None = None
) -> RunSummary:
    """The submitted value of every video: its report's score, or the fallback with the reason.

    With ``provenance``, a report made by other models or another file (not rescored yet: another shard's, or a
    stopped run) gives the fallback too, never its stale score."""
    failures = _failures(report_dir)
    rows, fallbacks, member_failures = {}, {}, []
    for record in sorted(records, key=lambda r: r.video_id):
        path = report_path(report_dir, record.video_id)
        if not path.is_file():
            rows[record.video_id] = fallback
            fallbacks[record.video_id] = failures.get(record.video_id, "not scored yet (other shard or stopped run)")
            continue
        report = read_json(path)
        if provenance is not None and (stale := _stale(report, record, provenance)):
            rows[record.video_id] = fallback
            fallbacks[record.video_id] = stale
            continue
        rows[record.video_id] = float(report["score"])
        if report["status"] != "ok":
            fallbacks[record.video_id] = status_words(report["status"])
        member_failures += [
            {"video_id": record.video_id, "member": m["name"], "error": m["error"]}
            for m in report["members"]
            if m.get("error")
        ]
    return RunSummary(rows, fallbacks, member_failures)


def _stale(report: dict, record: VideoRecord, provenance: Provenance) -> str | None:
    """Why a report cannot be submitted (made by other models or another file), or None."""
    recorded = report.get("made_by")
    if recorded is None:  # scored before reports recorded this: kept (adopted by the run of its shard)
        return None
    try:
        current = provenance.made_by(record)
    except OSError as exc:
        return f"{record.path}: {exc.strerror or exc}"
    if recorded.get("fingerprint") == current["fingerprint"]:
        return None
    return "scored by other models or another file; not rescored yet (other shard or stopped run)"


def write_submission(path: Path, rows: dict[str, float]) -> None:
    """``filename,label`` sorted by filename (the dataset-relative path; a flat folder gives Kaggle's bare names)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "label"])
        for video_id in sorted(rows):
            writer.writerow([video_id, repr(float(rows[video_id]))])


def _failures(report_dir: Path) -> dict[str, str]:
    out = {}
    for path in sorted(report_dir.glob(f"{STAGE}-shard*of*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    out[row["video_id"]] = row["error"]
    return out
