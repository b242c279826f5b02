"""An ensemble: members (a model, the crops it sees, its input transform, weight and group) and one aggregation rule.

``conf/ensemble/*.yaml`` describes one; Hydra builds it. Each :class:`Member` turns a video's decoded frames and face
tracks into one fake logit per sample (see :mod:`src.inference.aggregation`), batched, in inference mode, fp16
autocast on CUDA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from torch import nn

from src.faces.align import crop
from src.inference.aggregation import MemberOutput
from src.inference.crops import CropRecipe, Layout, TrackCrops, Unit
from src.inference.timing import StageTimer
from src.models.export import allowed, load_exported
from src.utils.weights import sha256sum


@dataclass
class SampledFrames:
    """The decoded frames of one video, addressed by source frame index."""

    indices: np.ndarray  # int64 (F,), increasing
    frames: np.ndarray | list[np.ndarray]  # uint8 RGB: (F, H, W, 3), or F (H, W, 3) frames as the decoder made them

    def __post_init__(self) -> None:
        self._row = {int(i): r for r, i in enumerate(np.asarray(self.indices).tolist())}

    def crop(self, frame: int, box: np.ndarray) -> np.ndarray:
        return crop(self.frames[self._row[int(frame)]], box)


@dataclass
class MemberResult:
    output: MemberOutput
    samples: dict[str, list]  # per sample: track, first, last (source frames it covers), prob

    @classmethod
    def empty(cls, member: Member, error: str | None = None) -> MemberResult:
        """No predictions: the member failed (``error``) or had nothing to score."""
        samples: dict[str, list] = {"track": [], "first": [], "last": [], "prob": []}
        return cls(MemberOutput(member.name, (), member.weight, member.group, error), samples)


@dataclass
class Member:
    """One model of an ensemble.

    ``transform`` maps an RGB uint8 crop (``transform(image=crop)["image"]``) to a normalised float32 HWC image;
    ``None`` takes the exported model's own evaluation pipeline, so training and prediction crops match.
    """

    name: str
    model: ExportedModel
    crops: CropRecipe
    transform: Callable[..., Any] | None = None
    weight: float = 1.0
    group: str = "all"
    bgr: bool | None = None  # channel order (RobustForensics' Xception: BGR); None: what the export says
    batch_size: int = 32  # images per forward pass
    layout: Layout | None = None  # how the model takes a batch; default: the recipe's

    def __post_init__(self) -> None:
        self.crops = _window_of(self.name, self.crops, self.model.seq_length)
        self.layout = self.layout or self.crops.layout
        self.transform = self.transform or self.model.transform
        self.bgr = self.model.bgr if self.bgr is None else self.bgr
        if self.transform is None:
            raise ValueError(f"member {self.name}: set its transform (the exported model records none)")

    def run(
        self,
        frames: SampledFrames,
        tracks: TrackCrops,
        device: torch.device,
        fp16: bool = True,
        timer: StageTimer | None = None,
    ) -> MemberResult:
        """Fake logits of every unit the recipe asks for; ``timer`` splits crop/transform from the model time."""
        timer = timer or StageTimer()
        units = self.crops.units(tracks)
        if not units:  # e.g. every track too short for a sequence: nothing to score, not a failure
            return MemberResult.empty(self)
        logits = []
        for batch_units in _batches(units, self.batch_size):
            with timer("crop"):
                batch = self._tensor(frames, batch_units)
            with timer("model"):  # .cpu() waits for the GPU, so the time is the model's
                out = self._forward(batch.to(device, non_blocking=True), device, fp16).cpu()
            logits += list(out.reshape(len(batch_units), -1).numpy().astype(np.float64))
        return _collect(self, units, logits)

    def _tensor(self, frames: SampledFrames, units: list[Unit]) -> torch.Tensor:
        images = np.stack(
            [np.stack([self._image(frames.crop(f, b)) for f, b in zip(u.frames, u.boxes, strict=True)]) for u in units]
        )  # (N, T, H, W, C)
        flips = np.array([u.flip for u in units])
        images[flips] = images[flips, :, :, ::-1]
        x = torch.from_numpy(images).permute(0, 1, 4, 2, 3)  # (N, T, C, H, W)
        if self.layout == "images":
            return x[:, 0].contiguous()
        if self.layout == "clip":
            return x.transpose(1, 2).contiguous()
        return x.contiguous()

    def _image(self, crop: np.ndarray) -> np.ndarray:
        image = self.transform(image=np.ascontiguousarray(crop[..., ::-1] if self.bgr else crop))["image"]
        return np.asarray(image, np.float32)

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor, device: torch.device, fp16: bool) -> torch.Tensor:
        net, output = self.model.net, self.model.output
        with torch.autocast(device.type, dtype=torch.float16, enabled=fp16 and device.type == "cuda"):
            out = fake_logit(net(x), output)
            if self.crops.tta_flip:
                out = (out + fake_logit(net(x.flip(-1)), output)) / 2
        return out.float()


def fake_logit(out: torch.Tensor, output: str = "sigmoid") -> torch.Tensor:
    """One fake logit per prediction: ``sigmoid`` heads give it directly; a ``softmax`` head over (real, fake) gives
    ``logit_fake - logit_real``, whose sigmoid is its softmax P(fake)."""
    if output == "softmax":
        return out[..., 1] - out[..., 0]
    if output != "sigmoid":
        raise ValueError(f"model output must be sigmoid or softmax, got {output!r}")
    return out


def _batches(units: list[Unit], images: int) -> list[list[Unit]]:
    """Consecutive units of one length, about ``images`` frames per batch (at least one unit)."""
    batches: list[list[Unit]] = []
    for unit in units:
        last = batches[-1] if batches else None
        if last and len(last[0].frames) == len(unit.frames) and (len(last) + 1) * len(unit.frames) <= images:
            last.append(unit)
        else:
            batches.append([unit])
    return batches


def _collect(member: Member, units: list[Unit], logit: list[np.ndarray]) -> MemberResult:
    per_frame = member.layout == "sequence"
    tracks: dict[int, list[float]] = {}
    samples: dict[str, list] = {"track": [], "first": [], "last": [], "prob": []}
    for unit, values in zip(units, logit, strict=True):
        spans = [(f, f) for f in unit.frames.tolist()] if per_frame else [(unit.frames[0], unit.frames[-1])]
        for (first, last), value in zip(spans, values, strict=True):
            tracks.setdefault(unit.track, []).append(value)
            samples["track"].append(unit.track)
            samples["first"].append(int(first))
            samples["last"].append(int(last))
            samples["prob"].append(float(1 / (1 + np.exp(-value))))
    ordered = tuple(np.array(tracks[t]) for t in sorted(tracks))
    return MemberResult(MemberOutput(member.name, ordered, member.weight, member.group), samples)


@dataclass
class Ensemble:
    """Members plus how a video is sampled and tracked and how it is scored: ``rule(outputs) -> float | None``.

    ``members`` may be given as a mapping name → member fields (the config form, so that one member can be
    overridden or dropped with ``null`` by name).
    """

    name: str
    members: list[Member] | Mapping[str, Mapping[str, Any] | None]
    rule: Callable[[list[MemberOutput]], float | None]
    tracker: Any  # a preprocessing FaceTracker: .tracks(detections, info), .crop_boxes(track, info)
    sampling: Callable[[Any], np.ndarray]  # VideoInfo → source frames to decode
    detect_every: int = 1  # the detector sees every n-th decoded frame
    fallback: float = 0.5
    clip: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.members, Mapping):
            self.members = [Member(name=k, **dict(v)) for k, v in self.members.items() if v is not None]
        if not self.members:
            raise ValueError(f"ensemble {self.name!r} has no members")


@dataclass
class ExportedModel:
    """A network with what prediction needs to know about it: how its logits become P(fake) and its input pipeline."""

    net: nn.Module
    output: str = "sigmoid"  # sigmoid: one logit per prediction; softmax: (real, fake) logits
    transform: Callable[..., Any] | None = None
    bgr: bool = False
    sha256: str | None = None  # of the weights file: a re-export or a fix in place rescores (src.inference.batch)
    seq_length: int | None = None  # frames per clip of a sequence model (its spec's net.seq_length)


def _window_of(member: str, crops: CropRecipe, seq_length: int | None) -> CropRecipe:
    """``crops`` with the window length of a sequence model taken from its export; a different one is refused."""
    if not hasattr(crops, "length"):
        return crops
    if crops.length is None and seq_length is None:
        raise ValueError(f"member {member}: set crops.length (its model records no net.seq_length)")
    if None not in (crops.length, seq_length) and crops.length != seq_length:
        raise ValueError(f"member {member}: crops.length={crops.length} but its model takes {seq_length} frames")
    return dataclasses.replace(crops, length=crops.length or seq_length)


def load_model(path: str | Path) -> ExportedModel:
    """An exported model (``<name>.yaml`` + its ``.safetensors`` from the training ``export``), in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: exported model not found (export a trained checkpoint with `python -m src.models.export`, or "
            "point models_dir= or ensemble.members.<name>.model.path= at its .yaml)"
        )
    net, spec = load_exported(path)
    transform = spec.get("val_transform")
    return ExportedModel(
        net.eval(),
        spec.get("output", "sigmoid"),
        instantiate(allowed(transform, path)) if transform else None,
        spec.get("input", {}).get("channel_order", "RGB") == "BGR",
        spec.get("sha256") or sha256sum(path.parent / spec["weights"]),
        spec.get("net", {}).get("seq_length"),
    )
