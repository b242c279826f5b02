"""The stages of ``preprocess.py`` share one context and one runner; each stage is a Hydra ``_partial_`` target.

``conf/preprocess.yaml`` lists the stages by name (``stages.<name>``) and the order to run them (``run``); every
stage function has the signature ``stage(ctx: StageContext, **its_config) -> StageReport``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from src.preprocess.datasets import VideoRecord
from src.preprocess.runner import StageReport, run_stage
from src.preprocess.video import probe
from src.utils.io import write_json

log = logging.getLogger(__name__)


@dataclass
class StageContext:
    """What every stage needs: the videos, where artifacts go, and this run's shard and resume settings."""

    records: list[VideoRecord]
    work_dir: Path
    shard: int = 0
    num_shards: int = 1
    overwrite: bool = False
    retry_failed: bool = True
    progress: bool = True

    @property
    def report_dir(self) -> Path:
        return self.work_dir / "reports"

    def artifact(self, stage: str, record: VideoRecord, suffix: str) -> Path:
        """``<work_dir>/<stage>/<video_id><suffix>``: one artifact per video per stage."""
        return self.work_dir / stage / f"{record.video_id}{suffix}"

    def run(self, name: str, process, output_path) -> StageReport:
        return run_stage(
            name,
            self.records,
            process,
            output_path,
            key=lambda r: r.video_id,
            group=shard_group,
            report_dir=self.report_dir,
            shard=self.shard,
            num_shards=self.num_shards,
            overwrite=self.overwrite,
            retry_failed=self.retry_failed,
            progress=self.progress,
        )


def disk_summary(work_dir: Path) -> str:
    """One line: the bytes under each artifact folder (and file) of ``work_dir``."""
    sizes = []
    for entry in sorted(Path(work_dir).iterdir()) if Path(work_dir).is_dir() else []:
        files = [entry] if entry.is_file() else (p for p in entry.rglob("*") if p.is_file())
        sizes.append(f"{entry.name} {sum(p.stat().st_size for p in files) / 2**20:.1f} MB")
    return f"disk used in {work_dir}: " + (", ".join(sizes) or "nothing yet")


def shard_group(record: VideoRecord) -> str:
    """Videos of one group share a shard: a fake is tracked and cut after its original, by the same process."""
    return record.original or record.video_id


def probe_stage(ctx: StageContext) -> StageReport:
    """Open every video once and record its properties (``<work>/probe/<video_id>.json``).

    Corrupt, truncated or unreadable files are reported here, before any detector time is spent on them.
    """

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("probe", record, ".json")

    def process(record: VideoRecord) -> None:
        info = probe(record.path)
        write_json(output(record), {"schema_version": 1, "video": record.to_dict(), "info": info.to_dict()})

    return ctx.run("probe", process, output)
