"""The 11 RobustForensics experiments: the spec's numbers, the seed's state dicts, 2 training steps, exact resume."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from timm.data import IMAGENET_DEFAULT_MEAN

from src.datamodules.robustforensics import transforms as rf_transforms
from src.models.efficientnet_keys import lukemelas_to_timm, stage_depths
from src.models.export import export_checkpoint, load_exported
from src.models.robustforensics.checkpoints import load_rf_state_dict, strip_wrapper_prefix
from src.models.robustforensics.schedule import warmup_step_lr
from tests.helpers import REPO_ROOT, read_records, reference_keys, spec_sampler
from train import train

IMAGE_MILESTONES = [15000, 25000, 35000, 45000]
# experiment: (seed reference key list, global batch, GPUs, base lr, peak lr, milestones, max_iter, val_freq)
SPEC = {
    "rf_b0": ("rf_b0", 128, 8, 0.01, 0.03, IMAGE_MILESTONES, 60002, 2000),
    "rf_b1": ("rf_b1", 128, 8, 0.01, 0.03, IMAGE_MILESTONES, 60002, 2000),
    "rf_b1_alldata": ("rf_b1", 128, 8, 0.01, 0.03, IMAGE_MILESTONES, 60002, 2000),
    "rf_b1_long_alldata": ("rf_b1", 128, 8, 0.01, 0.03, [20000, 30000, 40000, 55000], 90002, 2000),
    "rf_b3": ("rf_b3", 128, 8, 0.01, 0.04, IMAGE_MILESTONES, 60002, 2000),
    "rf_r34": ("rf_r34", 256, 8, 0.001, 0.02, [10000, 15000, 20000, 25000], 30001, 1000),
    "rf_xcep": ("rf_xception", 128, 8, 0.01, 0.05, [20000, 30000, 40000, 50000], 60002, 2000),
    "rf_sf_32x4": ("rf_slowfast50", 64, 16, 0.002, 0.05, IMAGE_MILESTONES, 55001, 1000),
    "rf_sf_32x4_noaug": ("rf_slowfast50", 64, 16, 0.002, 0.05, IMAGE_MILESTONES, 55001, 1000),
    "rf_sf_16x8": ("rf_slowfast50", 64, 16, 0.002, 0.05, IMAGE_MILESTONES, 55001, 1000),
    "rf_sf_32x4_alldata": ("rf_slowfast50", 64, 16, 0.002, 0.05, [20000, 30000, 40000, 50000], 60000, 1000),
}
# The LR at chosen iterations, by hand: base + it/1000 · (peak − base) in the warm-up, then peak · 0.5^k.
LR_AT = {
    "rf_b0": {0: 0.01, 500: 0.02, 1000: 0.03, 14999: 0.03, 15000: 0.015, 45000: 0.001875, 58000: 0.001875},
    "rf_b1_long_alldata": {19999: 0.03, 20000: 0.015, 55000: 0.001875, 66000: 0.001875},
    "rf_b3": {1000: 0.04, 25000: 0.01, 50000: 0.0025},
    "rf_r34": {0: 0.001, 100: 0.0029, 10000: 0.01, 23000: 0.0025},
    "rf_xcep": {1000: 0.05, 20000: 0.025, 58000: 0.003125},
    "rf_sf_32x4": {0: 0.002, 250: 0.014, 1000: 0.05, 32000: 0.0125, 44000: 0.00625},
    "rf_sf_32x4_alldata": {52000: 0.003125},
}
VAL_LIST = {  # the experiments validated on a list of the seed's (file name in the config comment)
    "rf_b1_alldata",
    "rf_b1_long_alldata",
    "rf_sf_32x4",
    "rf_sf_32x4_noaug",
    "rf_sf_16x8",
    "rf_sf_32x4_alldata",
}


def compose_train(*overrides: str) -> DictConfig:
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def compose_experiment(name: str, *extra: str) -> DictConfig:
    val_list = ["datamodule.split.val_list=/seed/DFDC-Kaggle_list/list.txt"] if name in VAL_LIST else []
    return compose_train(
        f"experiment={name}", f"paths.root_dir={REPO_ROOT}", "output_dir=/tmp/unused", *val_list, *extra
    )


@pytest.fixture(scope="module")
def tubes(tube_clips: tuple[Path, pd.DataFrame]) -> tuple[Path, pd.DataFrame]:
    """Real tube clips; val = the two videos of part p1, also written as a seed-style list file."""
    root, index = tube_clips[0], tube_clips[1].copy()
    lines = [
        f"{v.removesuffix('.mp4')}/frame%d_face1.jpg 1 1 140 0" for v in index.loc[index["part"] == "p1", "video_id"]
    ]
    (root / "val_list.txt").write_text("\n".join(lines) + "\n")
    return root, index


@pytest.mark.parametrize("name", sorted(SPEC))
def test_experiment_reproduces_the_spec_numbers(name: str) -> None:
    _, batch, world, base, peak, milestones, max_iter, val_freq = SPEC[name]
    cfg = compose_experiment(name)
    video = name.startswith("rf_sf")
    assert cfg.model.name == name and cfg.model.batch_size == batch and cfg.trainer.max_steps == max_iter
    assert cfg.datamodule.batch_size == batch and cfg.trainer.devices * cfg.trainer.num_nodes == world
    assert (cfg.trainer.precision, cfg.trainer.sync_batchnorm, cfg.trainer.strategy) == ("32-true", False, "ddp")
    assert cfg.trainer.val_check_interval == val_freq and not cfg.trainer.use_distributed_sampler
    assert cfg.callbacks.model_checkpoint.monitor == "val/balanced_log_loss" == cfg.optimized_metric
    assert cfg.datamodule.num_workers == (4 if video else 1)

    criterion = instantiate(cfg.model.module.criterion)
    assert criterion.weight.tolist() == pytest.approx([1.8, 0.2]) and criterion.grad_divisor == world
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = instantiate(cfg.model.module.optimizer)(params=params)
    assert optimizer.defaults | {"lr": None} == optimizer.defaults | {
        "lr": None, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "dampening": 0
    }  # fmt: skip
    scheduler = instantiate(cfg.model.module.scheduler)(optimizer=optimizer)
    assert (scheduler.base_lr, scheduler.peak_lr, scheduler.milestones) == (base, peak, milestones)
    assert (scheduler.warmup_steps, scheduler.gamma, cfg.model.module.scheduler_interval) == (1000, 0.5, "step")
    for iteration, lr in LR_AT.get(name, {}).items():
        assert warmup_step_lr(iteration, base, peak, 1000, milestones, 0.5) == pytest.approx(lr, rel=1e-12)

    train_t, val_t = instantiate(cfg.model.train_transform), instantiate(cfg.model.val_transform)
    image = np.zeros((300, 300, 3), np.uint8)
    if video:
        step = 8 if "16x8" in name else 4
        assert (cfg.model.train_dataset.step, cfg.model.train_dataset.size, cfg.model.input.frame_step) == (
            step,
            128,
            step,
        )
        assert not cfg.model.val_dataset.random_crop and cfg.model.train_dataset.random_crop
        augmented = {type(t).__name__ for t in train_t.transforms}
        robust = name in ("rf_sf_32x4", "rf_sf_16x8")
        assert (
            {"RandomBrightnessContrast", "ImageCompression"} <= augmented
            if robust
            else not {"RandomBrightnessContrast", "ImageCompression"} & augmented
        )
        assert "MotionBlur" not in augmented
        assert train_t(images=image[None])["images"].shape == (1, 224, 224, 3)
        assert val_t(images=image[None])["images"].shape == (1, 256, 256, 3)
        assert tuple(cfg.model.input.mean) == rf_transforms.KINETICS_MEAN
        assert tuple(cfg.model.input.std) == rf_transforms.KINETICS_STD
    else:
        size = 224 if name == "rf_r34" else 299
        assert train_t(image=image)["image"].shape == val_t(image=image)["image"].shape == (size, size, 3)
        crop = train_t.transforms[0]
        assert crop.scale == pytest.approx(((0.875 if name == "rf_r34" else 0.88) ** 2, 1.0)) and crop.ratio == (1, 1)
        assert cfg.model.train_dataset.frame_stride == 30
        expected = ("BGR", [0.5] * 3) if name == "rf_xcep" else ("RGB", list(IMAGENET_DEFAULT_MEAN))
        assert (cfg.model.train_dataset.channel_order, list(cfg.model.input.mean)) == expected
    if name in VAL_LIST:
        assert cfg.datamodule.split.get("val_parts") is None
    else:
        assert list(cfg.datamodule.split.val_parts) == [f"dfdc_train_part_{k}" for k in range(30, 40)]


def test_config_sampler_order_matches_the_spec_at_chosen_iterations() -> None:
    cfg = compose_experiment("rf_b0")
    per_gpu = cfg.model.batch_size // 8
    sampler = instantiate(cfg.model.train_sampler)(
        num_samples=1000, batch_size=per_gpu, num_batches=cfg.trainer.max_steps, world_size=8, rank=3
    )
    indices = sampler.indices()
    spec = spec_sampler(1000, 60002, 16, 8, 3)
    for iteration in (0, 1, 15000, 58000, 60001):
        assert indices[iteration * 16 : (iteration + 1) * 16].tolist() == spec[iteration * 16 : (iteration + 1) * 16]


NETS = {"rf_b0": ["rf_b0"], "rf_b1": ["rf_b1", "rf_b1_alldata", "rf_b1_long_alldata"], "rf_b3": ["rf_b3"],
        "rf_r34": ["rf_r34"], "rf_xcep": ["rf_xcep"],
        "rf_sf_32x4": ["rf_sf_32x4", "rf_sf_32x4_noaug", "rf_sf_16x8", "rf_sf_32x4_alldata"]}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NETS))
def test_experiment_net_loads_the_seeds_state_dict(name: str) -> None:
    """Each distinct network (experiments sharing one have the same net config) takes the seed's checkpoint keys."""
    nets = {OmegaConf.to_yaml(compose_experiment(e).model.net) for e in NETS[name]}
    assert len(nets) == 1 and sum(map(len, NETS.values())) == len(SPEC)
    cfg = compose_experiment(name, *([] if name.startswith("rf_sf") else ["model.net.pretrained=false"]))
    net = instantiate(cfg.model.net)
    generator = torch.Generator().manual_seed(1)
    saved = {k: torch.rand(s, generator=generator) if d == "float32" else torch.tensor(7) for k, s, d in
             reference_keys(f"{SPEC[name][0]}.keys.txt")}  # fmt: skip
    assert all(k.startswith("module.") for k in saved)  # as the seed's DDP training saved it
    seed_state = strip_wrapper_prefix(saved)
    assert load_rf_state_dict(seed_state, net) == []
    names = lukemelas_to_timm(seed_state, stage_depths(net)) if "_conv_stem.weight" in seed_state else {}
    ours = net.state_dict()
    assert len(ours) == len(seed_state)
    for key, value in seed_state.items():
        assert torch.equal(ours[names.get(key, key)], value), key


def train_overrides(name: str, root: Path, out: Path, *extra: str) -> list[str]:
    """Tiny and fast, everything else the experiment's: 2 steps of batch 2 at 64 (images) or 32 pixels (clips),
    validation at step 2. (Smaller images leave 1×1 final maps whose batch-2 BN statistics blow up.)"""
    video = name.startswith("rf_sf")
    tiny_input = (
        ["model.input.size=32", "model.input.val_size=32", "model.input.min_scale=32", "model.input.max_scale=40"]
        if video
        else ["model.input.size=64", "model.net.pretrained=false"]
    )
    # SlowFast checkpoints (weights + momentum, 270 MB) are not written here; the image runs check checkpointing.
    no_checkpoints = ["callbacks.model_checkpoint=null", "+trainer.enable_checkpointing=false"] if video else []
    split = (
        f"datamodule.split.val_list={root / 'val_list.txt'}" if name in VAL_LIST else "datamodule.split.val_parts=[p1]"
    )
    return [
        f"experiment={name}",
        "trainer=cpu",
        "data.root=null",
        f"data.work_dir={root}",
        f"paths.root_dir={REPO_ROOT}",
        f"output_dir={out}",
        "model.batch_size=2",
        f"datamodule.val_batch_size={2 if video else 10}",  # one batch: both val videos (2 tubes, 2 × 5 frames)
        "trainer.limit_val_batches=1",
        "model.max_steps=2",
        "model.recipe.val_freq=2",
        "datamodule.num_workers=0",
        "datamodule.pin_memory=false",
        "datamodule.persistent_workers=false",
        "datamodule.prefetch_factor=null",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "trainer.num_sanity_val_steps=0",
        "trainer.log_every_n_steps=1",
        "+callbacks.recorder._target_=tests.helpers.StepRecorder",
        f"+callbacks.recorder.path={out}/steps.jsonl",
        split,
        *tiny_input,
        *no_checkpoints,
        *extra,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(SPEC) - {"rf_b0", "rf_b1", "rf_b3"}))
def test_experiment_trains_two_steps_on_real_tubes(name: str, tubes: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, _ = tubes
    trainer, metric = train(compose_train(*train_overrides(name, root, tmp_path)))
    records = read_records(tmp_path / "steps.jsonl")
    assert [r["step"] for r in records] == [1, 2] and all(np.isfinite(r["loss"]) for r in records)
    frames = 128 // (8 if "16x8" in name else 4)
    expected = (3, frames, 32, 32) if name.startswith("rf_sf") else (3, 64, 64)
    assert tuple(trainer.datamodule.train_set[(0, 0)]["input"].shape) == expected
    assert metric is not None and np.isfinite(metric)  # video-level balanced log loss of the 2 val videos
    assert trainer.callback_metrics["val/videos"] == 2
    if not name.startswith("rf_sf"):
        assert list((tmp_path / "checkpoints").glob("step000002-bll*.ckpt"))
        assert (tmp_path / "checkpoints" / "last.ckpt").resolve().is_file()
        # export for inference: fp16 weights + spec, rebuilt without the training code
        net, spec = load_exported(export_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path / "export"))
        assert spec["name"] == name and spec["output"] == "softmax" and spec["input"]["size"] == 64
        image = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(net(image), trainer.lightning_module.net.eval()(image), atol=2e-2, rtol=0)


@pytest.mark.slow
def test_multirun_of_three_image_experiments(tubes: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    """`python train.py -m experiment=rf_b0,rf_b1,rf_b3`: one Hydra sweep, three 2-step trainings."""
    root, _ = tubes
    # `++`: the sweep composes its base config without the experiment, where these keys do not exist yet.
    args = [
        f"++{a}" if a.startswith(("model.", "datamodule.", "trainer.")) else a
        for a in train_overrides("rf_b0", root, tmp_path / "unused")
        if not a.startswith(("experiment=", "output_dir=", "+callbacks"))
    ]
    args += [
        "experiment=rf_b0,rf_b1,rf_b3",
        f"hydra.sweep.dir={tmp_path}",
        "hydra.sweep.subdir=${model.name}",
        "output_dir=${hydra:runtime.output_dir}",
    ]
    result = subprocess.run(
        [sys.executable, "train.py", "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("rf_b0", "rf_b1", "rf_b3"):
        assert (tmp_path / name / "checkpoints" / "last.ckpt").is_file(), name
        # each job trained its own network for its 2 steps and validated once (the CSV logger's metrics)
        metrics = pd.concat(pd.read_csv(p) for p in (tmp_path / name / "csv").glob("version_*/metrics.csv"))
        losses = metrics.dropna(subset=["train/loss"])
        assert sorted(losses["step"].astype(int)) == [0, 1] and np.isfinite(losses["train/loss"]).all(), name
        assert np.isfinite(metrics["val/log_loss"].dropna()).sum() == 1, name
        saved = OmegaConf.load(tmp_path / name / ".hydra" / "config.yaml")
        assert saved.model.name == name


@pytest.mark.slow
def test_resume_after_a_crash_continues_with_the_exact_next_batch(
    tubes: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """The seed's recover.sh: the interrupted run and the resumed one see the same samples, pixels and losses."""
    root, _ = tubes
    common = ["model.max_steps=3", "model.recipe.val_freq=1"]
    full, part, resumed = tmp_path / "full", tmp_path / "part", tmp_path / "resumed"
    train(compose_train(*train_overrides("rf_r34", root, full, *common)))
    stop = ["+callbacks.stop._target_=tests.helpers.StopAfter", "+callbacks.stop.step=1"]
    train(compose_train(*train_overrides("rf_r34", root, part, *common, *stop)))
    checkpoint = part / "checkpoints" / "last.ckpt"
    train(compose_train(*train_overrides("rf_r34", root, resumed, *common, f"ckpt_path={checkpoint}")))
    uninterrupted, first, second = (read_records(d / "steps.jsonl") for d in (full, part, resumed))
    assert [r["step"] for r in uninterrupted] == [1, 2, 3]
    assert first == uninterrupted[:1]
    assert second == uninterrupted[1:]  # same sample indices, pixels (augmentation) and losses


@pytest.mark.parametrize(
    ("trainer", "experiment", "nodes"), [("slurm_rf_image", "rf_b0", 1), ("slurm_rf_video", "rf_sf_32x4", 2)]
)
def test_submitit_jobs_are_sized_like_the_seeds_srun(trainer: str, experiment: str, nodes: int) -> None:
    """`-m hydra/launcher=slurm trainer=slurm_rf_*`: one task per GPU, 8 per node, 1 (image) or 2 (video) nodes."""
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", f"trainer={trainer}", f"experiment={experiment}",
                       "datamodule.split.val_list=/seed/list.txt" if experiment in VAL_LIST else "seed=0"],
            return_hydra_config=True,
        )  # fmt: skip
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (nodes, 8, 8)
    assert (cfg.trainer.num_nodes, cfg.trainer.devices) == (nodes, 8)
    assert cfg.trainer.plugins[0]._target_.endswith("SLURMEnvironment")
