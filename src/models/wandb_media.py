"""What a researcher looks at in Weights & Biases besides the curves: at each validation a table of per-video
scores, a grid of sample crops with prediction and label, the ROC and calibration plots as images; after an export,
the exported model (safetensors + spec yaml) as a model artifact. ``WANDB_MODE=offline`` keeps it all in the local
run folder (tests) for a later ``wandb sync``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from omegaconf import OmegaConf
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import RocCurveDisplay

GRID = 16  # sample crops shown per validation


def display_image(x: torch.Tensor) -> np.ndarray:
    """One network input (C, H, W), (T, C, H, W) or (C, T, H, W) as a viewable uint8 HWC image (middle frame,
    min-max stretched: the input is normalised)."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[:, x.shape[1] // 2] if x.shape[0] == 3 and x.shape[1] != 3 else x[x.shape[0] // 2]
    x = (x - x.min()) / (x.max() - x.min()).clamp(min=1e-6)
    return (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def sample_grid(inputs: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor) -> plt.Figure:
    count = min(GRID, len(inputs))
    cols = min(8, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in zip(range(count), axes.flat, strict=False):
        ax.imshow(display_image(inputs[i]))
        label = "fake" if int(labels[i]) else "real"
        right = (float(probs[i]) >= 0.5) == bool(int(labels[i]))
        ax.set_title(f"p={float(probs[i]):.2f} ({label})", fontsize=8, color="#070" if right else "#b00")
    return fig


def curves(scores: np.ndarray, labels: np.ndarray) -> dict[str, plt.Figure]:
    """ROC (when both classes are present) and the reliability diagram of the per-video scores."""
    figures = {}
    if 0 < labels.sum() < len(labels):
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        RocCurveDisplay.from_predictions(labels, scores, ax=ax, name="videos")
        figures["val/roc"] = fig
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    CalibrationDisplay.from_predictions(labels, scores, n_bins=10, ax=ax, name="videos")
    figures["val/calibration"] = fig
    return figures


def log_validation(run, videos, scores, labels, samples, step: int) -> None:
    """Per-video table, sample grid, ROC and calibration images into the wandb ``run``."""
    import wandb

    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, np.int64)
    table = wandb.Table(columns=["video", "label", "p_fake", "correct"])
    for video, score, label in zip(np.asarray(videos).tolist(), scores.tolist(), labels.tolist(), strict=True):
        table.add_data(video, "fake" if label else "real", score, (score >= 0.5) == bool(label))
    media = {"val/videos": table}
    if samples is not None:
        media["val/samples"] = wandb.Image(sample_grid(*samples))
    media |= {key: wandb.Image(fig) for key, fig in curves(scores, labels).items()}
    run.log(media | {"trainer/global_step": step})
    plt.close("all")


def log_model_artifact(spec_path: str | Path, project: str = "dfdetect", save_dir: str | Path = ".") -> str:
    """Log an exported model (its yaml and safetensors) as a wandb model artifact; returns the run's folder."""
    import wandb

    spec_path = Path(spec_path)
    spec = OmegaConf.load(spec_path)
    run = wandb.init(project=project, job_type="export", dir=str(save_dir), name=f"export-{spec.name}")
    try:
        artifact = wandb.Artifact(spec.name, type="model", metadata={"sha256": spec.get("sha256")})
        artifact.add_file(str(spec_path))
        artifact.add_file(str(spec_path.parent / spec.weights))
        run.log_artifact(artifact)
        return run.dir
    finally:
        run.finish()
