"""Preprocess a video dataset: probe → detect → track → extract → index (see conf/preprocess.yaml).

python preprocess.py recipe=robustforensics data.root=/data/dfdc
python preprocess.py data=dfdc data.root=/data/dfdc detector=retinaface_mnet tracker=tubes
python preprocess.py data=realvideos run=[probe] shard=0 num_shards=4
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.preprocess.detect import check_detector
from src.preprocess.runner import StageContext, disk_summary
from src.utils.config import check_missing, check_shard, check_writable, one_line
from src.utils.recipe import check_recipe
from src.utils.runner import SettingsChanged
from src.utils.signals import interrupted, sigterm_as_interrupt

log = logging.getLogger("preprocess")


@hydra.main(version_base="1.3", config_path="conf", config_name="preprocess")
def main(cfg: DictConfig) -> None:
    check_missing(cfg)
    check_shard(cfg.shard, cfg.num_shards)
    check_recipe(cfg, "preprocess")
    if cfg.on_change not in ("refuse", "redo"):
        raise SystemExit(f"config error: on_change must be refuse or redo, got {cfg.on_change!r}")
    for name in cfg.run:  # a typo in run= stops before any video is read
        if name not in cfg.stages:
            raise SystemExit(f"config error: unknown stage {name!r} in run=; available: {', '.join(cfg.stages)}")
    try:
        records = instantiate(cfg.data.source).records()
    except (OSError, ValueError, InstantiationException) as exc:
        raise SystemExit(f"preprocess: data source {cfg.data.name}: {one_line(exc)}") from exc
    ctx = StageContext(
        records=records,
        work_dir=Path(cfg.data.work_dir),
        shard=cfg.shard,
        num_shards=cfg.num_shards,
        overwrite=cfg.overwrite,
        retry_failed=cfg.retry_failed,
        progress=cfg.progress,
        on_change=cfg.on_change,
    )
    check_writable(ctx.work_dir, "data.work_dir")
    log.info("%d videos from %s; artifacts in %s", len(records), cfg.data.root, ctx.work_dir)
    stages = {}
    for name in cfg.run:  # every stage built (its values checked) before the first video
        try:
            stages[name] = instantiate(cfg.stages[name])
            if detector := stages[name].keywords.get("detector"):
                check_detector(detector)
        except (InstantiationException, ValueError) as exc:
            raise SystemExit(f"preprocess: stage {name}: {one_line(exc)}") from exc
    for name, stage in stages.items():
        try:
            with sigterm_as_interrupt():
                report = stage(ctx)
        except KeyboardInterrupt as exc:
            raise SystemExit(interrupted(f"preprocess: stage {name}", exc)) from None
        except SettingsChanged as exc:
            raise SystemExit(f"preprocess: stage {name}: {exc}") from None
        except OSError as exc:  # a full or read-only disk stops the stage (per-video errors are report lines)
            raise SystemExit(f"preprocess: stage {name}: {one_line(exc)}") from None
        print(report.summary())
    print(disk_summary(ctx.work_dir))


if __name__ == "__main__":
    main()
