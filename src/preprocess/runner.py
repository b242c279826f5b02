"""The preprocessing stages' shared context and runner: one artifact per video per stage, sharded and resumable.

``conf/preprocess.yaml`` lists the stages by name (``stages.<name>``) and the order to run them (``run``); every
stage function has the signature ``stage(ctx: StageContext, **its_config) -> StageReport``. The stages, in data-flow
order: :mod:`probe <src.preprocess.probe>` → :mod:`detect <src.preprocess.detect>` →
:mod:`track <src.preprocess.track>` → :mod:`extract <src.preprocess.extract>` → :mod:`index <src.preprocess.index>`.

Each stage describes what makes its artifacts with :meth:`StageContext.provenance` (its settings, schema version
and inputs: the video file for probe and detect, the upstream artifact's fingerprint after that) and stores
``made_by(record)`` in every artifact; a rerun with other settings refuses or redoes (``on_change``), never mixes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from src.utils.io import file_identity, read_json, read_made_by
from src.utils.runner import OnChange, Provenance, StageReport, run_stage
from src.video.io import VideoInfo, probe
from src.video.sources import VideoRecord

log = logging.getLogger(__name__)

SKIPPED = "skipped, "

PIPELINE = ("probe", "detect", "track", "extract")  # a video's first failed stage is the root cause of later ones
RUNTIME_SETTINGS = ("device", "batch_size")  # where and how fast, not what: changing them redoes nothing


def shaping(config: dict) -> dict:
    """A component's ``config`` without the settings that do not change its output."""
    return {k: v for k, v in config.items() if k not in RUNTIME_SETTINGS}


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
    on_change: OnChange = "refuse"

    @property
    def report_dir(self) -> Path:
        return self.work_dir / "reports"

    def artifact(self, stage: str, record: VideoRecord, suffix: str) -> Path:
        """``<work_dir>/<stage>/<video_id><suffix>``: one artifact per video per stage."""
        return self.work_dir / stage / f"{record.video_id}{suffix}"

    def provenance(
        self, stage: str, schema_version: int, settings: dict, upstream: tuple[str, str] | None = None
    ) -> Provenance:
        """What makes ``stage``'s artifacts: ``settings`` and the video file itself, or with ``upstream=(folder,
        suffix)`` the fingerprint of the artifact an earlier stage made for the video (which covers the video)."""
        if upstream is None:
            return Provenance(stage, schema_version, settings, lambda r: {"video": file_identity(r.path)})
        folder, suffix = upstream
        return Provenance(stage, schema_version, settings, lambda r: {folder: self.fingerprint(folder, r, suffix)})

    def fingerprint(self, folder: str, record: VideoRecord, suffix: str) -> str | None:
        """The fingerprint recorded in a video's artifact under ``folder`` (None: absent or made before records)."""
        path = self.artifact(folder, record, suffix)
        made_by = read_made_by(path) if path.is_file() else None
        return made_by.get("fingerprint") if made_by else None

    def run(self, name: str, process, output_path, provenance: Provenance | None = None) -> StageReport:
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
            provenance=provenance,
            on_change=self.on_change,
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


class Upstream:
    """Reads what earlier stages left for a video, with one clear error when it is missing."""

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self._failures: dict[str, dict[str, str]] = {}

    def failure(self, stage: str, video_id: str) -> str | None:
        """The error a stage reported for a video (any shard), or None."""
        if stage not in self._failures:
            failed = {}
            for path in sorted(self.ctx.report_dir.glob(f"{stage}-shard*.jsonl")):
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        row = json.loads(line)
                        failed[row["video_id"]] = row["error"]
            self._failures[stage] = failed
        return self._failures[stage].get(video_id)

    def root_failure(self, video_id: str, stages: tuple[str, ...] = PIPELINE) -> str | None:
        """``<stage> failed: <cause>`` for the first of ``stages`` that reported this video, or None."""
        for stage in stages:
            if (cause := self.failure(stage, video_id)) and not cause.startswith(SKIPPED):
                return f"{stage} failed: {cause}"
        return None

    def require(self, stage: str, folder: str, record: VideoRecord, suffix: str) -> Path:
        """The artifact ``stage`` wrote for ``record``; if absent, an error naming why (an earlier failure)."""
        path = self.ctx.artifact(folder, record, suffix)
        if path.is_file():
            return path
        cause = self.root_failure(record.video_id, PIPELINE[: PIPELINE.index(stage) + 1])
        if cause:
            raise FileNotFoundError(f"{SKIPPED}{cause}")
        raise FileNotFoundError(f"{path}: missing; run the {stage} stage for this video first")

    def info(self, record: VideoRecord) -> VideoInfo:
        """The probe stage's result for ``record``, or a fresh probe if that stage did not run."""
        return probed_info(self.ctx, record) or probe(record.path)


def probed_info(ctx: StageContext, record: VideoRecord) -> VideoInfo | None:
    """The probe stage's result for ``record`` if it ran, so the file is not scanned twice."""
    path = ctx.artifact("probe", record, ".json")
    if not path.is_file():
        return None
    return VideoInfo.from_dict(read_json(path)["info"])
