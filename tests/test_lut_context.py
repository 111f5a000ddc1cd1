"""Table entries are the fused blocks a real export runs, checked against ONNX Runtime's optimised graph."""

from __future__ import annotations

import pytest
from _latency_support import TINY_SPACE

import hwsearch.latency._lut_keys as keys_module
from hwsearch.arch import Arch, mobilenet_v1
from hwsearch.cost import count_cost
from hwsearch.export import export_onnx
from hwsearch.latency import BlockKey, arch_blocks, kernel_mismatches, model_kernels
from hwsearch.latency._lut_kernels import block_kernels
from hwsearch.space import parse_space

# A network of the default space with ds and conv stages and 12-channel layers (not a
# multiple of the x86 NCHWc block: a reorder inside a block), and one with channel counts
# that are not even multiples of 4 (19, 38: convolutions kept in NCHW).
DEFAULT_SPACE_NET = Arch.from_str(
    "mbv1_a0.375_r208_in3_cls1000_floor8_stem32s2_conv64x2s1_ds128x3s2_conv256x2s2_ds512x5s2_ds1024x1s2"
)
UNALIGNED = mobilenet_v1(0.3, 33, num_classes=7)
ODD_NETWORKS = [UNALIGNED, mobilenet_v1(0.5, 64, in_channels=1), mobilenet_v1(0.6, 40, channel_rule="div8")]
NETWORKS = [DEFAULT_SPACE_NET, *ODD_NETWORKS, *list(parse_space(TINY_SPACE).grid())[::5]]


@pytest.mark.parametrize("arch", NETWORKS, ids=str)
def test_the_tables_blocks_are_the_kernels_of_the_optimised_export(arch):
    assert kernel_mismatches(arch, export_onnx(arch)) == []


def test_the_optimised_export_runs_fused_convolutions_that_the_blocks_account_for():
    kernels = model_kernels(export_onnx(DEFAULT_SPACE_NET))
    convs = [k for k in kernels if k.op.endswith("Conv")]
    conv_layers = [layer for layer in DEFAULT_SPACE_NET.layers() if layer.kind not in ("pool", "fc")]
    # Every convolution runs fused with its ReLU: one kernel per layer, no ReLU node left.
    assert len(convs) == len(conv_layers)
    assert all(dict(k.attrs).get("activation") == "Relu" for k in convs)
    assert not any(k.op == "Relu" for k in kernels)
    assert [k.op for k in kernels[-2:]] == ["Flatten", "Gemm"]
    # The blocks cover the layers exactly, in order, and their work adds up to the network's.
    layers = [layer for key in arch_blocks(DEFAULT_SPACE_NET) for layer in key.layers()]
    strip = [(la.kind, la.in_channels, la.out_channels, la.kernel, la.stride, la.groups, la.in_size, la.out_size)
             for la in layers]  # fmt: skip
    assert strip == [(la.kind, la.in_channels, la.out_channels, la.kernel, la.stride, la.groups, la.in_size,
                      la.out_size) for la in DEFAULT_SPACE_NET.layers()]  # fmt: skip
    assert sum(k.macs for k in arch_blocks(DEFAULT_SPACE_NET)) == count_cost(DEFAULT_SPACE_NET).macs


def test_a_block_entry_is_its_chain_less_the_lead_in_and_the_output_reorder():
    key = next(k for k in arch_blocks(DEFAULT_SPACE_NET) if k.kind == "ds" and k.stride == 2)
    kernels = block_kernels(key)
    dw, pw = (k for k in kernels if k.op.endswith("Conv"))
    # Depthwise (one group per channel, padded to the layout's block where it has one), strided.
    assert int(dict(dw.attrs)["group"]) >= key.in_channels and dict(dw.attrs)["strides"] == "2x2"
    assert dict(pw.attrs)["group"] == "1" and dict(pw.attrs)["kernel_shape"] == "1x1"
    assert dw.input_shapes[0][-1] == key.in_size and pw.output_shapes[0][-1] == key.out_size
    assert not any(k.to_output for k in kernels)
    head = block_kernels(next(k for k in arch_blocks(DEFAULT_SPACE_NET) if k.kind == "head"))
    assert head[-1].op == "Gemm" and head[-1].output_shapes == ((1, 1000),)


def test_the_lead_in_stands_for_the_predecessors_input_channels():
    blocks = arch_blocks(UNALIGNED)
    assert blocks[0].kind == "stem" and blocks[0].lead is None
    assert blocks[1].lead_channels == 3  # fed by the stem, which reads the 3-channel image
    # After a pointwise layer reading 19 channels (not a multiple of 4) the lead-in reads 19 too.
    after_19 = next(k for k in blocks if k.in_channels == 38 and k.kind == "ds")
    assert after_19.lead_channels == 19 and after_19.lead == BlockKey.null(38, after_19.in_size, 19)
    assert {k.lead_channels for k in arch_blocks(DEFAULT_SPACE_NET)[2:]} == {keys_module.LEAD_CHANNELS}


def test_without_the_predecessors_channels_the_check_finds_the_wrong_layout(monkeypatch):
    # The check has teeth: a lead-in of 4 channels before a block whose real predecessor reads
    # 19 leaves the block's input in the wrong layout, and the kernels differ.
    model = export_onnx(UNALIGNED)
    if not any(k.op.startswith("nchwc.") for k in model_kernels(model)):
        pytest.skip("this CPU provider does not use the NCHWc layout, whose reorders this case is about")
    monkeypatch.setattr(keys_module, "lead_channels_for", lambda _: keys_module.LEAD_CHANNELS)
    found = kernel_mismatches(UNALIGNED, model)
    assert found and any("Reorder" in line for line in found)
