"""train.py end to end on CPU: the tiny sequence model on synthetic clips (and on the preprocessed real videos)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from src.datamodules.index import aligned_pairs, read_clip_index, split_by_column
from src.models.export import export_checkpoint, load_exported
from tests.helpers import REPO_ROOT, compose_train, overrides, read_records
from train import train

MODELS = ["b7_seq", "b7_seq_380", "b7_seq_416", "b7_frame_large_crop", "b7_frame_re", "tiny"]


def test_every_model_config_composes_with_its_recipe() -> None:
    for model in MODELS:
        cfg = compose_train(f"model={model}", f"paths.root_dir={REPO_ROOT}", "output_dir=/tmp/x")
        assert cfg.model.name == model
        assert cfg.datamodule.batch_size == cfg.model.batch_size and cfg.trainer.max_steps == cfg.model.max_steps
        assert cfg.model.module.scheduler.lr_lambda.decay_steps == cfg.model.max_steps
    seq_380 = compose_train("model=b7_seq_380")
    assert (seq_380.model.net.nominal_size, seq_380.model.batch_size, seq_380.model.max_steps) == (600, 2, 400000)
    assert list(seq_380.model.val_transform.crop) == [380, 380]
    re = compose_train("model=b7_frame_re")
    assert re.model.train_transform.erasing_p == 0.2 and re.model.net.seq_length is None
    assert not re.model.train_dataset.sequence_mode and len(re.model.input.frames) == 8


def test_train_validate_checkpoint_resume_continues_exactly(synthetic_work: Path, tmp_path: Path) -> None:
    """An interrupted and resumed run trains on the same next batches with the same losses as an uninterrupted one.

    Compression is off here: libx264 is not bit-reproducible (src/datamodules/ntech/compression.py); everything else
    (sampler position, augmentation, mixup, dropout masks, optimizer, scheduler, warm-up) must match exactly.
    """
    common = ["model.max_steps=6", "model.train_dataset.compression.p=0", "trainer.val_check_interval=3"]
    full, part = tmp_path / "full", tmp_path / "part"
    train(compose_train(*overrides(synthetic_work, full, *common)))
    stop = ["+callbacks.stop._target_=tests.helpers.StopAfter", "+callbacks.stop.step=3"]
    train(compose_train(*overrides(synthetic_work, part, *common, *stop)))
    checkpoint = part / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file() and len(list((part / "checkpoints").glob("step*.ckpt"))) == 1
    resumed = tmp_path / "resumed"
    trainer, metric = train(compose_train(*overrides(synthetic_work, resumed, f"ckpt_path={checkpoint}", *common)))
    uninterrupted, first, second = (read_records(d / "steps.jsonl") for d in (full, part, resumed))
    assert [r["step"] for r in uninterrupted] == [1, 2, 3, 4, 5, 6]
    assert first == uninterrupted[:3]
    assert second == uninterrupted[3:]  # same samples (indices, pixels) and bitwise the same losses
    assert trainer.global_step == 6 and metric is not None and 0 < metric < 5  # val/log_loss of 2 videos
    assert {"val/log_loss", "val/balanced_log_loss", "val/auc"} <= set(trainer.callback_metrics)
    metrics_csv = (resumed / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val/log_loss" in metrics_csv and "train/loss" in metrics_csv

    # export: fp16 safetensors + spec, rebuilt without the training code's state
    spec_path = export_checkpoint(resumed / "checkpoints" / "last.ckpt", tmp_path / "export")
    net, spec = load_exported(spec_path)
    assert spec["name"] == "tiny" and spec["output"] == "sigmoid" and list(spec["input"]["crop"]) == [64, 64]
    module_net = trainer.lightning_module.net.eval()
    clip = torch.randn(1, 7, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(clip), module_net(clip), atol=2e-2)


def test_ddp_two_processes_gloo_on_cpu_with_offline_wandb(synthetic_work: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    args = overrides(
        synthetic_work,
        out,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.precision=32-true",
        "trainer.sync_batchnorm=false",
        "model.max_steps=2",
        "trainer.val_check_interval=2",
        "logger=wandb",
        f"hydra.run.dir={out}",
    )
    env = os.environ | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "train.py", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_records(out / "steps.jsonl")
    assert sorted((r["rank"], r["step"]) for r in records) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert all(len(r["indices"]) == 1 for r in records)  # the recipe's batch of 2 is global: 1 per process
    by_rank = {r: {i for rec in records if rec["rank"] == r for i in rec["indices"]} for r in (0, 1)}
    assert by_rank[0] and by_rank[1]  # each process trained on its own share
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb")), "no offline wandb run written"
    assert (out / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.realdata
def test_trains_on_clips_preprocessed_from_the_real_videos(realvideos_work: Path, tmp_path: Path) -> None:
    """The tiny model on the aligned FF++/DFDC pairs that preprocess.py cut from ../shared/realvideos."""
    work = realvideos_work
    train_clips, _ = split_by_column(read_clip_index(work / "index.parquet"))
    fakes, reals = aligned_pairs(train_clips)
    assert len(fakes) > 0 and (reals["label"] == 0).all()
    out = tmp_path / "real"
    train(compose_train(*overrides(work, out, "model.max_steps=3", "trainer.val_check_interval=3")))
    records = read_records(out / "steps.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3] and all(0 < r["loss"] < 5 for r in records)
    assert (out / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("overrides", [[], ["model=b7_seq_416", "trainer=ddp", "data=dfdc"], ["experiment=rf_b0"]])
def test_train_needs_the_index_not_the_videos(overrides: list[str], tmp_path: Path) -> None:
    """The README's commands without `data.root=` (training never reads the videos) and without an index: one line
    naming the missing index and the command that makes it, before any model is built."""
    command = [sys.executable, "train.py", *overrides, f"paths.work_dir={tmp_path}", f"hydra.run.dir={tmp_path}"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode != 0
    assert "data.root" not in out.stderr.replace("data.root=<videos>", ""), out.stderr[-2000:]
    error = [line for line in out.stderr.splitlines() if line.startswith("data error:")]
    assert len(error) == 1, out.stderr[-2000:]
    assert f"{tmp_path}/" in error[0] and "index.parquet: clip index not found" in error[0]
    assert "python preprocess.py data=" in error[0]
    assert "Traceback" not in out.stderr
