"""State-dict key names of lukemelas ``efficientnet_pytorch`` (used by both seeds) → timm ``tf_efficientnet_*``.

The two implementations hold the same tensors in the same order; only names differ (checked against the
reference maps ``rf_infer_b*_to_timm.keymap.tsv`` / ``ntech_b7_frame_to_timm.keymap.tsv`` in the tests):
lukemelas numbers blocks globally (``_blocks.7``), timm by stage and position (``blocks.2.1``), and the batch-norm
names shift by one in blocks with an expansion conv.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Block parts; the expansion-free first stage (timm DepthwiseSeparableConv) names its projection and BNs differently.
_COMMON_BLOCK = {"_depthwise_conv": "conv_dw", "_se_reduce": "se.conv_reduce", "_se_expand": "se.conv_expand"}
_DEPTHWISE_SEPARABLE = {**_COMMON_BLOCK, "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED_RESIDUAL = {
    **_COMMON_BLOCK,
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(.+)")


def lukemelas_to_timm(keys: Iterable[str], stage_depths: Sequence[int]) -> dict[str, str]:
    """Map every lukemelas key to its timm name; ``stage_depths`` = ``[len(s) for s in timm_model.blocks]``."""
    keys = list(keys)
    stage_of = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    expanding = {int(m.group(1)) for m in map(_BLOCK_KEY.fullmatch, keys) if m and m.group(2) == "_expand_conv"}
    mapping = {}
    for key in keys:
        block = _BLOCK_KEY.fullmatch(key)
        if block is None:
            module, _, rest = key.partition(".")
            if module not in _TOP_LEVEL:
                raise KeyError(f"not an efficientnet_pytorch key: {key!r}")
            mapping[key] = f"{_TOP_LEVEL[module]}.{rest}"
            continue
        index, part, rest = int(block.group(1)), block.group(2), block.group(3)
        if index >= len(stage_of):
            raise KeyError(f"{key!r}: block {index} but the timm model has {len(stage_of)} blocks")
        names = _INVERTED_RESIDUAL if index in expanding else _DEPTHWISE_SEPARABLE
        stage, position = stage_of[index]
        mapping[key] = f"blocks.{stage}.{position}.{names[part]}.{rest}"
    return mapping


def stage_depths(timm_efficientnet) -> list[int]:
    """Blocks per stage of a timm EfficientNet, the second argument of :func:`lukemelas_to_timm`."""
    return [len(stage) for stage in timm_efficientnet.blocks]
