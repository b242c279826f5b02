"""RobustForensics' iteration-based distributed sampler (spec robustforensics.md §5.1, §7; faithful list 6).

There are no epochs: with NumPy's legacy seed-0 generator, shuffle all sample indices, keep at most
``max_iter × batch × world`` of them, tile that list up to exactly this length, shuffle again, and give rank r the
contiguous slice ``[r · max_iter · batch, (r + 1) · max_iter · batch)``. Every rank computes the same list, so no
communication is needed, and resuming at iteration ``start_iter`` skips the first ``start_iter × batch`` indices of
the rank's slice: the data order continues exactly (the seed's ``recover.sh``).

``len()`` is the whole run (``max_iter × batch``) whatever ``start_iter`` is, as in the seed: Lightning then counts
the restored batches plus the remaining ones as one epoch of ``max_iter`` batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler


def given_iteration_indices(num_samples: int, total_per_rank: int, world_size: int, rank: int, seed: int = 0):
    """The rank's full index list (length ``total_per_rank``) of the seed's ``DistributedGivenIterationSampler``."""
    if num_samples <= 0:
        raise ValueError("GivenIterationSampler: the dataset is empty")
    rng = np.random.RandomState(seed)  # the stream of np.random.seed(seed) + np.random.shuffle
    all_size = total_per_rank * world_size
    indices = np.arange(num_samples)
    rng.shuffle(indices)
    indices = indices[:all_size]
    indices = np.tile(indices, (all_size - 1) // len(indices) + 1)[:all_size]
    rng.shuffle(indices)
    return indices[rank * total_per_rank : (rank + 1) * total_per_rank]


class GivenIterationSampler(Sampler[int]):
    """Per-rank sample indices for ``max_iter`` iterations of ``batch_size`` samples, from ``start_iter`` on.

    ``world_size``/``rank`` default to the initialised process group (1/0 without one).
    """

    def __init__(
        self,
        num_samples: int,
        max_iter: int,
        batch_size: int,
        start_iter: int = 0,
        world_size: int | None = None,
        rank: int | None = None,
        seed: int = 0,
    ) -> None:
        distributed = dist.is_available() and dist.is_initialized()
        self.world_size = world_size if world_size is not None else (dist.get_world_size() if distributed else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"GivenIterationSampler: rank {self.rank} outside world size {self.world_size}")
        if not 0 <= start_iter <= max_iter:
            raise ValueError(f"GivenIterationSampler: start_iter {start_iter} outside [0, max_iter={max_iter}]")
        self.num_samples, self.max_iter, self.batch_size = num_samples, max_iter, batch_size
        self.start_iter, self.seed = start_iter, seed

    def indices(self) -> np.ndarray:
        total = self.max_iter * self.batch_size
        return given_iteration_indices(self.num_samples, total, self.world_size, self.rank, self.seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start_iter * self.batch_size :].tolist())

    def __len__(self) -> int:
        return self.max_iter * self.batch_size
