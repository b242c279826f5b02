"""CPU seconds per video of prediction's stages against decoding alone: the bound on the throughput ratio that
``bench/predict.py`` measures, and peak memory over many videos.

python bench/predict_cpu.py [ensemble=tiny] [passes=1]

One process, one torch/OpenCV thread and one decoder thread, as a preparing worker runs. For each DFDC video of
../shared/realvideos (warm, after one untimed video): ``time.process_time`` of the decode-only floor (the frames the
ensemble samples, as in ``bench/predict.py``), of ``FacePreparer`` (decode, detect, track, cut) and of scoring. With
every core busy in both runs, predict / decode-only throughput cannot exceed floor / (prepare + score). ``passes``
repeats the videos; the peak RSS after each pass shows whether memory settles.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, machine, markdown_table
from bench.predict import MODELS, DecodeOnly, build_predictor
from src.utils.cli import parse_args, setting
from src.video.io import set_decode_threads
from src.video.prefetch import limit_threads


@dataclass
class PredictCPUBenchSettings:
    ensemble: str = setting("tiny", f"one of {sorted(MODELS)}")
    passes: int = setting(1, "passes over the videos (peak memory is printed after each)")


def cpu_seconds(fn, *args):
    """``(CPU seconds of this process, result)`` of ``fn(*args)``."""
    start = time.process_time()
    result = fn(*args)
    return time.process_time() - start, result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(PredictCPUBenchSettings, argv, "python bench/predict_cpu.py", __doc__)
    videos = sorted((SHARED / "realvideos" / "dfdc").glob("*.mp4"))
    if not videos:
        raise SystemExit(f"{SHARED / 'realvideos' / 'dfdc'}: no benchmark videos")
    limit_threads(1)
    set_decode_threads(1)
    predictor = build_predictor(args.ensemble, torch.device("cpu"), [])
    floor = DecodeOnly(predictor.prepare.sampling, predictor.prepare.chunk)
    predictor.score(predictor.prepare(str(videos[0])), "warm-up")
    rows, totals = [], []
    for n in range(args.passes):
        for video in videos:
            decode, _ = cpu_seconds(floor, str(video))
            prepare, prepared = cpu_seconds(predictor.prepare, str(video))
            score, _ = cpu_seconds(predictor.score, prepared, video.stem)
            totals.append((decode, prepare, prepared.seconds.get("detect", 0.0), score))
            if n == 0:
                rows.append([video.stem, *(f"{v:.2f}" for v in totals[-1]), f"{decode / (prepare + score):.2f}"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"pass {n + 1}: {len(videos) * (n + 1)} videos, peak RSS {peak:.2f} GB", flush=True)
    decode, prepare, detect, score = np.mean(totals, axis=0)
    bound = decode / (prepare + score)
    rows.append(["**mean**", *(f"{v:.2f}" for v in (decode, prepare, detect, score)), f"**{bound:.2f}**"])
    print(f"\n{machine()}; ensemble {args.ensemble}, detector {predictor.detector.name}")
    print(markdown_table(HEADER, rows))


HEADER = ["video", "floor CPU-s", "prepare CPU-s", "of which detect (wall)", "score CPU-s",
          "bound floor / (prepare + score)"]  # fmt: skip


if __name__ == "__main__":
    main()
