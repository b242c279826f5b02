"""Video-level log loss, the validation metric that selects RobustForensics checkpoints (spec §5.1, §6.2).

Per-sample P(fake) (frames or clips, over every face tube) are averaged per video; then the log loss of the video
scores (``-log(p + 1e-15)`` as the seed writes it), per class, and the **balanced** log loss = mean of the REAL and
FAKE log losses. Samples carry their dataset index so padded duplicates from a distributed sampler count once.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

EPS = 1e-15


class VideoLogLoss(Metric):
    full_state_update = False
    higher_is_better = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("prob", "label", "video", "index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, prob_fake: torch.Tensor, label: torch.Tensor, video: torch.Tensor, index: torch.Tensor) -> None:
        self.prob.append(prob_fake.detach().double().reshape(-1))
        self.label.append(label.detach().long().reshape(-1))
        self.video.append(video.detach().long().reshape(-1))
        self.index.append(index.detach().long().reshape(-1))

    def compute(self) -> dict[str, torch.Tensor]:
        prob, label, video, index = (
            torch.cat(s) if isinstance(s, list) else s for s in (self.prob, self.label, self.video, self.index)
        )
        _, first = _unique_first(index)
        prob, label, video = prob[first], label[first], video[first]
        videos, inverse = torch.unique(video, return_inverse=True)
        count = torch.zeros(len(videos), dtype=torch.float64, device=prob.device).index_add_(
            0, inverse, torch.ones_like(prob)
        )
        score = torch.zeros_like(count).index_add_(0, inverse, prob) / count
        video_label = torch.zeros(len(videos), dtype=torch.long, device=prob.device).scatter_(0, inverse, label)
        loss = -(video_label * torch.log(score + EPS) + (1 - video_label) * torch.log(1 - score + EPS))
        correct = ((score >= 0.5).long() == video_label).double()
        out = {"log_loss": loss.mean(), "accuracy": correct.mean(), "videos": torch.tensor(float(len(videos)))}
        per_class = []
        for cls, name in ((0, "real"), (1, "fake")):
            mask = video_label == cls
            value = loss[mask].mean() if mask.any() else torch.tensor(float("nan"), dtype=torch.float64)
            out[f"{name}_log_loss"] = value
            per_class.append(value)
        out["balanced_log_loss"] = torch.stack(per_class).nanmean()
        return {k: v.float() for k, v in out.items()}


def _unique_first(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique values of ``index`` and the position of each one's first occurrence."""
    values, inverse = torch.unique(index, return_inverse=True)
    positions = torch.arange(len(index), device=index.device)
    first = torch.full((len(values),), len(index), dtype=torch.long, device=index.device)
    first.scatter_reduce_(0, inverse, positions, reduce="amin")
    return values, first
