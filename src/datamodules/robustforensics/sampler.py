"""RobustForensics' iteration-based distributed sampler (spec robustforensics.md §5.1, §7; faithful list 6).

There are no epochs: with NumPy's legacy seed-0 generator, shuffle all sample indices, keep at most
``num_batches × batch × world`` of them, tile that list up to exactly this length, shuffle again, and give rank r
the contiguous slice ``[r · num_batches · batch, (r + 1) · num_batches · batch)``. Every rank computes the same list,
so no communication is needed, and resuming at batch ``start_batch`` skips the first ``start_batch × batch``
indices of the rank's slice: the data order continues exactly (the seed's ``recover.sh``).

Keys are ``(index, seed)`` as for :class:`~src.datamodules.samplers.ResumableRandomSampler`: the seed, a hash of
(sampler seed, rank, position), drives the sample's augmentation, so a resumed run also draws the augmentations an
uninterrupted one would (the seed restored the order only). ``len()`` is the whole run, as in the seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from src.datamodules.samplers import world_and_rank


def given_iteration_indices(num_samples: int, per_rank: int, world_size: int, rank: int, seed: int = 0) -> np.ndarray:
    """The rank's whole index list (``per_rank`` long) of the seed's ``DistributedGivenIterationSampler``."""
    if num_samples <= 0:
        raise ValueError("GivenIterationSampler: the dataset is empty")
    rng = np.random.RandomState(seed)  # the stream of np.random.seed(seed) + np.random.shuffle
    all_size = per_rank * world_size
    indices = np.arange(num_samples)
    rng.shuffle(indices)
    indices = indices[:all_size]
    indices = np.tile(indices, (all_size - 1) // len(indices) + 1)[:all_size]
    rng.shuffle(indices)
    return indices[rank * per_rank : (rank + 1) * per_rank]


class GivenIterationSampler(Sampler[tuple[int, int]]):
    """This rank's ``(index, seed)`` keys for ``num_batches`` batches of ``batch_size``, from ``start_batch`` on."""

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        num_batches: int,
        start_batch: int = 0,
        seed: int = 0,
        world_size: int | None = None,
        rank: int | None = None,
    ) -> None:
        if not 0 <= start_batch <= num_batches:
            raise ValueError(f"GivenIterationSampler: start_batch {start_batch} outside [0, {num_batches}]")
        self.world_size, self.rank = world_and_rank(world_size, rank)
        self.num_samples, self.batch_size, self.num_batches = num_samples, batch_size, num_batches
        self.start_batch, self.seed = start_batch, seed

    def indices(self) -> np.ndarray:
        """The rank's whole run, resumed or not."""
        per_rank = self.num_batches * self.batch_size
        return given_iteration_indices(self.num_samples, per_rank, self.world_size, self.rank, self.seed)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        start = self.start_batch * self.batch_size
        first = self.rank * self.num_batches * self.batch_size  # a position unique over all ranks
        for position, index in enumerate(self.indices()[start:].tolist(), start=first + start):
            yield index, int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])

    def __len__(self) -> int:
        return self.num_batches * self.batch_size
