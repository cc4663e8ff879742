"""NCM-Net and its blocks: shape tables, gradients, block properties, TorchScript and ONNX round trips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ncm_components.networks import NCMNet, NeighborhoodCorrelationMining, UnreliableMaskedAttention, ncmnet_small
from ncm_components.networks.blocks.uma import unreliability_score

TINY = {"channels": (8, 16, 16, 32)}  # a fast stand-in for the default width in shape tables

# (constructor, kwargs, input shape, expected eval output shape)
SHAPE_CASES = [
    (builder, dict(kwargs, out_channels=k), (b, 1, h, w, t), (b, k, h, w, t))
    for (builder, kwargs), k, t, (b, h, w) in itertools.product(
        [(NCMNet, TINY), (ncmnet_small, {})], [2, 4], [1, 2, 10], [(1, 32, 48), (2, 64, 64)]
    )
]


@pytest.mark.parametrize("builder,kwargs,input_shape,expected", SHAPE_CASES)
def test_ncmnet_shapes(builder, kwargs, input_shape, expected):
    net = builder(**kwargs)
    x = torch.randn(input_shape)
    net.train()
    train_out = net(x)
    assert train_out.shape == (expected[0], 2, *expected[1:])  # DynUNet convention: final + coarse stacked on dim 1
    net.eval()
    with torch.no_grad():
        assert net(x).shape == expected


@pytest.mark.parametrize(
    "kwargs,expected_modules",
    [
        ({}, {"ncm": True, "uma": True}),
        ({"use_ncm": False}, {"ncm": False, "uma": True}),
        ({"use_uma": False}, {"ncm": True, "uma": False}),
        ({"use_ncm": False, "use_uma": False}, {"ncm": False, "uma": False}),
    ],
)
def test_ablation_flags_remove_modules(kwargs, expected_modules):
    net = ncmnet_small(**kwargs)
    assert (len(net.ncm) > 0) == expected_modules["ncm"]
    assert (net.uma is not None) == expected_modules["uma"]
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 1, 32, 32, 3)).shape == (1, 2, 32, 32, 3)


@pytest.mark.parametrize(
    "kwargs", [{"head_channels": 16}, {"decoder_convs": 2}, {"head_channels": 4, "decoder_convs": 3}]
)
def test_capacity_options_widen_the_head_and_deepen_the_decoder(kwargs):
    net = ncmnet_small(**kwargs)
    head = kwargs.get("head_channels", 8)  # small: channels[0] = 16, so the default head is 8 wide
    assert net.stem.conv.out_channels == net.to_head.out_channels == head
    convs_per_level = [
        sum(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) for m in f.modules()) for f in net.fuse
    ]
    assert convs_per_level == [kwargs.get("decoder_convs", 1)] * 3
    net.train()
    out = net(torch.randn(1, 1, 32, 48, 3))
    assert out.shape == (1, 2, 2, 32, 48, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize("kwargs,message", [({"decoder_convs": 0}, "decoder_convs"), ({"head_channels": 0}, "head")])
def test_capacity_options_reject_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ncmnet_small(**kwargs)


def wake(module: torch.nn.Module) -> torch.nn.Module:
    """Give the zero-initialised residual branches (NCM's output norm, UMA's output layers) non-zero weights, so
    that tests can see what flows through them."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if not parameter.abs().sum() > 0:
                parameter.normal_(0.0, 0.5)
    return module


def test_residual_branches_start_as_the_identity():
    net = ncmnet_small().eval()
    no_modules = ncmnet_small(use_ncm=False, use_uma=False).eval()
    no_modules.load_state_dict(net.state_dict(), strict=False)
    clip = torch.randn(1, 1, 32, 32, 3)
    with torch.no_grad():
        assert torch.allclose(net(clip), no_modules(clip), atol=1e-6)  # NCM and UMA add nothing before training


@pytest.mark.parametrize("builder,kwargs", [(NCMNet, TINY), (ncmnet_small, {})])
def test_every_parameter_receives_a_gradient(builder, kwargs):
    net = wake(builder(**kwargs)).train()
    out = net(torch.randn(2, 1, 32, 32, 4))
    (out * torch.randn_like(out)).sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_collated_metatensor_batch_trains_like_a_tensor():
    """The trainer feeds a batch of MetaTensors with per-item metadata; slicing it (as NCM does) must not fail."""
    from monai.data import MetaTensor, list_data_collate

    items = [{"image": MetaTensor(torch.rand(1, 32, 32, 4), meta={"pixdim": torch.rand(2)})} for _ in range(3)]
    batch = list_data_collate(items)["image"]
    net = wake(ncmnet_small()).train()
    out = net(batch)
    out.sum().backward()
    with torch.no_grad():
        assert torch.allclose(out.as_tensor(), net(batch.as_tensor()), atol=1e-5)


@pytest.mark.parametrize(
    "shape,message",
    [
        ((1, 32, 32, 4), "5D clip"),
        ((1, 3, 32, 32, 4), "3 channels"),
        ((1, 1, 40, 32, 4), "multiples of 16"),
        ((1, 1, 32, 24, 4), "multiples of 16"),
    ],
)
def test_bad_input_names_expected_shape(shape, message):
    net = ncmnet_small().eval()
    with pytest.raises(ValueError, match=message) as err:
        net(torch.randn(shape))
    assert "(B, 1, H, W, T)" in str(err.value)


def naive_correlation(block: NeighborhoodCorrelationMining, x: torch.Tensor, frames: int, context=None):
    """Per-pixel reference of NCM (one head): a softmax over the valid space-time neighbours and, with a context, a
    second softmax over the coarser level's window around (y // 2, x // 2), each with its relative position bias;
    the two results concatenated."""
    q, k, v = torch.split(block.to_qkv(x), [block.key_channels, block.key_channels, block.value_channels], dim=1)
    if context is not None:
        kc, vc = torch.split(block.context_to_kv(context), [block.key_channels, block.value_channels], dim=1)
    bt, _, h, w = x.shape
    r, p, pc = block.temporal_radius, block.window_size // 2, block.context_window // 2
    scale = block.key_channels**-0.5
    branches = 2 if block.context_channels else 1
    out = torch.zeros(bt, branches * block.value_channels, h, w)
    for i, t, y, xx in itertools.product(range(bt // frames), range(frames), range(h), range(w)):
        n = i * frames + t
        logits, values = [], []
        for dt, dy, dx in itertools.product(range(-r, r + 1), range(-p, p + 1), range(-p, p + 1)):
            tt, yy, xs = t + dt, y + dy, xx + dx
            if 0 <= tt < frames and 0 <= yy < h and 0 <= xs < w:
                bias = block.temporal_bias[0, dt + r] + block.spatial_bias[0, (dy + p) * block.window_size + dx + p]
                logits.append(k[i * frames + tt, :, yy, xs] @ q[n, :, y, xx] * scale + bias)
                values.append(v[i * frames + tt, :, yy, xs])
        out[n, : block.value_channels, y, xx] = torch.softmax(torch.stack(logits), dim=0) @ torch.stack(values)
        if context is not None:
            logits, values = [], []
            for dy, dx in itertools.product(range(-pc, pc + 1), range(-pc, pc + 1)):
                yy, xs = y // 2 + dy, xx // 2 + dx
                if 0 <= yy < context.shape[2] and 0 <= xs < context.shape[3]:
                    bias = block.context_bias[0, (dy + pc) * block.context_window + dx + pc]
                    logits.append(kc[n, :, yy, xs] @ q[n, :, y, xx] * scale + bias)
                    values.append(vc[n, :, yy, xs])
            out[n, block.value_channels :, y, xx] = torch.softmax(torch.stack(logits), dim=0) @ torch.stack(values)
    return out


def _randomise_biases(block: NeighborhoodCorrelationMining) -> None:
    with torch.no_grad():
        for name, parameter in block.named_parameters():
            if name.endswith("bias") and parameter.dim() == 2:
                parameter.normal_()


@pytest.mark.parametrize("whole_window", [False, True], ids=["per-neighbour", "whole-window"])
@pytest.mark.parametrize("window,radius,with_context", [(3, 1, True), (5, 0, True), (1, 2, False), (3, 1, False)])
def test_ncm_matches_per_pixel_reference(window, radius, with_context, whole_window):
    block = NeighborhoodCorrelationMining(8, context_channels=6, window_size=window, temporal_radius=radius).eval()
    block.whole_window = whole_window
    _randomise_biases(block)
    frames = 3
    x = torch.randn(2 * frames, 8, 6, 6)
    context = torch.randn(2 * frames, 6, 3, 3) if with_context else None
    with torch.no_grad():
        fast = block.correlate(x, frames, context)
        assert torch.allclose(fast, naive_correlation(block, x, frames, context), atol=1e-5)


def test_ncm_whole_window_and_per_neighbour_give_the_same_gradients():
    """The GPU's way (all neighbours at once, few kernels) and the CPU's (one neighbour at a time) train alike."""
    block = wake(NeighborhoodCorrelationMining(16, context_channels=8, num_heads=2))
    _randomise_biases(block)
    x, context = torch.randn(6, 16, 10, 8), torch.randn(6, 8, 5, 4)
    results = []
    for whole_window in (False, True):
        block.whole_window = whole_window
        block.zero_grad()
        inputs = (x.clone().requires_grad_(), context.clone().requires_grad_())
        out = block(inputs[0], 3, inputs[1])
        out.square().sum().backward()
        grads = [inputs[0].grad, inputs[1].grad] + [p.grad for p in block.parameters() if p.grad is not None]
        results.append((out.detach(), grads))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.allclose(out_a, out_b, atol=1e-5)
    assert len(grads_a) == len(grads_b) > 2
    for a, b in zip(grads_a, grads_b):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_ncm_repeated_frame_equals_single_frame(frames):
    """Documented behaviour: out-of-clip neighbours are masked, the position bias factorises into space and time and
    each branch has its own softmax, so T copies of a frame give that frame's output."""
    block = wake(NeighborhoodCorrelationMining(16, context_channels=8, num_heads=2)).eval()
    _randomise_biases(block)
    frame, context = torch.randn(1, 16, 8, 8), torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        single = block(frame, 1, context)
        repeated = block(frame.repeat(frames, 1, 1, 1), frames, context.repeat(frames, 1, 1, 1))
    for t in range(frames):
        assert torch.allclose(repeated[t], single[0], atol=1e-5)


def test_ncm_uses_temporal_neighbours_and_the_coarser_level():
    block = wake(NeighborhoodCorrelationMining(16, context_channels=8)).eval()
    clip, context = torch.randn(3, 16, 8, 8), torch.randn(3, 8, 4, 4)
    changed = clip.clone()
    changed[2] = torch.randn(16, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(block(clip, 3, context)[1], block(changed, 3, context)[1])  # frame 1 sees frame 2
        assert not torch.allclose(block(clip, 3, context)[1], block(clip, 3, torch.randn(3, 8, 4, 4))[1])
        assert block(clip, 3).shape == clip.shape  # the cross-scale branch is optional
        no_time = wake(NeighborhoodCorrelationMining(16, context_channels=8, temporal_radius=0)).eval()
        no_time.load_state_dict({k: v for k, v in block.state_dict().items() if k != "temporal_bias"}, strict=False)
        assert torch.allclose(no_time(clip, 3, context)[1], no_time(changed, 3, context)[1])  # r = 0: independent


def test_ncm_sits_where_speckle_lives():
    net = ncmnet_small()
    assert net.ncm_levels == (0, 1)  # 1/2 and 1/4 of the input
    assert all(block.context_channels == net.channels[int(level) + 1] for level, block in net.ncm.items())


def test_temporal_radius_can_differ_by_level():
    net = ncmnet_small(ncm_levels=[0, 1, 2], temporal_radius=[1, 1, 4])
    assert {level: block.temporal_radius for level, block in net.ncm.items()} == {"0": 1, "1": 1, "2": 4}
    assert net.ncm["2"].temporal_bias.shape == (1, 9)  # one term per frame offset -4..4
    assert net.eval()(torch.randn(1, 1, 32, 48, 6)).shape == (1, 2, 32, 48, 6)
    with pytest.raises(ValueError, match=r"temporal_radius needs one value per NCM level \(0, 1\)"):
        ncmnet_small(temporal_radius=[1, 1, 4])


def _uma_inputs():
    torch.manual_seed(0)
    features = torch.randn(4, 8, 12, 10)
    logits = torch.randn(4, 3, 12, 10) * 3
    return features, logits


@pytest.mark.parametrize("rule", ["max_prob", "margin", "entropy"])
@pytest.mark.parametrize("threshold,max_ratio", [(0.0, 0.05), (0.1, 0.3), (0.3, 1.0)])
def test_uma_leaves_reliable_pixels_bit_identical(rule, threshold, max_ratio):
    uma = wake(UnreliableMaskedAttention(8, 3, threshold=threshold, max_ratio=max_ratio, num_heads=2, reliability=rule))
    features, logits = _uma_inputs()
    with torch.no_grad():
        out = uma.eval()(features, logits)
    refined = uma.refined_mask(logits)  # N x HW
    score = unreliability_score(logits, rule)
    assert bool((score[refined] > threshold).all())  # only unreliable pixels ...
    assert int(refined.sum(dim=1).max()) <= uma.num_tokens(12, 10)  # ... at most the cap per frame
    refined = refined.reshape(4, 1, 12, 10).expand_as(features)
    assert torch.equal(out[~refined], features[~refined])
    assert not torch.allclose(out[refined], features[refined])


def test_uma_refines_nothing_when_the_coarse_prediction_is_sure():
    uma = UnreliableMaskedAttention(8, 2, threshold=0.1).eval()
    features = torch.randn(2, 8, 6, 6)
    confident = torch.stack([torch.full((2, 6, 6), 8.0), torch.full((2, 6, 6), -8.0)], dim=1)
    with torch.no_grad():
        assert torch.equal(uma(features, confident), features)


def test_uma_context_includes_reliable_pixels():
    uma = wake(UnreliableMaskedAttention(8, 3, threshold=0.0, max_ratio=0.1)).eval()
    features, logits = _uma_inputs()
    refined = uma.refined_mask(logits).reshape(4, 12, 10)
    reliable = (~refined[0]).nonzero()[0]  # a pixel UMA does not refine
    changed = features.clone()
    changed[0, :, reliable[0], reliable[1]] += 10.0 * torch.randn(8)  # not a constant: LayerNorm removes those
    with torch.no_grad():
        before, after = uma(features, logits), uma(changed, logits)
    assert not torch.allclose(before[0][:, refined[0]], after[0][:, refined[0]])


def test_unreliability_rules_rank_confident_pixels_last():
    logits = torch.tensor([[10.0, 0.1, 0.0], [-10.0, 0.0, 0.0]]).reshape(1, 2, 1, 3)  # pixel 0 sure, 1-2 unsure
    for rule in ("max_prob", "margin", "entropy"):
        score = unreliability_score(logits, rule)[0]
        assert score[0] < score[1] and score[0] < score[2]
    with pytest.raises(ValueError, match="reliability rule"):
        unreliability_score(logits, "coin")


def test_torchscript_trace_round_trip(tmp_path):
    from ncm_components.networks.export import export_torchscript

    net = wake(ncmnet_small()).eval()
    clip = torch.randn(1, 1, 64, 64, 10)
    traced = torch.jit.load(str(export_torchscript(net, tmp_path / "ncmnet.ts", spatial_size=(64, 64), frames=10)))
    with torch.no_grad():
        assert (traced(clip) - net(clip)).abs().max() < 1e-4


def test_onnx_round_trip_and_longer_clip(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is part of the pinned environment")
    from ncm_components.networks.export import export_onnx

    net = wake(ncmnet_small()).eval()  # NCM and UMA switched on: they start as the identity
    path = export_onnx(net, tmp_path / "ncmnet.onnx", spatial_size=(64, 64), frames=10)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (10, 16):
        clip = torch.randn(1, 1, 64, 64, frames)
        (onnx_out,) = session.run(None, {"image": clip.numpy()})
        with torch.no_grad():
            assert np.abs(onnx_out - net(clip).numpy()).max() < 1e-4


@pytest.mark.parametrize("training,whole_window", [(False, False), (True, False), (True, True)])
def test_torch_compile_captures_the_whole_network_in_one_graph(training, whole_window):
    """``compile: true`` fuses NCM's correlation loops only if Dynamo sees the network whole: ``fullgraph=True``
    raises on any graph break. The "aot_eager" backend traces forward and backward as Inductor would, without
    generating C++ (seconds, not minutes); the outputs and gradients must equal the eager network's. Both ways of
    computing the windows (the CPU's and the GPU's) are traced."""
    torch.manual_seed(0)
    net = wake(ncmnet_small()).train(training)
    for block in net.ncm.values():
        block.whole_window = whole_window
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True, dynamic=False)
    clip = torch.randn(1, 1, 32, 48, 3)
    if not training:
        with torch.no_grad():
            assert (compiled(clip) - net(clip)).abs().max() < 1e-5
        return
    parameters = list(net.parameters())
    eager_grad = torch.autograd.grad(net(clip).square().mean(), parameters)
    compiled_grad = torch.autograd.grad(compiled(clip).square().mean(), parameters)
    for eager, traced in zip(eager_grad, compiled_grad):
        assert (eager - traced).abs().max() < 1e-5


def test_deep_supervision_off_returns_one_tensor_in_training():
    net = ncmnet_small(deep_supervision=False).train()
    assert net(torch.randn(1, 1, 32, 32, 2)).shape == (1, 2, 32, 32, 2)


def test_coarse_output_is_upsampled_logits():
    net = ncmnet_small().train()
    out = net(torch.randn(1, 1, 32, 32, 2))
    assert torch.isfinite(out).all()
    assert not torch.allclose(out[:, 0], out[:, 1])
    assert F.softmax(out[:, 0], dim=1).sum(dim=1).allclose(torch.ones(1, 32, 32, 2))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_training_step_stays_finite_on_extreme_inputs(dtype):
    """fp16/bf16 autocast (CPU here, the same code paths as CUDA): saturated intensities and heads whose logits
    exceed the fp16 range (65504) give a finite loss and finite gradients."""
    from ncm_components.losses import NCMNetLoss
    from ncm_components.transforms.labels import IGNORE_INDEX

    net = wake(ncmnet_small()).train()
    with torch.no_grad():
        net.final_head[1].weight.mul_(1e4)
        net.coarse_head.weight.mul_(1e4)
    clip = torch.rand(2, 1, 32, 32, 6) * 1000.0
    label = (torch.rand(2, 1, 32, 32, 6) > 0.5).long()
    label[..., 1:-1] = IGNORE_INDEX
    with torch.autocast("cpu", dtype=dtype):
        output = net(clip)
        loss = NCMNetLoss()(output, label)
    loss.backward()
    assert output.dtype == torch.float32 and torch.isfinite(output).all() and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
