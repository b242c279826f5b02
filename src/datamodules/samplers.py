"""Distributed-aware, seeded samplers whose position is a number, so a resumed run continues with the exact batch.

:class:`ResumableRandomSampler` (training): a stream of epochs, each a seeded permutation of the dataset padded
to a multiple of the world size; rank ``r`` takes every ``world``-th sample from ``r`` (DistributedSampler's
split). It yields ``(index, seed)`` keys: the seed, a hash of (sampler seed, epoch, position), drives all the
sample's randomness in the dataset. The run is ``num_batches`` batches of this rank; ``start_batch`` skips the ones
a checkpoint has already trained on. Like the iteration-based samplers of both seeds, ``len()`` stays the whole
run, so Lightning counts the restored batches and the remaining ones as one epoch.

:class:`ShardSampler` (validation): this rank's share of the dataset in order, padded by wrapping around; the
metrics drop the duplicates by sample index.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def world_and_rank(world_size: int | None, rank: int | None) -> tuple[int, int]:
    """``(world_size, rank)``: the given values, else the initialised process group's, else ``(1, 0)``."""
    distributed = dist.is_available() and dist.is_initialized()
    world_size = world_size if world_size is not None else (dist.get_world_size() if distributed else 1)
    rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return world_size, rank


class ResumableRandomSampler(Sampler[tuple[int, int]]):
    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        num_batches: int,
        start_batch: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None:
        if num_samples <= 0:
            raise ValueError("ResumableRandomSampler: the dataset is empty")
        if not 0 <= start_batch <= num_batches:
            raise ValueError(f"ResumableRandomSampler: start_batch {start_batch} outside [0, {num_batches}]")
        self.world_size, self.rank = world_and_rank(world_size, rank)
        self.num_samples, self.batch_size, self.num_batches = num_samples, batch_size, num_batches
        self.start_batch, self.seed, self.shuffle = start_batch, seed, shuffle
        self.per_rank = math.ceil(num_samples / self.world_size)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + epoch)).numpy()
        else:
            order = np.arange(self.num_samples)
        return np.resize(order, self.per_rank * self.world_size)  # pad by wrapping around

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, order = -1, None
        for position in range(self.start_batch * self.batch_size, self.num_batches * self.batch_size):
            if position // self.per_rank != epoch:
                epoch = position // self.per_rank
                order = self._epoch_order(epoch)
            slot = (position % self.per_rank) * self.world_size + self.rank
            seed = np.random.SeedSequence([self.seed, epoch, slot]).generate_state(1)[0]
            yield int(order[slot]), int(seed)

    def __len__(self) -> int:
        return self.num_batches * self.batch_size


class ShardSampler(Sampler[int]):
    def __init__(self, num_samples: int, world_size: int | None = None, rank: int | None = None) -> None:
        self.world_size, self.rank = world_and_rank(world_size, rank)
        self.num_samples = num_samples

    def __iter__(self) -> Iterator[int]:
        if self.num_samples == 0:
            return iter([])
        total = math.ceil(self.num_samples / self.world_size) * self.world_size
        return iter([i % self.num_samples for i in range(self.rank, total, self.world_size)])

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.world_size) if self.num_samples else 0
