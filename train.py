"""Train a deepfake classifier on the preprocessing's clip index (see conf/train.yaml).

python train.py model=b7_seq_416 trainer=ddp data=dfdc logger=wandb
python train.py experiment=smoke                        (tiny model, synthetic clips, CPU)
python train.py ckpt_path=outputs/train/.../checkpoints/last.ckpt   (resume)
python train.py -m model=b7_seq_380,b7_seq_416          (sweep; hparams_search=ntech_optuna for Optuna)
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.exceptions import SIGTERMException

from src.models.export import model_spec
from src.utils.config import check_missing
from src.utils.recipe import check_recipe

log = logging.getLogger("train")
# Our samplers resume from the restored step (src/datamodules/samplers.py); Lightning cannot see that.
warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch ended")


def train(cfg: DictConfig) -> tuple[pl.Trainer, float | None]:
    """Build everything from ``cfg``, fit, and return the trainer and ``cfg.optimized_metric`` at the end."""
    if OmegaConf.is_missing(cfg.data, "root"):
        cfg.data.root = None  # training reads the clip index under data.work_dir; the videos are preprocessing's
    check_missing(cfg)  # the whole config: the logged hyperparameters resolve every value
    check_recipe(cfg, "train")
    check_checkpoint(cfg.ckpt_path)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.datamodule)
    try:  # a missing index or an empty split stops here with one line, before a B7 is built
        datamodule.setup("fit")
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"data error: {err}") from err
    callbacks = [instantiate(c) for c in [*cfg.callbacks.values(), *cfg.model.callbacks.values()] if c is not None]
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    module = instantiate(cfg.model.module, _partial_=True)(spec=model_spec(cfg.model))  # spec: data, not built
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:  # SIGTERM (Slurm's time limit, timeout, docker stop): ModelCheckpoint(save_on_exception) has saved one
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    except SIGTERMException:
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        raise SystemExit(f"train: interrupted (SIGTERM); resume with ckpt_path={last or '<checkpoint>'}") from None
    metric = trainer.callback_metrics.get(cfg.optimized_metric)
    return trainer, None if metric is None else float(metric)


def check_checkpoint(ckpt_path: str | None) -> None:
    """``ckpt_path=`` names a checkpoint file written by torch.save (a zip archive), or one of Lightning's keywords."""
    if ckpt_path is None or ckpt_path in ("last", "best", "hpc", "registry"):
        return
    path = Path(ckpt_path)
    if not path.is_file():
        raise SystemExit(f"config error: ckpt_path={path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):
        raise SystemExit(f"config error: ckpt_path={path}: not a checkpoint (not a torch.save zip archive)")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    trainer, metric = train(cfg)
    if trainer.checkpoint_callback is not None and trainer.checkpoint_callback.best_model_path:
        log.info("best checkpoint: %s", trainer.checkpoint_callback.best_model_path)
    return metric


if __name__ == "__main__":
    main()
