"""NTechLab's learning-rate schedule (spec ntechlab_detail §3, "Common settings").

The first 100 iterations train only the classifier at the constant base lr (:class:`~src.models.ntech.callbacks.
HeadOnlyWarmup`); then the lr decays linearly, ``(MAX_ITERS - k) / MAX_ITERS`` at the k-th step after the warm-up:
0.005 → 5e-6 over 100k iterations.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConstantThenLinearDecay:
    """``LambdaLR`` factor: 1 for ``hold_steps`` steps, then ``(decay_steps - k) / decay_steps`` at step k after."""

    hold_steps: int
    decay_steps: int

    def __call__(self, step: int) -> float:
        if step < self.hold_steps:
            return 1.0
        return max(0.0, (self.decay_steps - (step - self.hold_steps)) / self.decay_steps)
