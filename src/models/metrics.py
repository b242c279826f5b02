"""Video-level validation metrics: per-sample P(fake) averaged per video, then the competition's log loss.

DFDC scored one probability per video with the log loss (predictions clipped to [1e-15, 1 - 1e-15]). Reported:
``log_loss``, the per-class ``real_log_loss`` / ``fake_log_loss`` and their mean ``balanced_log_loss`` (DFDC's
training set is ~83 % fake, so the plain mean rewards leaning to "fake"), ``auc`` and ``accuracy`` (threshold 0.5),
all over videos. Samples carry their dataset index, so the duplicates a distributed sampler pads with count once.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc

KAGGLE_EPS = 1e-15


class VideoMetrics(Metric):
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

    def per_video(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(video ids, mean P(fake), label)`` per video, each sample counted once."""
        prob, label, video, index = (torch.cat(s) if isinstance(s, list) else s for s in self._states())
        _, inverse = torch.unique(index, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(index), device=index.device)
        first.scatter_reduce_(0, inverse, torch.arange(len(index), device=index.device), reduce="amin")
        prob, label, video = prob[first], label[first], video[first]
        videos, inverse = torch.unique(video, return_inverse=True)
        count = torch.zeros(len(videos), dtype=prob.dtype, device=prob.device).index_add_(
            0, inverse, torch.ones_like(prob)
        )
        score = torch.zeros_like(count).index_add_(0, inverse, prob) / count
        truth = torch.zeros(len(videos), dtype=torch.long, device=prob.device).scatter_(0, inverse, label)
        return videos, score, truth

    def compute(self) -> dict[str, torch.Tensor]:
        videos, score, truth = self.per_video()
        clipped = score.clamp(KAGGLE_EPS, 1 - KAGGLE_EPS)
        loss = -(truth * clipped.log() + (1 - truth) * (1 - clipped).log())
        nan = torch.tensor(float("nan"), dtype=score.dtype, device=score.device)
        per_class = {
            name: loss[truth == cls].mean() if (truth == cls).any() else nan
            for cls, name in enumerate(("real", "fake"))
        }
        both = all((truth == cls).any() for cls in (0, 1))
        out = {
            "log_loss": loss.mean(),
            "balanced_log_loss": torch.stack(list(per_class.values())).nanmean(),
            "real_log_loss": per_class["real"],
            "fake_log_loss": per_class["fake"],
            "auc": binary_auroc(score, truth) if both else nan,
            "accuracy": ((score >= 0.5).long() == truth).double().mean(),
            "videos": torch.tensor(float(len(videos)), device=score.device),
        }
        return {k: v.float() for k, v in out.items()}

    def _states(self) -> tuple:
        return self.prob, self.label, self.video, self.index
