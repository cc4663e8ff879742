"""Metrics: per-frame scores against MONAI's own, temporal consistency, ED/ES detection, per-video scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

from ncm_components.metrics import AnnotatedFrameDiceMetric, per_frame_scores, temporal_inconsistency
from ncm_components.metrics.cardiac import detect_ed_es, lv_areas
from ncm_components.metrics.temporal import area_second_difference
from ncm_components.metrics.video import clinical_figures, score_video, summarise_videos
from ncm_components.simulation.synthetic import generate_echo
from ncm_components.transforms.labels import IGNORE_INDEX


def _random_masks(seed: int, shape=(24, 20, 5)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pred = (rng.random(shape) > 0.5).astype(np.uint8)
    label = (rng.random(shape) > 0.4).astype(np.uint8)
    return pred, label


def _one_hot(frames: np.ndarray) -> torch.Tensor:
    tensor = torch.as_tensor(frames).long().permute(2, 0, 1)
    return torch.nn.functional.one_hot(tensor, 2).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_frame_scores_match_monai(seed):
    pred, label = _random_masks(seed)
    spacing = (0.3, 0.5)
    scores = per_frame_scores(pred, label, 2, spacing)
    y_pred, y = _one_hot(pred), _one_hot(label)
    np.testing.assert_allclose(scores["dice"], compute_dice(y_pred, y, include_background=False).numpy(), rtol=1e-6)
    hd95 = compute_hausdorff_distance(y_pred, y, percentile=95, spacing=list(spacing)).numpy()
    np.testing.assert_allclose(scores["hd95"], hd95, rtol=1e-6)
    assd = compute_average_surface_distance(y_pred, y, symmetric=True, spacing=list(spacing)).numpy()
    np.testing.assert_allclose(scores["assd"], assd, rtol=1e-6)


def test_per_frame_scores_skip_unannotated_frames_and_use_pixels_without_spacing():
    pred, label = _random_masks(3)
    sparse = label.copy()
    sparse[..., 1:4] = IGNORE_INDEX
    scores = per_frame_scores(pred, sparse, 2, spacing=(math.nan, math.nan))
    assert np.isnan(scores["dice"][1:4]).all() and np.isfinite(scores["dice"][[0, 4]]).all()
    in_pixels = per_frame_scores(pred, label, 2, spacing=None)["hd95"]
    np.testing.assert_allclose(scores["hd95"][[0, 4]], in_pixels[[0, 4]])
    with pytest.raises(ValueError, match="unknown metrics"):
        per_frame_scores(pred, label, metrics=("iou",))


def test_annotated_frame_dice_metric_averages_annotated_frames_only():
    pred, label = _random_masks(4)
    sparse = label.copy()
    sparse[..., 2] = IGNORE_INDEX
    metric = AnnotatedFrameDiceMetric(num_classes=2)
    y_pred = torch.as_tensor(pred)[None, None]
    metric(y_pred, torch.as_tensor(sparse)[None, None])
    expected = np.nanmean(per_frame_scores(pred, sparse, 2, metrics=("dice",))["dice"])
    assert metric.aggregate().item() == pytest.approx(expected, rel=1e-5)
    perfect = AnnotatedFrameDiceMetric()
    perfect(torch.as_tensor(label)[None, None], torch.as_tensor(label)[None, None])
    assert perfect.aggregate().item() == pytest.approx(1.0)


def test_temporal_inconsistency_flags_a_jump():
    smooth = np.sin(np.linspace(0, 2 * np.pi, 30)) + 2
    assert temporal_inconsistency(smooth) == (0.0, pytest.approx(np.abs(area_second_difference(smooth)).mean()))
    jumpy = smooth.copy()
    jumpy[10] += 1.5
    rate, mean_d = temporal_inconsistency(jumpy)
    assert rate == pytest.approx(3 / 28) and mean_d > temporal_inconsistency(smooth)[1]
    assert temporal_inconsistency(np.ones(10)) == (0.0, 0.0)
    assert temporal_inconsistency(np.ones(2)) == (0.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_ed_es_detection_finds_the_true_frames(seed):
    echo = generate_echo(seed)
    phases = detect_ed_es(lv_areas(echo.labels), echo.fps)
    assert min(abs(f - echo.ed_frame) for f in phases.ed_frames) <= 1
    assert min(abs(f - echo.es_frame) for f in phases.es_frames) <= 1


def test_ed_es_detection_falls_back_on_short_or_flat_curves():
    assert detect_ed_es(np.ones(12)).fallback
    short = detect_ed_es(np.linspace(3, 1, 8))  # a fraction of a cycle, no interior peak
    assert short.fallback and short.ed_frames == [0] and short.es_frames == [7]
    cycles = 100 + 20 * np.cos(2 * np.pi * np.arange(90) / 30)
    phases = detect_ed_es(cycles)
    assert not phases.fallback and phases.cycle_length == 30
    assert phases.ed_frames == [30, 60] and phases.es_frames == [15, 45, 75]


def test_score_video_of_ground_truth_is_perfect():
    echo = generate_echo(7, size=64)
    lv = echo.lv_masks
    sparse = np.full_like(lv, IGNORE_INDEX)
    sparse[..., [echo.ed_frame, echo.es_frame]] = lv[..., [echo.ed_frame, echo.es_frame]]
    scores = score_video(lv, sparse, lv, echo.spacing, echo.ed_frame, echo.es_frame, echo.fps, name="v")
    summary = scores.summary
    assert summary["dice_semi"] == pytest.approx(1.0) and summary["dice_full"] == pytest.approx(1.0)
    assert summary["hd95_full"] == pytest.approx(0.0) and summary["distance_unit"] == "mm"
    assert summary["ef_pred"] == pytest.approx(summary["ef_ref"]) and summary["ef_pred"] > 0
    assert summary["ed_error"] <= 1 and summary["es_error"] <= 2  # 64 px: the area curve is flat around ES
    assert len(scores.frames) == lv.shape[-1]
    unannotated = next(t for t in range(lv.shape[-1]) if t not in (echo.ed_frame, echo.es_frame))
    assert math.isnan(scores.frames[unannotated]["dice_semi"]) and scores.frames[unannotated]["dice_full"] == 1.0


def test_summarise_videos_reports_missing_ef_instead_of_zero():
    echo = generate_echo(8, size=64)
    lv = echo.lv_masks
    good = score_video(lv, label_full=lv, spacing=echo.spacing, ed_frame=echo.ed_frame, es_frame=echo.es_frame)
    empty = score_video(np.zeros_like(lv), label_full=lv, spacing=echo.spacing, ed_frame=1, es_frame=3)
    assert math.isnan(empty.summary["ef_pred"])
    summary = summarise_videos([good, empty])
    assert summary["ef_missing"] == 1 and summary["ef_mae"] == pytest.approx(0.0)
    assert summary["dice_full"] < 0.6


def test_clinical_figures_without_spacing_work_in_pixel_units_and_say_so():
    echo = generate_echo(9, size=64)
    figures = clinical_figures(echo.lv_masks, spacing=None, fps=echo.fps)
    with_spacing = clinical_figures(echo.lv_masks, spacing=echo.spacing, fps=echo.fps)
    assert figures.ef == pytest.approx(with_spacing.ef, abs=1e-6)  # EF is a ratio: the same in any unit
    assert with_spacing.edv == pytest.approx(figures.edv * echo.spacing[0] ** 3, rel=1e-6)  # mL = kpx3 x mm^3
    assert any("no pixel spacing" in note for note in figures.notes)
    assert figures.ed_frame is not None and abs(figures.ed_frame - echo.ed_frame) <= 1
    assert figures.volume_unit == "kpx3" and with_spacing.volume_unit == "mL"


def _beating_ellipse(es_widths: list[float], cycle: int = 20, size: int = 64) -> np.ndarray:
    """(X, Y, T) LV mask: an ellipse whose width falls from 16 px at each ED to ``es_widths[k]`` at cycle k's ES."""
    x, y = np.mgrid[:size, :size].astype(float)
    frames = []
    for k, es_width in enumerate(es_widths):
        for t in range(cycle):
            squeeze = 0.5 - 0.5 * math.cos(2 * math.pi * t / cycle)  # 0 at ED (t = 0), 1 at ES (t = cycle / 2)
            width, height = 16 - (16 - es_width) * squeeze, 26 - 4 * squeeze
            frames.append(((x - 32) / width) ** 2 + ((y - 32) / height) ** 2 <= 1)
    return np.stack(frames, axis=-1).astype(np.uint8)


def test_cycle_averaged_ef_averages_every_detected_cycle():
    mask = _beating_ellipse([9, 12, 9, 12], cycle=20)
    figures = clinical_figures(mask, fps=50.0)
    assert figures.ed_frames == [20, 40, 60] and figures.es_frames == [10, 30, 50, 70]
    per_cycle = [clinical_figures(mask, ed_frame=ed, es_frame=ed + 10).ef for ed in (20, 40, 60)]
    assert figures.cycle_efs == pytest.approx(per_cycle)
    assert per_cycle[1] > per_cycle[0] + 10  # the cycles differ: the average is not any one of them
    assert figures.ef_cycle_average == pytest.approx(sum(per_cycle) / 3)
    assert figures.ef == pytest.approx(per_cycle[0])  # without reference frames: the first detected cycle
    scores = score_video(mask, label_full=mask, ed_frame=40, es_frame=50, fps=50.0).summary
    assert scores["cycles"] == 3 and scores["ef_cycles_pred"] == pytest.approx(figures.ef_cycle_average)
    summary = summarise_videos([score_video(mask, label_full=mask, ed_frame=40, es_frame=50, fps=50.0)])
    assert summary["ef_cycles_bias"] == pytest.approx(figures.ef_cycle_average - per_cycle[1])
    assert summary["ef_bias"] == pytest.approx(0.0) and summary["volume_unit"] == "kpx3"


def test_cycle_averaged_ef_is_undefined_without_a_full_cycle():
    figures = clinical_figures(_beating_ellipse([9])[..., :12], fps=50.0)
    assert figures.phase_fallback and figures.cycle_efs == [] and math.isnan(figures.ef_cycle_average)
