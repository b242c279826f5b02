"""RobustForensics' learning-rate schedule (spec robustforensics.md §5.1, "faithful re-implementation" 5).

Stepped every iteration: a linear ramp UP from ``base_lr`` to ``peak_lr`` over ``warmup_steps`` iterations, then
``peak_lr × gamma^k`` with k = number of milestones ≤ iteration (``bisect_right``: the drop happens exactly at the
milestone). The optimizer's own ``lr`` is ignored, as in the seed, which overwrote it with ``base_lr``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def warmup_step_lr(
    iteration: int, base_lr: float, peak_lr: float, warmup_steps: int, milestones: Sequence[int], gamma: float
) -> float:
    if iteration < warmup_steps:
        return base_lr + (iteration / warmup_steps) * (peak_lr - base_lr)
    return peak_lr * gamma ** bisect.bisect_right(list(milestones), iteration)


class WarmupStepLR(LRScheduler):
    """:func:`warmup_step_lr` as a torch scheduler; Lightning steps it once per optimizer step (``interval: step``)."""

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float,
        peak_lr: float,
        milestones: Sequence[int],
        warmup_steps: int = 1000,
        gamma: float = 0.5,
        last_epoch: int = -1,
    ) -> None:
        if list(milestones) != sorted(milestones):
            raise ValueError(f"WarmupStepLR: milestones must be increasing, got {list(milestones)}")
        self.base_lr, self.peak_lr, self.warmup_steps = base_lr, peak_lr, warmup_steps
        self.milestones, self.gamma = list(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lr = warmup_step_lr(self.last_epoch, self.base_lr, self.peak_lr, self.warmup_steps, self.milestones, self.gamma)
        return [lr] * len(self.optimizer.param_groups)
