"""Training throughput per model: the data pipeline alone (with and without compression augmentation) and the
training step (forward, backward, SGD step), each from the model's own config (conf/model/*.yaml).

python bench/train_step.py [models=[b7_seq,b7_seq_380,...]] [work=work/realvideos] [samples=8] [steps=10]

Data: the clips of a preprocessed dataset (``work``: its ``index.parquet``), or else one aligned pair cut from
the 1080p DFDC video in ../shared (a 320×320 face-sized crop, 50 frames, the extract stage's encoder settings).
The pipeline is timed in one process with one torch thread, i.e. per data-loader worker. The step runs on the GPU
when there is one (the recipe's batch, ``16-mixed`` autocast, channels-last), else on the CPU with one clip per
step (gradient checkpointing from 380 px on, which the CPU's memory needs). Each model's step runs in a fresh
process: the peak memory column is that process's peak RSS (CPU) or the GPU's peak allocation.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra.utils import instantiate

from bench.common import DFDC_1080P, REPO_ROOT, machine, markdown_table
from src.datamodules.index import read_clip_index, split_by_column
from src.models.module import to_channels_last
from src.utils.cli import parse_args, setting
from src.utils.config import compose_config
from src.video.io import open_video, write_video

MODELS = ["b7_seq", "b7_seq_380", "b7_seq_416", "b7_frame_large_crop", "b7_frame_re", "tiny"]


def model_config(name: str, *overrides: str):
    cfg = compose_config("train", [f"model={name}", f"paths.root_dir={REPO_ROOT}", "output_dir=.", *overrides])
    return cfg.model


def bench_clips(folder: Path) -> tuple[pd.DataFrame, Path]:
    """One aligned pair of 50-frame 320×320 clips cut from the DFDC benchmark video."""
    if not DFDC_1080P.is_file():
        raise SystemExit(f"{DFDC_1080P}: benchmark video not found (set work=DIR, a preprocessed dataset)")
    with open_video(DFDC_1080P, "pyav") as reader:
        frames = reader.read(range(60, 110))[:, 200:520, 800:1120]
    rows = []
    for name, label in (("real", 0), ("fake", 1)):
        write_video(folder / f"clips/{name}.mp4", frames, 30.0, crf=12, pix_fmt="yuv444p", keyint=16)
        rows.append(
            {
                "clip_id": name, "video_id": f"{name}.mp4", "label": label, "clip_path": f"clips/{name}.mp4",
                "num_frames": 50, "height": 320, "width": 320, "fps": 30.0, "split": "train",
                "pair_clip_id": "real" if label else "", "pair_aligned": bool(label),
            }
        )  # fmt: skip
    return pd.DataFrame(rows), folder


def pipeline_rate(model, clips: pd.DataFrame, root: Path, compression_p: float, samples: int) -> float:
    """Training samples (mixed pairs) per second in one process: decode, compress, augment, mix."""
    dataset = instantiate(model.train_dataset)(clips, root)
    dataset.compression = dataclasses.replace(dataset.compression, p=compression_p)
    dataset[(0, 0)]  # warm-up: codecs, AutoAugment tables
    start = time.perf_counter()
    for i in range(samples):
        dataset[(i % len(dataset), i + 1)]
    return samples / (time.perf_counter() - start)


def step_rate(name: str, device_type: str, steps: int) -> tuple[float, str, float]:
    """Clips per second of forward + backward + optimizer step, what was run, and the process's peak RSS in GB.

    Runs in a fresh process per model (see main), so the peak RSS is this model's.
    """
    model = model_config(name)
    device = torch.device(device_type)
    cuda = device.type == "cuda"
    height, width = model.input.crop
    frames = len(model.input.frames)
    batch = model.batch_size if cuda else 1
    checkpointing = not cuda and height >= 380
    net = instantiate(model.net, pretrained=False, grad_checkpointing=checkpointing)
    module = instantiate(model.module, net=net, _partial_=True)()
    module = (to_channels_last(module) if cuda else module).to(device).train()
    optimizer = module.configure_optimizers()["optimizer"]
    scaler = torch.amp.GradScaler(enabled=cuda)
    clips = torch.randn(batch, frames, 3, height, width, device=device)
    target = torch.rand(batch, frames, device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            loss = module.criterion(module(clips), target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if cuda:
            torch.cuda.synchronize()

    step()  # warm-up: allocation, cudnn autotuning
    start = time.perf_counter()
    for _ in range(steps):
        step()
    rate = batch * steps / (time.perf_counter() - start)
    what = f"batch {batch} × {frames} frames, {'16-mixed, channels-last' if cuda else 'fp32'}"
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return rate, what + (", grad checkpointing" if checkpointing else ""), peak / 2**30


@dataclasses.dataclass
class TrainStepBenchSettings:
    models: list[str] = setting(MODELS, "model configs to time")
    work: Path | None = setting(None, "a preprocessed dataset's work dir (index.parquet + clips/)")
    samples: int = setting(8, "pipeline samples timed per setting")
    steps: int | None = setting(None, "training steps timed (null: 1 CPU, 10 GPU; 0: skip)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(TrainStepBenchSettings, argv, "python bench/train_step.py", __doc__)
    if unknown := sorted(set(args.models) - set(MODELS)):
        raise SystemExit(f"python bench/train_step.py: unknown models {unknown}; choose from {MODELS}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps = args.steps if args.steps is not None else (10 if device.type == "cuda" else 1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.work:
            clips, root = split_by_column(read_clip_index(args.work / "index.parquet"))[0], args.work
        else:
            clips, root = bench_clips(Path(tmp))
        rows = []
        for name in args.models:
            model = model_config(name)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # one data-loader worker
            plain = pipeline_rate(model, clips, root, 0.0, args.samples)
            compressed = pipeline_rate(model, clips, root, 1.0, args.samples)
            torch.set_num_threads(threads)
            recipe = 1 / (0.5 / plain + 0.5 / compressed)  # p = 0.5
            row = [name, f"{plain:.2f}", f"{compressed:.2f}", f"{recipe:.2f}"]
            if steps:
                spawn = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
                    rate, what, peak = pool.submit(step_rate, name, device.type, steps).result()
                row += [f"{rate:.3f}", what, f"{peak:.1f}", f"{rate / recipe:.2f}"]
            rows.append(row + ["—"] * (len(HEADER) - len(row)))
            print(markdown_table(HEADER, rows[-1:]), flush=True)
    print(f"\nmachine: {machine()}; data: {'work=' + str(args.work) if args.work else 'DFDC crop pair 320×320'}")
    print(markdown_table(HEADER, rows))


HEADER = [
    "model",
    "pipeline samples/s, no compression",
    "… every clip re-encoded",
    "… recipe (p 0.5)",
    "train step clips/s",
    "step",
    "peak memory GB",
    "workers to keep up",
]


if __name__ == "__main__":
    main()
