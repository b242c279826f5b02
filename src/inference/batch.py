"""Score a folder of videos: resumable per-video reports, then ``submission.csv`` with a row for every video.

Layout beside the submission (``<stem>_report/``):

* ``videos/<video_id>.json`` — one report per scored video (:meth:`VideoResult.to_report`), written atomically; a
  rerun skips videos that have one, so a killed run over 4000 videos loses at most the video in flight.
* ``predict-shard<i>of<n>.jsonl`` — videos that raised (unreadable file, ...): retried by the next run.
* ``config.yaml`` — the settings that shape the scores; a rerun with different settings refuses to mix reports.
* ``run_report.json`` — fallback rows with their reasons, member failures, the timing report.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from src.inference.pipeline import VideoResult
from src.inference.timing import TimingReport, timing_report
from src.preprocess.datasets import VideoRecord
from src.preprocess.runner import run_stage
from src.utils.io import atomic_open, read_json, write_json

log = logging.getLogger(__name__)
STAGE = "predict"


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
    predict: Callable[[str, str], VideoResult],
    out: Path,
    report_dir: Path,
    fallback: float,
    shard: int = 0,
    num_shards: int = 1,
    overwrite: bool = False,
    retry_failed: bool = True,
    progress: bool = True,
) -> RunSummary:
    """Score this shard's unscored videos, then write the submission for all ``records`` (see the module doc)."""
    timings: list[dict[str, float]] = []

    def process(record: VideoRecord) -> None:
        result = predict(str(record.path), record.video_id)
        write_json(report_path(report_dir, record.video_id), result.to_report())
        timings.append(result.timings)
        if result.status != "ok":
            log.warning("%s: %s, fallback %.2f", record.video_id, result.status.replace("_", " "), result.score)

    stage = run_stage(
        STAGE,
        records,
        process,
        output_path=lambda r: report_path(report_dir, r.video_id),
        key=lambda r: r.video_id,
        report_dir=report_dir,
        shard=shard,
        num_shards=num_shards,
        overwrite=overwrite,
        retry_failed=retry_failed,
        progress=progress,
    )
    summary = collect(records, report_dir, fallback)
    summary.timing = timing_report(timings, stage.seconds)
    write_submission(out, summary.rows)
    write_json(
        report_dir / "run_report.json",
        {
            "submission": str(out),
            "rows": len(summary.rows),
            "fallbacks": summary.fallbacks,
            "member_failures": summary.member_failures,
            "this_run": {"processed": stage.done, "skipped": stage.skipped, "failed": stage.failed},
            "timing": summary.timing.to_dict(),
        },
    )
    return summary


def collect(records: Sequence[VideoRecord], report_dir: Path, fallback: float) -> RunSummary:
    """The submitted value of every video: its report's score, or the fallback with the reason."""
    failures = _failures(report_dir)
    rows, fallbacks, member_failures = {}, {}, []
    for record in sorted(records, key=lambda r: r.video_id):
        path = report_path(report_dir, record.video_id)
        if not path.is_file():
            rows[record.video_id] = fallback
            fallbacks[record.video_id] = failures.get(record.video_id, "not scored yet (other shard or stopped run)")
            continue
        report = read_json(path)
        rows[record.video_id] = float(report["score"])
        if report["status"] != "ok":
            fallbacks[record.video_id] = report["status"].replace("_", " ")
        member_failures += [
            {"video_id": record.video_id, "member": m["name"], "error": m["error"]}
            for m in report["members"]
            if m.get("error")
        ]
    return RunSummary(rows, fallbacks, member_failures)


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
