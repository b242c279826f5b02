"""What ``predict.py`` does with its composed config: build the ensemble and detector, score the folder, report."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.inference.batch import RunSummary, check_settings, predict_videos
from src.inference.evaluate import default_report_dir
from src.inference.evaluate import main as evaluate
from src.inference.pipeline import Predictor
from src.utils.config import check_missing
from src.video.sources import video_source

log = logging.getLogger("predict")


def run(cfg: DictConfig) -> RunSummary:
    """Score ``cfg.videos`` into ``cfg.out``; a wrong path or setting stops with one line (``SystemExit``)."""
    check_missing(cfg)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    out = Path(cfg.out)
    report_dir = Path(cfg.report_dir) if cfg.report_dir else default_report_dir(out)
    fp16 = bool(cfg.fp16 and device.type == "cuda")
    try:
        records = video_source(cfg.videos).records()
        ensemble = instantiate(cfg.ensemble)
        detector = instantiate(cfg.detector)
    except (OSError, ValueError, InstantiationException) as exc:
        raise SystemExit(f"predict: {' '.join(str(exc).split())}") from exc
    settings = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("ensemble", "detector")} | {"fp16": fp16}
    check_settings(report_dir, OmegaConf.to_yaml(settings), cfg.overwrite)
    predictor = Predictor(ensemble, detector, device, fp16, cfg.detect_batch)
    members = ", ".join(m.name for m in ensemble.members)
    log.info("%d videos from %s; ensemble %s (%s) on %s", len(records), cfg.videos, ensemble.name, members, device)
    summary = predict_videos(
        records,
        predictor,
        out,
        report_dir,
        ensemble.fallback,
        shard=cfg.shard,
        num_shards=cfg.num_shards,
        overwrite=cfg.overwrite,
        retry_failed=cfg.retry_failed,
        progress=cfg.progress,
        prefetch=cfg.prefetch,
        time_limit=cfg.time_limit,
    )
    for video_id, reason in summary.fallbacks.items():
        log.warning("fallback %.2f for %s: %s", ensemble.fallback, video_id, reason)
    print(summary.summary())
    print(summary.timing.summary())
    print(f"wrote {out} ({len(summary.rows)} rows); reports in {report_dir}")
    if cfg.labels:
        evaluate([str(out), str(cfg.labels), "--out", str(report_dir / "eval")])
    return summary
