"""The ``probe`` stage: open every video once and record its properties (``probe/<video_id>.json``)."""

from __future__ import annotations

from pathlib import Path

from src.preprocess.runner import StageContext
from src.utils.io import write_json
from src.utils.runner import StageReport
from src.video.io import probe
from src.video.sources import VideoRecord


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
