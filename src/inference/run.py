"""What ``predict.py`` does with its composed config: build the ensemble and detector, score the folder, report."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from src.faces.detectors.torch_detector import resolve_device
from src.inference.batch import RunSummary, check_settings, predict_videos
from src.inference.evaluate import default_report_dir, evaluate_submission, load_labels
from src.inference.pipeline import Predictor
from src.preprocess.detect import check_detector
from src.utils.config import check_missing, check_shard, check_writable, one_line
from src.utils.signals import interrupted, sigterm_as_interrupt
from src.video.sources import VideoRecord, video_source

log = logging.getLogger("predict")


def run(cfg: DictConfig) -> RunSummary:
    """Score ``cfg.videos`` into ``cfg.out``; a wrong path or setting stops with one line (``SystemExit``) before the
    first video; SIGTERM and Ctrl-C write the submission (fallbacks for the unscored) and exit non-zero."""
    check_missing(cfg)
    check_shard(cfg.shard, cfg.num_shards)
    out = Path(cfg.out)
    report_dir = Path(cfg.report_dir) if cfg.report_dir else default_report_dir(out)
    check_writable(out.parent, "out")
    check_writable(report_dir, "report_dir")
    try:  # a wrong path, setting or model file: one line naming it, before any video is read
        device = resolve_device(cfg.device)
        records = video_source(cfg.videos).records()
        if cfg.labels:
            records += absent_labelled(records, Path(cfg.videos), load_labels(cfg.labels)["filename"])
        ensemble = instantiate(cfg.ensemble)
        detector = instantiate(cfg.detector)
        check_detector(detector)
    except (OSError, ValueError, HydraException, OmegaConfBaseException) as exc:
        raise SystemExit(f"predict: {one_line(exc)}") from exc
    fp16 = bool(cfg.fp16 and device.type == "cuda")
    settings = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("ensemble", "detector")} | {"fp16": fp16}
    check_settings(report_dir, OmegaConf.to_yaml(settings), cfg.overwrite)
    models = {m.name: m.model.sha256 for m in ensemble.members}
    predictor = Predictor(ensemble, detector, device, fp16, cfg.detect_batch, cfg.frame_budget_mb)
    members = ", ".join(m.name for m in ensemble.members)
    log.info("%d videos from %s; ensemble %s (%s) on %s", len(records), cfg.videos, ensemble.name, members, device)
    try:
        with sigterm_as_interrupt():
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
                settings=settings | {"models_sha256": models},
                workers=cfg.workers,
            )
    except KeyboardInterrupt as exc:  # the submission and run report are written (fallbacks for the rest)
        raise SystemExit(interrupted(f"predict: wrote {out} with fallbacks for unscored videos", exc)) from None
    except OSError as exc:  # a full or read-only output disk
        raise SystemExit(f"predict: {one_line(exc)}") from None
    for video_id, reason in summary.fallbacks.items():
        log.warning("fallback %.2f for %s: %s", ensemble.fallback, video_id, reason)
    print(summary.summary())
    print(summary.timing.summary())
    print(f"wrote {out} ({len(summary.rows)} rows); reports in {report_dir}")
    if cfg.labels:
        try:
            evaluate_submission(out, cfg.labels, report_dir / "eval")
        except (OSError, ValueError) as exc:
            raise SystemExit(f"predict: evaluation: {one_line(exc)}") from exc
    return summary


def absent_labelled(records: list[VideoRecord], root: Path, labelled: list[str]) -> list[VideoRecord]:
    """Records for the labelled videos that are not in the folder: they get a row (the fallback) and a reason."""
    present = {r.video_id for r in records}
    absent = sorted(set(labelled) - present)
    if absent:
        log.warning("%d labelled videos are not in %s (they get the fallback): %s", len(absent), root, absent[:3])
    return [VideoRecord(name, Path(root).resolve() / name) for name in absent]
