"""Where a prediction run spends its time, against the DFDC budget: about 4000 videos in 9 hours on one P100."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

KAGGLE_VIDEOS = 4000
KAGGLE_HOURS = 9.0
BUDGET_S_PER_VIDEO = KAGGLE_HOURS * 3600 / KAGGLE_VIDEOS  # 8.1 s
STAGES = ("wait", "decode", "detect", "track", "cut", "crop", "model", "aggregate")


@dataclass
class StageTimer:
    """Seconds spent per stage of one video; ``with timer("detect"): ...`` adds to a stage."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


@dataclass
class TimingReport:
    """Mean seconds per video and stage. ``decode``, ``detect``, ``track`` and ``cut`` (cutting the crops out of the
    frames) are the preparation, done ahead by a prefetch thread or worker processes while earlier videos are scored;
    ``wait`` is what the scoring loop waited for it. Stages overlap, so they can sum to more than the wall time: the
    wall time per video is the throughput."""

    videos: int
    wall_seconds: float
    stage_seconds: dict[str, float]  # mean seconds per video and stage

    @property
    def seconds_per_video(self) -> float:
        return self.wall_seconds / self.videos if self.videos else float("nan")

    @property
    def projected_hours(self) -> float:
        """Time for the 4000 videos of the DFDC test set at this run's pace."""
        return self.seconds_per_video * KAGGLE_VIDEOS / 3600

    def summary(self) -> str:
        if not self.videos:
            return "timing: no video was processed in this run"
        split = ", ".join(f"{k} {v:.2f}" for k, v in self.stage_seconds.items())
        verdict = "within" if self.seconds_per_video <= BUDGET_S_PER_VIDEO else "OVER"
        return (
            f"timing: {self.videos} videos in {self.wall_seconds:.1f} s = {self.videos / self.wall_seconds:.3f} "
            f"videos/s, {self.seconds_per_video:.2f} s/video ({split} s/video); 4000 videos ≈ "
            f"{self.projected_hours:.2f} h, {verdict} the {BUDGET_S_PER_VIDEO:.1f} s/video ({KAGGLE_HOURS:g} h) budget"
        )

    def to_dict(self) -> dict:
        return {
            "videos": self.videos,
            "wall_seconds": self.wall_seconds,
            "videos_per_second": self.videos / self.wall_seconds if self.wall_seconds else None,
            "seconds_per_video": self.seconds_per_video if self.videos else None,
            "stage_seconds_per_video": self.stage_seconds,
            "projected_hours_4000_videos": self.projected_hours if self.videos else None,
            "budget_seconds_per_video": BUDGET_S_PER_VIDEO,
        }


def timing_report(per_video: Sequence[Mapping[str, float]], wall_seconds: float) -> TimingReport:
    """Mean stage split over the videos of a run; the wall time also covers what no stage timed (I/O, reports)."""
    n = len(per_video)
    stages = [s for s in STAGES if any(s in t for t in per_video)]
    stages += sorted({s for t in per_video for s in t} - set(STAGES) - {"total"})
    means = {s: sum(t.get(s, 0.0) for t in per_video) / n for s in stages} if n else {}
    return TimingReport(n, wall_seconds, means)
