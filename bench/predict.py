"""Prediction throughput over many videos against decode-only throughput of the same frames, with peak memory.

python bench/predict.py [videos=20] [ensembles=[tiny]] [workers=[0,2]] [repeats=2] [device=auto] [predict=[...]]

For each ensemble and number of preparing worker processes, ``repeats`` pairs of runs back to back, each in a
fresh process: decode-only (the frames the ensemble samples, PyAV, as the preparation decodes them) and
predict (preparation in the workers, models in the main process); the ratio of the two throughputs is the row's
result (robust to a machine shared with other jobs; the load average is printed beside it). Peak RSS: the main
process and the largest worker. Stage columns are mean seconds per video; preparation stages run in the workers
and overlap.

Ensembles are the real configs (sampling, detector, tracker, crops, rule) scoring through exported models of the real
architectures with random weights (``src.inference.untrained``): ``ntech`` = NTechLab's 3 x EfficientNet-B7 at
224x192 (the sequence model and the two frame models), ``tiny`` = the same recipe with timm's test EfficientNet.
Speed does not depend on the weights. Videos: the DFDC videos of ../shared/realvideos (10 s, 1080p), repeated
(symlinks under new names) up to ``videos``.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED, machine, markdown_table
from src.faces.detectors.torch_detector import resolve_device
from src.inference.batch import predict_videos
from src.inference.pipeline import Predictor
from src.inference.untrained import export_untrained
from src.utils.cli import parse_args, setting
from src.utils.config import compose_config
from src.video.io import open_video, probe
from src.video.prefetch import ProcessExecutor
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


def build_predictor(name: str, device: torch.device, overrides: list[str]) -> Predictor:
    """The ensemble ``name`` (members exported with random weights) and its detector, ready to run on ``device``."""
    with tempfile.TemporaryDirectory() as models:
        cfg = ensemble_config(name, Path(models), overrides)
        ensemble = instantiate(cfg.ensemble)
    return Predictor(ensemble, instantiate(cfg.detector), device, device.type == "cuda", cfg.detect_batch)


@dataclass(frozen=True)
class DecodeOnly:
    """The floor: decode the frames the ensemble samples (PyAV, in the preparer's chunks), nothing else."""

    sampling: object
    chunk: int

    def __call__(self, path: str) -> int:
        info = probe(path)
        with open_video(path, "pyav", info) as reader:
            return sum(len(i) for i, _ in reader.iter_chunk_lists(self.chunk, self.sampling(info)))


def decode_rate(preparer, records, workers: int) -> float:
    """Videos/s of decoding alone as prediction's preparation runs: in ``workers`` processes, all in flight (the
    time includes starting them, as the predict run's does), one decoder thread each; with ``workers=0`` in this
    process with FFmpeg's frame threads (the one-thread path's decoding)."""
    decode = DecodeOnly(preparer.sampling, preparer.chunk)
    start = time.perf_counter()
    if workers == 0:
        for record in records:
            decode(str(record.path))
        return len(records) / (time.perf_counter() - start)
    pool = ProcessExecutor(decode, workers)
    try:
        for future in [pool.submit(str(r.path)) for r in records]:
            future.result()
        return len(records) / (time.perf_counter() - start)
    finally:
        pool.shutdown()


def measure(name: str, mode: str, workers: int, records, device_type: str, overrides: list[str]) -> dict:
    """One row, in a fresh process (its peak RSS and its workers' are this run's): ``predict`` or ``decode``."""
    predictor = build_predictor(name, torch.device(device_type), overrides)
    load = os.getloadavg()[0]
    out = {"load": load}
    if mode == "decode":
        out["videos_per_s"] = decode_rate(predictor.prepare, records, workers)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            # one untimed warm-up video (allocations, cuDNN autotuning), then the timed run
            predict_videos(records[:1], predictor, Path(tmp) / "w.csv", Path(tmp) / "w", 0.5, progress=False, workers=1)
            summary = predict_videos(
                records, predictor, Path(tmp) / "s.csv", Path(tmp) / "r", 0.5, progress=False, workers=workers
            )
        out["videos_per_s"] = summary.timing.videos / summary.timing.wall_seconds
        out["split"] = summary.timing.stage_seconds
        out["threads"] = torch.get_num_threads()
    out["load"] = (load + os.getloadavg()[0]) / 2
    out["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["worker_peak_gb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return out


def repeated_records(count: int) -> list:
    """``count`` videos: the DFDC videos of ../shared/realvideos, repeated under new names (symlinks)."""
    videos = SHARED / "realvideos" / "dfdc"
    sources = FolderSource(videos).records()
    if not sources:
        raise SystemExit(f"{videos}: no benchmark videos")
    folder = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    for i in range(count):
        source = sources[i % len(sources)].path
        (folder / f"{i:03d}_{Path(source).name}").symlink_to(source)
    return FolderSource(folder).records()


@dataclass
class PredictBenchSettings:
    videos: int = setting(20, "how many videos (the DFDC videos of the real-video set, repeated)")
    ensembles: list[str] = setting(["tiny"], f"any of {sorted(MODELS)}")
    workers: list[int] = setting([2], "preparing processes to compare (0: one background thread)")
    repeats: int = setting(2, "decode-only/predict pairs, back to back")
    device: str = setting("auto", "auto, cpu, cuda, cuda:1")
    predict: list[str] = setting([], "predict.yaml overrides, e.g. predict=[detector=retinaface_mnet]")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(PredictBenchSettings, argv, "python bench/predict.py", __doc__)
    if unknown := sorted(set(args.ensembles) - set(MODELS)):
        raise SystemExit(f"python bench/predict.py: unknown ensembles {unknown}; choose from {sorted(MODELS)}")
    records = repeated_records(args.videos)
    device = str(resolve_device(args.device))
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for name in args.ensembles:
        for workers in args.workers:
            for repeat in range(args.repeats):
                runs = {}
                for mode in ("decode", "predict"):
                    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                        runs[mode] = pool.submit(measure, name, mode, workers, records, device, args.predict).result()
                run, floor = runs["predict"], runs["decode"]
                split = run["split"]
                rows.append(
                    [
                        name, cfg_detector(args.predict), device, workers, run["threads"], repeat + 1, len(records),
                        f"{floor['videos_per_s']:.3f}", f"{run['videos_per_s']:.3f}",
                        f"{run['videos_per_s'] / floor['videos_per_s']:.2f}",
                        *(f"{split.get(s, 0.0):.2f}" for s in ("wait", "decode", "detect", "cut", "crop", "model")),
                        f"{run['peak_gb']:.2f} / {run['worker_peak_gb']:.2f}",
                        f"{floor['load']:.1f} / {run['load']:.1f}",
                    ]
                )  # fmt: skip
                print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(f"\nvideos: {len(records)} (the DFDC videos of {SHARED / 'realvideos' / 'dfdc'}, repeated); {machine()}")
    print(f"overrides: {args.predict or 'none'}")
    print(markdown_table(HEADER, rows))


def cfg_detector(overrides: list[str]) -> str:
    return next((o.split("=", 1)[1] for o in overrides if o.startswith("detector=")), "mtcnn")


HEADER = ["ensemble", "detector", "device", "workers", "torch threads", "run", "videos", "decode-only videos/s",
          "predict videos/s", "ratio", "wait", "decode", "detect", "cut", "crop", "model",
          "peak RSS GB main / worker", "load avg decode / predict"]  # fmt: skip


if __name__ == "__main__":
    main()
