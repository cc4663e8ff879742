"""Losses on hand-made tensors: annotated frames only, deep supervision, and the cross-frame boundary constraint."""

from __future__ import annotations

import pytest
import torch

from ncm_components.losses import (
    CrossFrameBoundaryLoss,
    NCMNetLoss,
    SoftAreaSmoothnessLoss,
    SparseFrameDiceCELoss,
    soft_boundary,
)
from ncm_components.transforms.labels import IGNORE_INDEX


def _disc_logits(radius: float, size: int = 32, centre: tuple[float, float] = (16, 16), sharpness: float = 4.0):
    """(2, H, W) logits of a disc: class 1 inside ``radius`` of ``centre``."""
    ys, xs = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    inside = radius - ((ys - centre[0]) ** 2 + (xs - centre[1]) ** 2).sqrt()
    return torch.stack([-sharpness * inside, sharpness * inside])


def _sparse_target(frames: int = 5, annotated: tuple[int, ...] = (0, 4), size: int = 32) -> torch.Tensor:
    target = torch.full((1, 1, size, size, frames), IGNORE_INDEX, dtype=torch.long)
    for t in annotated:
        target[0, 0, 8:24, 8:24, t] = 1
        target[0, 0, :8, :, t] = 0
        target[0, 0, 24:, :, t] = 0
        target[0, 0, 8:24, :8, t] = 0
        target[0, 0, 8:24, 24:, t] = 0
    return target


def test_sparse_loss_ignores_unannotated_frames():
    loss = SparseFrameDiceCELoss()
    target = _sparse_target()
    logits = torch.randn(1, 2, 32, 32, 5)
    changed = logits.clone()
    changed[..., 1:4] = torch.randn(1, 2, 32, 32, 3) * 10  # only unannotated frames change
    assert torch.allclose(loss(logits, target), loss(changed, target))
    changed[:, 1, ..., 0] += 5.0  # an annotated frame changes
    assert not torch.allclose(loss(logits, target), loss(changed, target))


def test_sparse_loss_gradient_only_on_annotated_frames():
    logits = torch.randn(1, 2, 32, 32, 5, requires_grad=True)
    SparseFrameDiceCELoss()(logits, _sparse_target()).backward()
    per_frame = logits.grad.abs().sum(dim=(0, 1, 2, 3))
    assert per_frame[[0, 4]].gt(0).all() and per_frame[1:4].eq(0).all()


def test_sparse_loss_is_small_for_a_perfect_prediction_and_large_for_the_inverse():
    target = _sparse_target(annotated=(0, 1, 2, 3, 4))
    perfect = torch.where(target == 1, 20.0, -20.0).float().repeat(1, 2, 1, 1, 1)
    perfect[:, 0] *= -1
    loss = SparseFrameDiceCELoss()
    assert loss(perfect, target) < 1e-3
    assert loss(-perfect, target) > 1.5


def test_sparse_loss_ignores_255_pixels_inside_an_annotated_frame():
    target = _sparse_target(annotated=(0,), frames=1)
    target[0, 0, :4, :4, 0] = IGNORE_INDEX  # padding from augmentation
    logits = torch.randn(1, 2, 32, 32, 1)
    changed = logits.clone()
    changed[..., :4, :4, :] = 50.0
    loss = SparseFrameDiceCELoss()
    assert torch.allclose(loss(logits, target), loss(changed, target))


def test_sparse_loss_without_annotation_is_zero_with_a_graph():
    logits = torch.randn(1, 2, 8, 8, 3, requires_grad=True)
    value = SparseFrameDiceCELoss()(logits, torch.full((1, 1, 8, 8, 3), IGNORE_INDEX))
    value.backward()
    assert value.item() == 0.0 and logits.grad is not None


def test_sparse_loss_rejects_mismatched_target():
    with pytest.raises(ValueError, match="does not match logits"):
        SparseFrameDiceCELoss()(torch.randn(1, 2, 8, 8, 3), torch.zeros(1, 1, 8, 8, 4))


def _moving_disc(shift_per_frame: float, sharpness: float = 8.0, frames: int = 4) -> torch.Tensor:
    """1 x 2 x 32 x 32 x T logits of a disc moving right by ``shift_per_frame`` pixels per frame."""
    discs = [_disc_logits(8.0, centre=(16, 10 + shift_per_frame * t), sharpness=sharpness) for t in range(frames)]
    return torch.stack(discs, dim=-1).unsqueeze(0)


def test_boundary_loss_is_zero_for_identical_frames():
    clip = _disc_logits(8.0, sharpness=8.0).unsqueeze(-1).repeat(1, 1, 1, 6).unsqueeze(0)  # 1 x 2 x 32 x 32 x 6
    assert CrossFrameBoundaryLoss()(clip).item() == pytest.approx(0.0, abs=1e-3)


def test_boundary_loss_allows_true_wall_motion_and_penalises_jumps():
    loss = CrossFrameBoundaryLoss(tolerance=2)
    within = [loss(_moving_disc(shift)).item() for shift in (0.0, 1.0, 2.0)]
    beyond = [loss(_moving_disc(shift)).item() for shift in (4.0, 6.0)]
    assert max(within) < 0.02  # motion of up to tau pixels per frame costs (almost) nothing
    assert 0.1 < beyond[0] < beyond[1] <= 1.0


@pytest.mark.parametrize("shift", [0.0, 1.0, 2.0])
def test_boundary_loss_is_not_lowered_by_blur(shift):
    """The old L1 between boundary maps fell when predictions were blurred; this constraint rises instead."""
    loss = CrossFrameBoundaryLoss(tolerance=2)
    sharp = loss(_moving_disc(shift, sharpness=8.0)).item()
    blurred = [loss(_moving_disc(shift, sharpness=s)).item() for s in (1.0, 0.5, 0.25)]
    assert sharp < blurred[0] < blurred[1] < blurred[2]
    probs = torch.softmax(_moving_disc(shift), dim=1)
    box_blurred = torch.nn.functional.avg_pool3d(probs, (5, 5, 1), stride=1, padding=(2, 2, 0), count_include_pad=False)
    assert loss(box_blurred.clamp_min(1e-6).log()).item() > sharp


def test_boundary_loss_single_frame_and_bad_shape():
    assert CrossFrameBoundaryLoss()(torch.randn(1, 2, 8, 8, 1)).item() == 0.0
    with pytest.raises(ValueError, match="B, K, H, W, T"):
        CrossFrameBoundaryLoss()(torch.randn(2, 8, 8, 3))
    with pytest.raises(ValueError, match="odd"):
        CrossFrameBoundaryLoss(kernel_size=4)
    with pytest.raises(ValueError, match="tolerance"):
        CrossFrameBoundaryLoss(tolerance=-1)


def test_soft_boundary_is_zero_inside_and_one_on_a_sharp_edge():
    probs = torch.zeros(1, 1, 9, 9)
    probs[..., 3:6, 3:6] = 1.0
    boundary = soft_boundary(probs)
    assert boundary[0, 0, 4, 4] == 0.0 and boundary[0, 0, 0, 0] == 0.0 and boundary[0, 0, 3, 3] == 1.0


def test_ncm_loss_weights_deep_supervision_and_boundary():
    target = _sparse_target()
    final, coarse = torch.randn(1, 2, 32, 32, 5), torch.randn(1, 2, 32, 32, 5)
    stacked = torch.stack([final, coarse], dim=1)
    sparse, boundary = SparseFrameDiceCELoss(), CrossFrameBoundaryLoss()
    expected = sparse(final, target) + 0.5 * sparse(coarse, target) + 0.1 * boundary(final)
    assert torch.allclose(NCMNetLoss()(stacked, target), expected)
    no_boundary = NCMNetLoss(boundary_weight=0.0)(final, target)
    assert torch.allclose(no_boundary, sparse(final, target))
    with pytest.raises(ValueError, match="boundary_weight"):
        NCMNetLoss(boundary_weight=-1)


def test_teacher_consistency_uses_unannotated_frames_only():
    from ncm_components.losses import TeacherConsistencyLoss

    loss = TeacherConsistencyLoss()
    target = _sparse_target(frames=5, annotated=(0, 4))
    student = torch.randn(1, 2, 32, 32, 5, requires_grad=True)
    assert loss(student, student.detach(), target).item() == pytest.approx(0.0, abs=1e-7)
    teacher = torch.randn(1, 2, 32, 32, 5)
    value = loss(student, teacher, target)
    value.backward()
    assert value.item() > 0
    assert student.grad[..., [0, 4]].abs().sum() == 0 and student.grad[..., 1:4].abs().sum() > 0
    all_annotated = _sparse_target(frames=2, annotated=(0, 1))
    assert loss(student[..., :2], teacher[..., :2], all_annotated).item() == 0.0


def test_mean_teacher_follows_the_network_and_adds_to_the_loss():
    from ignite.engine import Engine
    from monai.utils import CommonKeys as Keys

    from ncm_components.handlers import MeanTeacher
    from ncm_components.networks import ncmnet_small

    network = ncmnet_small()
    teacher = MeanTeacher(network, weight=1.0, rampup_iterations=1, time_flip_prob=1.0)
    engine = Engine(lambda e, b: None)
    engine.state.iteration = 5
    target = _sparse_target(frames=4, annotated=(0, 3))
    engine.state.output = {
        Keys.IMAGE: torch.rand(1, 1, 32, 32, 4),
        Keys.LABEL: target,
        Keys.PRED: torch.randn(1, 2, 2, 32, 32, 4),
        Keys.LOSS: torch.tensor(1.0),
    }
    teacher.add_unlabelled_loss(engine)
    assert engine.state.output[Keys.LOSS] > 1.0 and engine.state.output["unlabelled_loss"] > 0
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(1.0)
    teacher.update_teacher(engine)  # decay min(0.99, 1 - 1/6)
    moved = dict(teacher.teacher.named_parameters())["coarse_head.bias"]
    original = dict(network.named_parameters())["coarse_head.bias"] - 1.0
    assert torch.allclose(moved, original + 1.0 / 6, atol=1e-5)
    assert MeanTeacher(network, weight=0.0).attach(engine) is None and not engine.has_event_handler(
        teacher.update_teacher
    )


def _growing_disc(radii, size: int = 32, sharpness: float = 8.0) -> torch.Tensor:
    """(1, 2, H, W, T) logits of a centred disc with radius ``radii[t]`` in frame t."""
    return torch.stack([_disc_logits(r, size, sharpness=sharpness) for r in radii], dim=-1).unsqueeze(0)


def test_area_smoothness_spares_motion_and_punishes_flicker():
    loss = SoftAreaSmoothnessLoss()
    still = loss(_growing_disc([8.0] * 6)).item()
    contracting = loss(_growing_disc([10.0, 9.6, 9.2, 8.8, 8.4, 8.0])).item()  # area -36 % over the clip
    flicker = loss(_growing_disc([10.0, 9.6, 8.2, 8.8, 8.4, 8.0])).item()  # one frame 1.4 px too small
    assert still == pytest.approx(0.0, abs=1e-8)
    assert contracting < 1e-3  # a heart's motion: second differences of a few % of the area
    assert flicker > 20 * max(contracting, 1e-5)
    grown = loss(_growing_disc([12.0, 11.6, 10.2, 10.8, 10.4, 10.0])).item()
    assert grown < flicker  # relative to the clip's mean area: a bigger heart with the same flicker costs less


def test_area_smoothness_single_frames_and_bad_shape():
    assert SoftAreaSmoothnessLoss()(torch.randn(1, 2, 8, 8, 2)).item() == 0.0
    with pytest.raises(ValueError, match="B, K, H, W, T"):
        SoftAreaSmoothnessLoss()(torch.randn(2, 8, 8, 3))


def test_ncm_loss_adds_area_smoothness_only_when_weighted():
    target = _sparse_target()
    final = torch.randn(1, 2, 32, 32, 5)
    base = NCMNetLoss(boundary_weight=0.0)(final, target)
    weighted = NCMNetLoss(boundary_weight=0.0, area_smoothness_weight=10.0)(final, target)
    assert torch.allclose(weighted, base + 10.0 * SoftAreaSmoothnessLoss()(final))
    with pytest.raises(ValueError, match="area_smoothness_weight"):
        NCMNetLoss(area_smoothness_weight=-1)
