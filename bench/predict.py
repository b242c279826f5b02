"""Prediction speed per video with the stage split, against the DFDC budget (4000 videos in 9 h: 8.1 s/video).

python bench/predict.py [--videos 3] [--ensembles ntech tiny] [--prefetch 0 1] [--device auto] [ARGS: overrides]

Ensembles are the real configs (sampling, detector, tracker, crops, rule) scoring through exported models of the real
architectures with random weights (``src.inference.untrained``): ``ntech`` = NTechLab's 3 x EfficientNet-B7 at
224x192 (the sequence model and the two frame models), ``tiny`` = the same recipe with timm's test EfficientNet.
Speed does not depend on the weights. Runs on the first ``--videos`` DFDC videos of ../shared/realvideos (10 s,
1080p or 720p).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO_ROOT, SHARED, machine, markdown_table
from src.inference.batch import predict_videos
from src.inference.pipeline import Predictor
from src.inference.timing import BUDGET_S_PER_VIDEO
from src.inference.untrained import export_untrained
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
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("predict", overrides=[f"ensemble={name}", "videos=.", f"models_dir={models_dir}", *overrides])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=3, help="how many DFDC videos (10 s each)")
    parser.add_argument("--ensembles", nargs="+", default=["ntech", "tiny"], choices=sorted(MODELS))
    parser.add_argument("--prefetch", nargs="+", type=int, default=[1], help="decode-ahead depths to compare")
    parser.add_argument("--device", default="auto")
    parser.add_argument("overrides", nargs="*", help="predict.yaml overrides, e.g. detector=retinaface_mnet")
    args = parser.parse_args()
    videos = SHARED / "realvideos" / "dfdc"
    records = FolderSource(videos).records()[: args.videos]
    if not records:
        raise SystemExit(f"{videos}: no benchmark videos")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    rows = []
    for name in args.ensembles:
        with tempfile.TemporaryDirectory() as models:
            cfg = ensemble_config(name, Path(models), args.overrides)
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
    print(f"overrides: {args.overrides or 'none'}")
    header = ["ensemble", "detector", "device", "prefetch", "videos", "s/video", "decode", "decode ahead", "detect",
              "track", "crop", "model", "4000 videos (h)", f"≤ {BUDGET_S_PER_VIDEO:.1f} s"]  # fmt: skip
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
