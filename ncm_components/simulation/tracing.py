"""How a sonographer traces the LV on the annotated frames: the simulation's labels as a person draws them.

Real ED/ES labels are tracings, not the anatomy: each sonographer follows their own convention (the inner or the outer
edge of the endocardial echo, where the mitral annulus line sits, how far up the apex goes in near-field clutter),
never traces two frames exactly alike, and clicks a polygon of a few dozen points. Models trained and scored on real
echo learn and meet those tracings, so the simulation draws its annotated frames the same way.

:func:`sample_annotator` draws one annotator per video (the convention, fixed for the video); :func:`trace_cavity`
draws one frame's tracing from the true cavity outline (a fresh wobble, annulus and apex placement each frame). The
deviations grow as the acoustic window gets poorer (the wall is harder to see). All distances in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Annotator", "sample_annotator", "trace_cavity"]

_HARMONICS = 4  # the frame-to-frame wobble: smooth radial displacements of 1-4 undulations around the cavity


@dataclass(frozen=True)
class Annotator:
    """One sonographer's tracing of one video.

    ``offset``: mm the tracing runs outside (+) or inside (-) the true endocardium, everywhere. ``base_shift`` and
    ``apex_shift``: mm the annulus line and the apex sit further from (+) or closer to (-) the cavity's middle along
    its long axis. ``jitter``: RMS mm of the smooth radial wobble that differs on every traced frame. ``frame_shift``:
    standard deviation in mm of the per-frame placement of the annulus line and of the apex. ``points``: vertices of
    the clicked polygon."""

    offset: float
    base_shift: float
    apex_shift: float
    jitter: float
    frame_shift: float
    points: int


def sample_annotator(rng: np.random.Generator, quality: float) -> Annotator:
    """Draw the annotator of one video; ``quality`` (0 poor .. 1 good acoustic window) scales the uncertainty 2..1."""
    uncertainty = 2.0 - float(np.clip(quality, 0.0, 1.0))
    return Annotator(
        offset=float(rng.normal(-1.0, 0.6)) * uncertainty,
        base_shift=float(rng.normal(-2.0, 1.2)),
        apex_shift=float(rng.normal(0.0, 1.5)) * uncertainty,
        jitter=float(rng.uniform(0.3, 0.7)) * uncertainty,
        frame_shift=float(rng.uniform(0.5, 1.0)) * uncertainty,
        points=int(rng.integers(16, 33)),
    )


def trace_cavity(
    cavity: np.ndarray, apex: np.ndarray, base: np.ndarray, annotator: Annotator, rng: np.random.Generator
) -> np.ndarray:
    """One frame's tracing of the LV cavity.

    Args:
        cavity: (N, 2) true cavity outline (x, z), closed implicitly.
        apex: (2,) the endocardial apex; base: (2,) the middle of the mitral annulus line (they set the long axis).
        annotator: the video's :class:`Annotator`.
        rng: draws this frame's wobble and placements.

    Returns:
        (annotator.points, 2) the traced polygon (x, z).
    """
    axis = base - apex
    length = float(np.linalg.norm(axis))
    if length <= 0:
        raise ValueError("apex and base coincide: no long axis to trace along.")
    along = axis / length
    a = (cavity - apex) @ along  # 0 at the apex, ``length`` on the annulus line
    apex_move = annotator.apex_shift + annotator.frame_shift * float(rng.standard_normal())
    base_move = annotator.base_shift + annotator.frame_shift * float(rng.standard_normal())
    share = np.clip(a / length, 0.0, 1.0)[:, None]
    stretched = cavity + along * ((1.0 - share) * -apex_move + share * base_move)

    arc = _arc_length(stretched)
    phase = 2.0 * np.pi * arc[:-1] / arc[-1]
    k = np.arange(1, _HARMONICS + 1)[:, None]
    coefficients = rng.normal(0.0, annotator.jitter / np.sqrt(_HARMONICS), size=(2, _HARMONICS, 1))
    wobble = (coefficients[0] * np.cos(k * phase) + coefficients[1] * np.sin(k * phase)).sum(axis=0)
    traced = stretched + _outward_normals(stretched) * (annotator.offset + wobble)[:, None]

    arc, closed = _arc_length(traced), np.concatenate([traced, traced[:1]])
    clicks = (float(rng.uniform()) + np.arange(annotator.points)) / annotator.points * arc[-1]
    return np.stack([np.interp(clicks, arc, closed[:, i]) for i in range(2)], axis=1)


def _arc_length(outline: np.ndarray) -> np.ndarray:
    """(N + 1,) distance along a closed outline from its first point to each point, the last entry back at the first."""
    closed = np.concatenate([outline, outline[:1]])
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])


def _outward_normals(outline: np.ndarray) -> np.ndarray:
    """(N, 2) unit normals of a closed outline pointing away from its inside, whichever way it runs."""
    tangent = np.roll(outline, -1, axis=0) - np.roll(outline, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    x, z = outline[:, 0], outline[:, 1]
    signed_area = 0.5 * float(np.sum(x * np.roll(z, -1) - np.roll(x, -1) * z))
    return normal if signed_area > 0 else -normal
