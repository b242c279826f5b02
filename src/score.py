"""Is this video fake? ``python -m src.score clip.mp4 [more.mp4 ...] [key=value ...]`` (config: conf/score.yaml).

Prints P(fake) per video and per face track and writes one self-contained HTML report for the run. Arguments with
``=`` are Hydra overrides (``ensemble=robustforensics``, ``faces=whole_frame``, ``models_dir=...``,
``report=out.html``); every other argument is a video file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm.auto import tqdm

from src.faces.detectors.torch_detector import resolve_device
from src.inference.report import write_report
from src.inference.score import ScoredVideo, VideoScorer
from src.utils.config import compose_config, one_line


def score_videos(videos: Sequence[str], cfg: DictConfig) -> tuple[list[ScoredVideo], Path]:
    try:
        device = resolve_device(cfg.device)
        ensemble, detector = instantiate(cfg.ensemble), instantiate(cfg.detector)
        scorer = VideoScorer(ensemble, detector, device, bool(cfg.fp16 and device.type == "cuda"), cfg.detect_batch,
                             cfg.faces)  # fmt: skip
    except (OSError, ValueError, HydraException) as exc:
        raise SystemExit(f"score: {one_line(exc)}") from exc
    scored = []
    for path in tqdm(videos, desc=f"scoring ({ensemble.name} on {device})", unit="video", disable=not cfg.progress):
        scored.append(scorer(path))
        print_video(scored[-1])
    report = Path(cfg.report or time.strftime("score_report_%Y%m%d_%H%M%S.html"))
    members = ", ".join(m.name for m in ensemble.members)
    settings = (f"ensemble {ensemble.name} ({members}); detector {detector.name}; faces={cfg.faces}; device {device}; "
                f"written {time.strftime('%Y-%m-%d %H:%M:%S')}")  # fmt: skip
    return scored, write_report(scored, report, settings)


def print_video(video: ScoredVideo) -> None:
    tqdm.write(f"{video.path}: {video.verdict}")
    tqdm.write(f"  faces: {video.faces_path}")
    for t, track in enumerate(video.tracks):
        per_model = ", ".join(f"{k} {v:.3f}" for k, v in track.member_scores.items() if v is not None)
        score = "–" if track.score is None else f"{track.score:.3f}"
        tqdm.write(f"  track {t} (frames {track.frames[0]}-{track.frames[-1]}): {score}  [{per_model}]")


def main(argv: Sequence[str] | None = None) -> list[ScoredVideo]:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = [a for a in argv if "=" in a and not Path(a).exists()]
    videos = [a for a in argv if a not in overrides]
    if not videos:
        raise SystemExit("usage: python -m src.score VIDEO [VIDEO ...] [ensemble=selim|robustforensics|ntech] "
                         "[faces=auto|detector|whole_frame] [models_dir=models] [report=report.html]")  # fmt: skip
    try:
        cfg = compose_config("score", overrides)
    except HydraException as exc:
        raise SystemExit(f"score: {one_line(exc)}") from exc
    scored, report = score_videos(videos, cfg)
    print(f"report: {report}")
    return scored


if __name__ == "__main__":
    main()
