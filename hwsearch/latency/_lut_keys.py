"""What a lookup table's entries are: the fused blocks a network runs, and which ones a space has.

ONNX Runtime runs an exported MobileNet as a chain of kernels: each convolution with its
folded batch norm and its ReLU is one kernel (on the x86 CPU provider an NCHWc ``Conv``
with ``activation=Relu``), joined by layout reorders where a channel count needs them.
A table entry is one *block* of that chain, as :meth:`Arch.layers` groups them:

* ``stem``: the first 3x3 convolution, fed by the network's input;
* ``ds``: a depthwise 3x3 + pointwise 1x1 pair (two kernels, and a reorder between
  them when the pointwise layer's input channels need one);
* ``conv``: a full 3x3 convolution;
* ``head``: global average pooling, flatten and the classifier.

Every block after the stem follows a group-1 convolution (the stem, a pointwise layer or
a full convolution) whose output shape is the block's input shape: the one neighbour
that changes which kernels ONNX Runtime runs for the block, through the layout it leaves
its output in. That layout follows from the block's input shape, except where the
predecessor's own input channels are not a multiple of :data:`LEAD_CHANNELS` (ONNX
Runtime's x86 provider then keeps such a convolution, and its output, in plain NCHW), so
the key also says how many input channels the lead-in standing for the predecessor has:
:data:`LEAD_CHANNELS`, or in that case the predecessor's own count. A ``null`` key
marks the lead-in alone, what timing a block in context costs on top.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from hwsearch.arch import Arch, Layer, Stage, Stem, conv_out_size
from hwsearch.cost import layer_cost
from hwsearch.space import SearchSpace

BLOCK_KINDS = ("stem", "ds", "conv", "head")
NULL = "null"
# Input channels of the lead-in, the 1x1 convolution that stands for a block's predecessor
# when the block is timed: fewer than any NCHWc block (8 or 16 floats), so ONNX Runtime
# reads its input as it is (as it does the stem's), and a multiple of its channel
# alignment (4), so it converts the lead-in as it converts an aligned predecessor.
LEAD_CHANNELS = 4


@dataclass(frozen=True, order=True)
class BlockKey:
    """What a block's latency depends on: kind, input and output channels, input size, stride, lead-in.

    ``head`` keys carry the classes as ``out_channels``; ``null`` keys (the lead-in alone)
    have ``out_channels == in_channels`` and stride 1. ``lead_channels`` is the lead-in's
    input channels (0 for the stem, which has none).
    """

    kind: str
    in_channels: int
    out_channels: int
    in_size: int
    stride: int
    lead_channels: int = LEAD_CHANNELS

    @classmethod
    def null(cls, channels: int, size: int, lead_channels: int = LEAD_CHANNELS) -> BlockKey:
        """The lead-in alone, for a block whose input is ``channels`` x ``size`` x ``size``."""
        return cls(NULL, channels, channels, size, 1, lead_channels)

    @property
    def out_size(self) -> int:
        """Output side: 1 for the head, else ceil(in_size / stride)."""
        return 1 if self.kind == "head" else conv_out_size(self.in_size, self.stride)

    @property
    def lead(self) -> BlockKey | None:
        """The null key whose timing is subtracted from this block's (None for the stem and null keys)."""
        if self.kind in ("stem", NULL):
            return None
        return BlockKey.null(self.in_channels, self.in_size, self.lead_channels)

    def layers(self) -> tuple[Layer, ...]:
        """The layers of the block, as :meth:`Arch.layers` lists them."""
        c_in, c_out, size, stride, out = self.in_channels, self.out_channels, self.in_size, self.stride, self.out_size
        if self.kind == "ds":
            return (Layer("dw", "dw", c_in, c_in, 3, stride, c_in, size, out),
                    Layer("pw", "pw", c_in, c_out, 1, 1, 1, out, out))  # fmt: skip
        if self.kind in ("stem", "conv"):
            return (Layer(self.kind, self.kind, c_in, c_out, 3, stride, 1, size, out),)
        if self.kind == "head":
            return (Layer("pool", "pool", c_in, c_in, size, 1, c_in, size, 1),
                    Layer("fc", "fc", c_in, c_out, 1, 1, 1, 1, 1))  # fmt: skip
        return ()

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the block's layers (0 for a null key)."""
        return sum(layer_cost(layer).macs for layer in self.layers())

    def token(self) -> str:
        """Compact text form, e.g. ``ds:64:128:56:2:4`` (the last number: the lead-in's channels)."""
        return f"{self.kind}:{self.in_channels}:{self.out_channels}:{self.in_size}:{self.stride}:{self.lead_channels}"


def lead_channels_for(predecessor_in_channels: int) -> int:
    """The lead-in's input channels for a block whose predecessor reads ``predecessor_in_channels``."""
    return predecessor_in_channels if predecessor_in_channels % LEAD_CHANNELS else LEAD_CHANNELS


def arch_blocks(arch: Arch) -> tuple[BlockKey, ...]:
    """The blocks of ``arch`` in forward order: stem, one per stage block, head."""
    blocks: list[BlockKey] = []
    layers = arch.layers()
    i = 0
    before = 0  # input channels of the group-1 convolution feeding the current block
    while i < len(layers):
        layer = layers[i]
        lead = 0 if layer.kind == "stem" else lead_channels_for(before)
        if layer.kind in ("dw", "pool"):  # a pair: dw + pw, pool + fc
            second = layers[i + 1]
            kind = "ds" if layer.kind == "dw" else "head"
            blocks.append(BlockKey(kind, layer.in_channels, second.out_channels, layer.in_size, layer.stride, lead))
            before = second.in_channels
            i += 2
        else:
            blocks.append(BlockKey(layer.kind, layer.in_channels, layer.out_channels, layer.in_size, layer.stride,
                                   lead))  # fmt: skip
            before = layer.in_channels
            i += 1
    return tuple(blocks)


def space_block_keys(space: SearchSpace) -> set[BlockKey]:
    """Every distinct block the valid architectures of ``space`` contain.

    Depth only repeats a stage's second block, so each stage is taken at its deepest;
    what remains to enumerate is width, resolution, strides and block kinds.
    """
    keys: set[BlockKey] = set()
    strides = [space.stem.stride, *(s.stride for s in space.stages)]
    kinds = [s.block for s in space.stages]
    for alpha, resolution, (stem_stride, *stage_strides), blocks in itertools.product(
        space.alpha, space.resolutions, itertools.product(*strides), itertools.product(*kinds)
    ):
        stages = tuple(
            Stage(spec.channels, max(spec.depth), stride, kind)
            for spec, stride, kind in zip(space.stages, stage_strides, blocks, strict=True)
        )
        arch = Arch(alpha, resolution, stages, Stem(space.stem.channels, stem_stride), space.input.channels,
                    space.input.classes, space.channel_rule)  # fmt: skip
        if not space.violations(arch):
            keys.update(arch_blocks(arch))
    return keys


def with_leads(keys: Iterable[BlockKey]) -> set[BlockKey]:
    """``keys`` plus the null keys (lead-ins alone) their timings need."""
    out = set(keys)
    out.update(lead for key in list(out) if (lead := key.lead) is not None)
    return out
