"""The ``probe`` stage: open every video once and record its properties (``probe/<video_id>.json``)."""

from __future__ import annotations

from pathlib import Path

from src.preprocess.runner import StageContext
from src.utils.io import write_json
from src.utils.runner import StageReport
from src.video.io import probe
from src.video.sources import VideoRecord

PROBE_SCHEMA_VERSION = 1


def probe_stage(ctx: StageContext) -> StageReport:
    """Open every video once and record its properties (``<work>/probe/<video_id>.json``).

    Corrupt, truncated or unreadable files are reported here, before any detector time is spent on them.
    """

    def output(record: VideoRecord) -> Path:
        return ctx.artifact("probe", record, ".json")

    made = ctx.provenance("probe", PROBE_SCHEMA_VERSION, {})

    def process(record: VideoRecord) -> None:
        info = probe(record.path)
        document = {"schema_version": PROBE_SCHEMA_VERSION, "video": record.to_dict(), "info": info.to_dict()}
        write_json(output(record), document | {"made_by": made.made_by(record)})

    return ctx.run("probe", process, output, made)
