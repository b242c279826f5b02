"""Prediction speed per video with the stage split, against the DFDC budget (4000 videos in 9 h: 8.1 s/video).

python bench/predict.py [videos=3] [ensembles=[ntech,tiny]] [prefetch=[0,1]] [device=auto] [predict=[detector=dsfd]]

Ensembles are the real configs (sampling, detector, tracker, crops, rule) scoring through exported models of the real
architectures with random weights (``src.inference.untrained``): ``ntech`` = NTechLab's 3 x EfficientNet-B7 at
224x192 (the sequence model and the two frame models), ``tiny`` = the same recipe with timm's test EfficientNet.
Speed does not depend on the weights. Runs on the first ``videos`` DFDC videos of ../shared/realvideos (10 s,
1080p or 720p).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, machine, markdown_table
from src.faces.detectors.torch_detector import resolve_device
from src.inference.batch import predict_videos
from src.inference.pipeline import Predictor
from src.inference.timing import BUDGET_S_PER_VIDEO
from src.inference.untrained import export_untrained
from src.utils.cli import parse_args, setting
from src.utils.config import compose_config
from src.video.sources import FolderSource

MODELS = {  # ensemble → member file name → training model config overrides (exported with random weights)
    "ntech": {
        "ntech_seq": ["model=b7_seq"],
        "ntech_large_crop": ["model=b7_frame_large_crop"],
        "ntech_re": ["model=b7_frame_re"],
    },
    "tiny": {"tiny_seq": ["model=tiny"], "tiny_frame": ["model=tiny", "model.net.seq_length=null"]},
}


def ensemble_config(name: str, models_dir: Path, overrides: list[str]):
    for member, model in MODELS[name].items():
        export_untrained(models_dir, member, model)
    return compose_config("predict", [f"ensemble={name}", "videos=.", f"models_dir={models_dir}", *overrides])


@dataclass
class PredictBenchSettings:
    videos: int = setting(3, "how many DFDC videos (10 s each)")
    ensembles: list[str] = setting(["ntech", "tiny"], f"any of {sorted(MODELS)}")
    prefetch: list[int] = setting([1], "decode-ahead depths to compare")
    device: str = setting("auto", "auto, cpu, cuda, cuda:1")
    predict: list[str] = setting([], "predict.yaml overrides, e.g. predict=[detector=retinaface_mnet]")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(PredictBenchSettings, argv, "python bench/predict.py", __doc__)
    if unknown := sorted(set(args.ensembles) - set(MODELS)):
        raise SystemExit(f"python bench/predict.py: unknown ensembles {unknown}; choose from {sorted(MODELS)}")
    videos = SHARED / "realvideos" / "dfdc"
    records = FolderSource(videos).records()[: args.videos]
    if not records:
        raise SystemExit(f"{videos}: no benchmark videos")
    device = resolve_device(args.device)
    rows = []
    for name in args.ensembles:
        with tempfile.TemporaryDirectory() as models:
            cfg = ensemble_config(name, Path(models), args.predict)
            ensemble = instantiate(cfg.ensemble)
        predictor = Predictor(ensemble, instantiate(cfg.detector), device, device.type == "cuda", cfg.detect_batch)
        for prefetch in args.prefetch:
            with tempfile.TemporaryDirectory() as tmp:
                # one untimed warm-up video (allocations, cuDNN autotuning), then the timed run
                predict_videos(records[:1], predictor, Path(tmp) / "w.csv", Path(tmp) / "w", 0.5, progress=False)
                summary = predict_videos(
                    records, predictor, Path(tmp) / "s.csv", Path(tmp) / "r", 0.5, prefetch=prefetch
                )
            timing = summary.timing
            split = timing.stage_seconds
            rows.append(
                [
                    f"{name} ({len(ensemble.members)} models)",
                    cfg.detector._target_.rsplit(".", 1)[-1],
                    device.type + (" fp16" if device.type == "cuda" else " fp32"),
                    prefetch,
                    timing.videos,
                    f"{timing.seconds_per_video:.2f}",
                    *(
                        f"{split.get(s, 0.0):.2f}"
                        for s in ("decode", "decode_ahead", "detect", "track", "crop", "model")
                    ),
                    f"{timing.projected_hours:.1f}",
                    "yes" if timing.seconds_per_video <= BUDGET_S_PER_VIDEO else "no",
                ]
            )
            print(timing.summary(), flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nvideos: first {len(records)} of {videos}; machine: {machine()}; load average at the end: {load}")
    print(f"overrides: {args.predict or 'none'}")
    header = ["ensemble", "detector", "device", "prefetch", "videos", "s/video", "decode", "decode ahead", "detect",
              "track", "crop", "model", "4000 videos (h)", f"≤ {BUDGET_S_PER_VIDEO:.1f} s"]  # fmt: skip
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
