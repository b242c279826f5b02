"""The MTCNN cascade (Zhang et al. 2016) over facenet-pytorch's P-, R- and O-nets, written for batches of frames.

facenet-pytorch's own driver spends most of a CPU frame outside the networks: it resamples every candidate box to
24x24 or 48x48 with one ``interpolate`` call per box (~25 candidates a frame at 640 px) and runs the nets in NCHW,
where PyTorch's CPU max-pooling is ~4x slower than in channels-last. This driver keeps the algorithm and its
conventions (pyramid sizes, the 12-px cell and stride 2, the per-scale 0.5 and cross-scale 0.7 IoU suppression,
the width/height of box regression, squaring, the 1-based crop rectangle, the final 0.7 suppression over the
smaller area) so its boxes equal facenet-pytorch's (``tests/test_detectors.py`` checks them on real frames), and
changes how the work is done:

* candidate crops are area-resampled all at once from one integral image per frame (each output pixel is the mean
  of its source rectangle, as ``adaptive_avg_pool2d`` computes it, from exact integer sums);
* the three nets run channels-last.

``bench/detect.py`` measures it (1.5x facenet-pytorch's ``detect`` rate with 2 CPU threads, 2.3x with one).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

CELL = 12  # P-net's receptive field, in pyramid pixels
STRIDE = 2  # P-net's output step, in pyramid pixels


@dataclass
class Faces:
    """One frame's faces: boxes (K, 4) x1y1x2y2, scores (K,), landmarks (K, 5, 2) as x, y; highest score first."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray


class MTCNNCascade:
    """``cascade(frames)`` with frames a uint8 RGB tensor (N, H, W, 3) -> one :class:`Faces` each; the nets run in
    ``dtype`` (float16 on CUDA when asked), box arithmetic in float32."""

    def __init__(
        self,
        pnet: nn.Module,
        rnet: nn.Module,
        onet: nn.Module,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        dtype: torch.dtype = torch.float32,
    ):
        self.dtype = dtype
        self.nets = [net.eval().to(memory_format=torch.channels_last) for net in (pnet, rnet, onet)]
        self.min_face_size = min_face_size
        self.thresholds = tuple(thresholds)
        self.factor = factor

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid: the first level makes a ``min_face_size`` face 12 px, each next one ``factor`` smaller, down
        to a shorter side of 12 px."""
        scale = CELL / self.min_face_size
        side = min(height, width) * scale
        out = []
        while side >= CELL:
            out.append(scale)
            scale *= self.factor
            side *= self.factor
        return out

    def __call__(self, frames: torch.Tensor) -> list[Faces]:
        integral = _integral(frames)
        boxes, scores, owners = self._proposals(integral)
        if len(boxes):
            boxes, scores, owners = self._refine(integral, boxes, owners)
        points = boxes.new_zeros((0, 5, 2))
        if len(boxes):
            boxes, scores, points, owners = self._output(integral, boxes, owners)
        return [_frame_faces(boxes, scores, points, owners == n) for n in range(len(frames))]

    def _proposals(self, integral: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """P-net over the pyramid: candidate boxes (regressed, squared), their scores and frame numbers."""
        pnet = self.nets[0]
        count, height, width = integral.shape[0], integral.shape[1] - 1, integral.shape[2] - 1
        device = integral.device
        frames = torch.arange(count, device=device)
        zero, full = torch.zeros_like(frames), torch.ones_like(frames)
        found = []
        for scale in self.scales(height, width):  # each level: every frame area-resampled to the level's size
            rows = _bins(zero, full * height, int(height * scale + 1))
            cols = _bins(zero, full * width, int(width * scale + 1))
            regression, probability = pnet(_area(integral, frames, rows, cols, self.dtype))
            face = probability[:, 1]
            owner, row, col = torch.nonzero(face > self.thresholds[0], as_tuple=True)
            if owner.numel() == 0:
                continue
            corner = torch.stack([col, row], dim=1).float() * STRIDE  # box arithmetic in float32, also under fp16
            box = torch.cat([((corner + 1) / scale).floor(), ((corner + CELL) / scale).floor()], dim=1)
            score = face[owner, row, col].float()
            offsets = regression[owner, :, row, col].float()
            keep = batched_nms(box, score, owner, 0.5)
            found.append((box[keep], score[keep], offsets[keep], owner[keep]))
        if not found:
            empty = torch.zeros((0, 4), device=device)
            return empty, empty[:, 0], torch.zeros(0, dtype=torch.long, device=device)
        box, score, offsets, owner = (torch.cat(parts) for parts in zip(*found, strict=True))
        keep = batched_nms(box, score, owner, 0.7)
        box, score, offsets, owner = box[keep], score[keep], offsets[keep], owner[keep]
        size = (box[:, 2:] - box[:, :2]).repeat(1, 2)  # P-net's regression uses the width without the +1
        return _square(box + offsets * size), score, owner

    def _refine(self, integral, boxes, owners):
        """R-net on 24x24 crops: keep, suppress, regress, square."""
        boxes, owners, crops = _crops(integral, boxes, owners, 24, self.dtype)
        regression, probability = (out.float() for out in self.nets[1](crops))
        keep = probability[:, 1] > self.thresholds[1]
        boxes, scores, regression, owners = boxes[keep], probability[keep, 1], regression[keep], owners[keep]
        pick = batched_nms(boxes, scores, owners, 0.7)
        boxes, scores, regression, owners = boxes[pick], scores[pick], regression[pick], owners[pick]
        return _square(_regress(boxes, regression)), scores, owners

    def _output(self, integral, boxes, owners):
        """O-net on 48x48 crops: keep, landmarks, regress, suppress by the smaller box's area."""
        boxes, owners, crops = _crops(integral, boxes, owners, 48, self.dtype)
        regression, landmarks, probability = (out.float() for out in self.nets[2](crops))
        keep = probability[:, 1] > self.thresholds[2]
        boxes, scores, regression, owners = boxes[keep], probability[keep, 1], regression[keep], owners[keep]
        landmarks = landmarks[keep].reshape(-1, 2, 5).transpose(1, 2)  # (K, 5, 2): x, y
        size = (boxes[:, 2:] - boxes[:, :2] + 1)[:, None, :]
        points = landmarks * size + boxes[:, None, :2] - 1
        boxes = _regress(boxes, regression)
        pick = _suppress_min(boxes, scores, owners, 0.7)
        return boxes[pick], scores[pick], points[pick], owners[pick]


def _normalise(images: torch.Tensor) -> torch.Tensor:
    return (images - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box as the square of its longer side around the same centre."""
    size = boxes[:, 2:] - boxes[:, :2]
    side = size.max(dim=1, keepdim=True).values
    corner = boxes[:, :2] + size / 2 - side / 2
    return torch.cat([corner, corner + side], dim=1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """R- and O-net box regression: offsets in units of the inclusive width and height."""
    size = (boxes[:, 2:] - boxes[:, :2] + 1).repeat(1, 2)
    return boxes + offsets * size


def _integral(frames: torch.Tensor, opencv: bool | None = None) -> torch.Tensor:
    """(N, H + 1, W + 1, 3) summed-area tables of uint8 frames (N, H, W, 3), zero first row and column: every
    pyramid level and every candidate crop is read from them. ``opencv`` (default: on the CPU) computes them with
    OpenCV, else with cumulative sums on the frames' device. int32 (half the bytes to gather) whenever a whole
    frame's sum fits, else float64 (OpenCV; exact to 2^53) or int64."""
    count, height, width, _ = frames.shape
    wide = height * width * 255 >= 2**31
    if frames.device.type == "cpu" if opencv is None else opencv:
        table = np.empty((count, height + 1, width + 1, 3), np.float64 if wide else np.int32)
        for frame, out in zip(frames.numpy(), table, strict=True):
            cv2.integral(frame, sum=out, sdepth=cv2.CV_64F if wide else cv2.CV_32S)
        return torch.from_numpy(table)
    dtype = torch.int64 if wide else torch.int32
    table = frames.cumsum(1, dtype=dtype).cumsum(2, dtype=dtype)  # (integer cumsum would widen to int64)
    return F.pad(table, (0, 0, 1, 0, 1, 0))


def _crops(integral, boxes, owners, size, dtype):
    """Normalised (K, 3, size, size) channels-last crops in ``dtype`` of the boxes' pixel rectangles, area-resampled;
    boxes whose rectangle is empty once clipped to the frame are dropped (with their owners)."""
    height, width = integral.shape[1] - 1, integral.shape[2] - 1
    whole = boxes.trunc().long()  # the rectangle [x1 - 1, x2) x [y1 - 1, y2) of 1-based corners, clipped
    left = whole[:, 0].clamp(min=1) - 1
    top = whole[:, 1].clamp(min=1) - 1
    right = whole[:, 2].clamp(max=width)
    bottom = whole[:, 3].clamp(max=height)
    keep = (right > left) & (bottom > top)
    boxes, owners = boxes[keep], owners[keep]
    left, top, right, bottom = left[keep], top[keep], right[keep], bottom[keep]
    crops = _area(integral, owners, _bins(top, bottom, size), _bins(left, right, size), dtype)
    return boxes, owners, crops


def _area(integral, owners, rows, cols, dtype) -> torch.Tensor:
    """Normalised channels-last (K, 3, h, w) images in ``dtype``: pixel (i, j) of image k is the mean of frame
    ``owners[k]`` over rows [rows[0][k, i], rows[1][k, i]) and columns [cols[0][k, j], cols[1][k, j])."""
    _, height, width, _ = integral.shape
    table = integral.reshape(-1, 3)
    (top, bottom), (left, right) = rows, cols
    base = (owners * height)[:, None, None]

    def corner(r, c):  # (K, h, w, 3): one flat gather (fancy indexing over three axes is several times slower)
        index = ((base + r[:, :, None]) * width + c[:, None, :]).reshape(-1)
        return table.index_select(0, index).reshape(len(r), r.shape[1], c.shape[1], 3)

    sums = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    area = ((bottom - top)[:, :, None] * (right - left)[:, None, :])[..., None]
    images = (sums.double() / area if sums.is_floating_point() else sums / area).to(dtype).permute(0, 3, 1, 2)
    return _normalise(images).contiguous(memory_format=torch.channels_last)


def _bins(start: torch.Tensor, stop: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive average pooling's source ranges: output i of ``size`` reads [start + floor(i L / size),
    start + ceil((i + 1) L / size)) of a span of length L = stop - start."""
    length = (stop - start)[:, None]
    i = torch.arange(size, device=start.device)[None, :]
    begin = start[:, None] + torch.div(i * length, size, rounding_mode="floor")
    end = start[:, None] + torch.div((i + 1) * length + size - 1, size, rounding_mode="floor")
    return begin, end


def _suppress_min(boxes: torch.Tensor, scores: torch.Tensor, owners: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy suppression per frame where overlap is the intersection over the smaller box's area (inclusive
    pixel widths, as the cascade's last step defines it): indices kept, highest score first within a frame."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    b = boxes.double().cpu().numpy()
    s = scores.double().cpu().numpy()
    owner = owners.cpu().numpy()
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    kept: list[int] = []
    for frame in np.unique(owner):
        order = [int(i) for i in np.flatnonzero(owner == frame)[np.argsort(-s[owner == frame], kind="stable")]]
        while order:
            best, rest = order[0], np.array(order[1:], dtype=np.int64)
            kept.append(best)
            if rest.size == 0:
                break
            w = np.maximum(0.0, np.minimum(b[best, 2], b[rest, 2]) - np.maximum(b[best, 0], b[rest, 0]) + 1)
            h = np.maximum(0.0, np.minimum(b[best, 3], b[rest, 3]) - np.maximum(b[best, 1], b[rest, 1]) + 1)
            overlap = w * h / np.minimum(area[best], area[rest])
            order = rest[overlap <= threshold].tolist()
    return torch.as_tensor(kept, dtype=torch.long, device=boxes.device)


def _frame_faces(boxes, scores, points, mine) -> Faces:
    order = torch.argsort(scores[mine], descending=True, stable=True)
    return Faces(
        boxes[mine][order].float().cpu().numpy(),
        scores[mine][order].float().cpu().numpy(),
        points[mine][order].float().cpu().numpy().reshape(-1, 5, 2),
    )
