"""The LightningDataModule over the preprocessing index: datasets, sampler and split rule come from the config.

``train_dataset`` and ``val_dataset`` are partials called as ``(clips, root)`` with the split's rows of the index
and the dataset's work dir (``clip_path`` is relative to it); ``train_sampler`` is a partial called as
``(num_samples=, batch_size=, num_batches=, start_batch=)`` where the run is ``num_batches`` batches (Lightning's
``max_steps`` × gradient accumulation) and ``start_batch`` those already trained when resuming from a checkpoint
(``batch_size`` is the recipe's global batch: each process of a DDP run loads ``batch_size / world_size``);
``split`` maps the index to (train clips, val clips). Each is a Hydra ``_partial_`` target, so another recipe
(RobustForensics' tube datasets, sampler and held-out parts) is a config, not a code path.

Validation shards the clips over the ranks in order (:class:`ShardSampler`); the trainer runs with
``use_distributed_sampler=False`` since both samplers split by rank themselves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset, Sampler

from src.datamodules.index import read_clip_index, split_by_column
from src.datamodules.samplers import ShardSampler

log = logging.getLogger(__name__)

DatasetFactory = Callable[[pd.DataFrame, Path], Dataset]


class TrackPairDataModule(pl.LightningDataModule):
    def __init__(
        self,
        index_path: str | os.PathLike,
        train_dataset: DatasetFactory,
        val_dataset: DatasetFactory,
        train_sampler: Callable[..., Sampler],
        batch_size: int,
        val_batch_size: int | None = None,
        split: Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]] = split_by_column,
        root: str | os.PathLike | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        tracker: str | None = None,
    ) -> None:
        super().__init__()
        self.index_path = Path(index_path)
        self.tracker = tracker  # the tracker the index must have been made with (None: not checked)
        self.root = Path(root) if root is not None else self.index_path.parent
        self.make_train, self.make_val, self.make_sampler = train_dataset, val_dataset, train_sampler
        self.split = split
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.loader_options = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": persistent_workers and num_workers > 0,
            "prefetch_factor": prefetch_factor if num_workers > 0 else None,
        }
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, val = self.split(read_clip_index(self.index_path, self.tracker))
        if len(train) and not len(val):
            log.warning("%s: no validation clips (every group landed in train): no val metrics", self.index_path)
        self.train_set = self.make_train(train, self.root)
        self.val_set = self.make_val(val, self.root) if len(val) else None
        log.info(
            "%s: %d training samples from %d clips, %d validation clips",
            self.index_path,
            len(self.train_set),
            len(train),
            len(val),
        )

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        if trainer is None or trainer.max_steps <= 0:
            raise ValueError("training is iteration-based: set trainer.max_steps (the recipe's iterations)")
        accumulate = trainer.accumulate_grad_batches
        batch_size = self.per_device(self.batch_size)
        sampler = self.make_sampler(
            num_samples=len(self.train_set),
            batch_size=batch_size,
            num_batches=trainer.max_steps * accumulate,
            start_batch=trainer.global_step * accumulate,  # restored from the checkpoint before this is called
        )
        return DataLoader(self.train_set, batch_size=batch_size, sampler=sampler, drop_last=True, **self.loader_options)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        batch_size = self.per_device(self.val_batch_size)
        return DataLoader(
            self.val_set, batch_size=batch_size, sampler=ShardSampler(len(self.val_set)), **self.loader_options
        )

    def per_device(self, batch_size: int) -> int:
        """The recipe's batch is global: each of the run's processes takes an equal share."""
        world = self.trainer.world_size if self.trainer is not None else 1
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} does not split over {world} processes")
        return batch_size // world
