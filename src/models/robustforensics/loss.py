"""RobustForensics' training loss (spec robustforensics.md §5.1, §7; "faithful re-implementation" 3 and 4).

Class-weighted 2-way cross-entropy with ``weight = [1 - pw, pw] * 2`` (positive_weight pw = 0.1: REAL 1.8, FAKE 0.2),
mean reduction dividing by the sum of the batch's weights, as ``nn.CrossEntropyLoss`` does.

The seed also divided the loss by its world size W (8 image GPUs, 16 video GPUs) on top of DDP's gradient
averaging, so its applied gradient is (mean gradient) / W: for SGD with momentum that is ``lr / W`` with
``weight_decay × W`` under an ordinary mean-gradient setup. ``grad_divisor`` reproduces it as a fixed number from
the seed's recipe, not the GPU count of the current run, so the effective step size stays the seed's on any
hardware that keeps the global batch. ``grad_divisor=1`` is the ordinary mean-gradient setup (W× larger steps).
"""

from __future__ import annotations

import torch
from torch import nn


class RFCrossEntropy(nn.CrossEntropyLoss):
    def __init__(self, positive_weight: float = 0.1, grad_divisor: float = 1.0) -> None:
        # Same float32 arithmetic as the seed: tensor([1 - pw, pw]) * 2.
        super().__init__(weight=torch.tensor([1.0 - positive_weight, positive_weight]) * 2.0)
        if grad_divisor <= 0:
            raise ValueError(f"RFCrossEntropy: grad_divisor must be positive, got {grad_divisor}")
        self.grad_divisor = float(grad_divisor)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = super().forward(logits, target)
        if self.grad_divisor == 1.0:
            return loss
        # The value stays the true mean (what the seed logged after its all-reduce); only the gradient carries 1/W.
        scaled = loss / self.grad_divisor
        return scaled + (loss - scaled).detach()
