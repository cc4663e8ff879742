"""Apical-view heart anatomy for the ultrasound simulation: chambers, walls, valves and their motion over the cycle.

Everything is in millimetres in the probe's frame: ``x`` lateral (positive to the right of the screen), ``z`` depth,
the transducer at (0, 0). Outlines are ``(N, 2)`` arrays of ``(x, z)`` points.

The left ventricle (LV) is described in its own frame: ``a`` along the long axis from the apex towards the mitral
annulus, ``l`` across it (positive towards the lateral wall in the 4-chamber view, the anterior wall in the 2-chamber
view). Its cavity is a bullet shape whose length and width shrink with the contraction ``c`` (0 at end-diastole (ED),
1 at end-systole (ES)) so that the single-plane volume (proportional to L W^2) falls by the ejection fraction. The
cavity label is the region inside the endocardium closed by the straight mitral annulus line, papillary muscles and
trabeculations included (the CAMUS and EchoNet-Dynamic tracing convention).

:func:`sample_heart` draws one heart (view, size, pose, wall thickness, chambers, valves, papillary muscles,
trabeculations) from a random generator; :func:`heart_frame` gives the outlines of every structure at one instant;
:func:`to_end_diastole` maps tissue points of any instant back to ED, so that speckle moves with the tissue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .presets import PRESETS, SitePreset

__all__ = ["HeartAnatomy", "HeartFrame", "Structure", "sample_heart", "heart_frame", "to_end_diastole", "cardiac_cycle"]

_PROFILE_POINTS = 40  # points per side of a chamber outline
# atrioventricular valve opening through diastole: shut in isovolumic relaxation, E wave, diastasis, A wave
_VALVE_KNOTS = (0.0, 0.06, 0.16, 0.35, 0.45, 0.7, 0.82, 0.97, 1.0)
_VALVE_OPENING = (0.0, 0.0, 1.0, 0.8, 0.45, 0.45, 0.8, 0.05, 0.0)
# contraction as real apical views show it (EchoNet-Dynamic ED/ES tracings, :mod:`.motion_stats`): ranges of the draws
_LONG_SHARE = (0.11, 0.21)  # L_ES / L_ED = (ESV / EDV) ** share
_POINTING = (0.4, 0.7)  # share of the apex's bluntness lost at ES
_APEX_DESCENT = (1.9, 1.0)  # mm, mean and SD (clipped to 0..4): the endocardial apex moves towards the base


@dataclass(frozen=True)
class Structure:
    """A filled outline with its tissue kind (a key of the simulation's echogenicity table)."""

    kind: str
    outline: np.ndarray  # (N, 2) x, z in mm


@dataclass
class HeartAnatomy:
    """One heart, fixed for a video: shape at ED, contraction per unit ``c``, pose and the small structures."""

    view: str  # "4CH" or "2CH"
    apex: np.ndarray  # (x, z) of the endocardial apex at ED
    axis_angle: float  # radians; positive tilts the base to the right
    length: float  # ED apex-to-annulus length of the cavity
    half_width: tuple[float, float]  # ED maximal half widths (left side, right side)
    bluntness: float  # apex shape exponent (2: parabolic, larger: blunter)
    base_taper: float  # annulus narrower than the maximal width by this share
    shape_modes: np.ndarray  # (2, M) relative Fourier amplitudes of each side's width along the axis
    wall: float  # ED wall thickness
    apex_wall: float
    thickening: float  # relative wall thickening at ES
    long_keep: float  # L_ES / L_ED
    radial_keep: float  # W_ES / W_ED (the widest point)
    pointing: float  # the apex's bluntness falls by this share at ES: the cavity narrows most away from its widest
    apex_descent: float  # mm the endocardial apex (and the heart with it) moves towards the base at ES
    rv_start: float  # RV apex position along the LV axis (share of the LV length)
    rv_width: float
    rv_wall: float
    tricuspid_offset: float  # tricuspid annulus this far towards the apex from the mitral annulus
    la_length: float
    la_width: float
    ra_length: float
    ra_width: float
    atrial_wall: float
    pericardium: float  # thickness of the bright pericardial layer
    mitral_leaflets: tuple[float, float]  # lengths of the left and right leaflets
    tricuspid_leaflets: tuple[float, float]
    leaflet_thickness: float
    papillary: list[tuple[float, float, float, float]]  # (s along the axis, side +-1, half length, half width)
    trabeculae: list[tuple[float, float, float, float, float]]  # (s, side, length, width, tilt)
    sway: np.ndarray  # (3,) whole-heart motion amplitude over the cycle: x mm, z mm, radians
    atrial_bend: float  # radians the atria's axes turn from the LV's towards the crux (the screen's left)
    lung_gap: float  # mm of tissue between the pericardium and the left lung's pleura
    extras: dict = field(default_factory=dict)


@dataclass
class HeartFrame:
    """The outlines at one instant: ``lv_cavity`` (the label), the other structures in painting order, and the LV's
    long axis from its endocardial apex ``lv_apex`` to the middle of the mitral annulus line ``lv_base`` (x, z)."""

    lv_cavity: np.ndarray
    lv_epicardium: np.ndarray
    left_atrium: np.ndarray
    structures: list[Structure]
    contraction: float
    lv_apex: np.ndarray
    lv_base: np.ndarray


def cardiac_cycle(
    num_frames: int, ed_frame: int, cycle: int, systole: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame contraction, mitral opening and tricuspid opening, each in [0, 1].

    Contraction is 0 at every ED and 1 at every ES (``systole`` frames after ED); diastole has rapid filling down to a
    diastasis plateau and the atrial kick back to 0. The valves are closed through systole and isovolumic
    relaxation, wide open in rapid filling, half closed in diastasis and open again with the atrial kick.

    Returns:
        three (T,) float arrays.
    """
    rng = rng or np.random.default_rng(0)
    plateau = float(rng.uniform(0.15, 0.35))  # contraction left in diastasis
    phase = ((np.arange(num_frames) - ed_frame) % cycle).astype(np.float64)
    in_systole = phase <= systole
    u = np.clip((phase - systole) / (cycle - systole), 0.0, 1.0)  # 0..1 through diastole
    rapid = plateau + (1 - plateau) * 0.5 * (1 + np.cos(np.pi * np.clip(u / 0.35, 0, 1)))
    kick = plateau * 0.5 * (1 + np.cos(np.pi * np.clip((u - 0.75) / 0.25, 0, 1)))
    diastolic = np.where(u < 0.35, rapid, np.where(u < 0.75, plateau, kick))
    contraction = np.where(in_systole, 0.5 * (1 - np.cos(np.pi * phase / systole)), diastolic)
    opening = np.where(in_systole, 0.0, np.interp(u, _VALVE_KNOTS, _VALVE_OPENING))
    tricuspid = np.clip(opening * float(rng.uniform(0.7, 1.0)), 0, 1)
    return contraction, np.clip(opening, 0, 1), tricuspid


def _shape_volume_ratio(
    bluntness: float, pointing: float, taper: float, half_width: tuple[float, float], modes: np.ndarray
) -> float:
    """Method-of-disks volume of the ES cavity shape over the ED one at equal length and widest width: what the
    apex's pointing alone takes away (sum of squared disk diameters, 200 disks)."""
    s = (np.arange(200) + 0.5) / 200
    side = [half_width[i] * _modes(s, modes[i]) for i in (0, 1)]
    ed = (side[0] + side[1]) * _bullet(s, bluntness, taper)
    es = (side[0] + side[1]) * _bullet(s, bluntness * (1.0 - pointing), taper)
    return float(np.sum(es**2) / np.sum(ed**2))


def sample_heart(
    rng: np.random.Generator, ef: float, view: str | None = None, preset: SitePreset = PRESETS["echonet"]
) -> HeartAnatomy:
    """Draw one heart: view, size, pose and shape vary widely; the cavity's method-of-disks volume falls by ``ef``
    percent, shared between long-axis shortening, narrowing and the apex's pointing as in real apical views
    (:mod:`.motion_stats`). The ``preset`` gives the share of four-chamber views, the LV's length and the pose."""
    view = view or ("4CH" if rng.random() < preset.four_chamber_share else "2CH")
    scale = float(rng.uniform(0.82, 1.2))
    length = preset.lv_length * scale * float(rng.uniform(0.88, 1.1))
    half = 19.5 * scale * float(rng.uniform(0.85, 1.15))
    asym = float(rng.uniform(-0.12, 0.08))
    bluntness = float(rng.uniform(1.8, 3.2))
    base_taper = float(rng.uniform(0.1, 0.3))
    shape_modes = rng.normal(0.0, 0.035, size=(2, 3))
    half_width = (half * (1 + asym), half * (1 - asym))
    pointing = float(rng.uniform(*_POINTING)) * min(ef / 60.0, 1.0)  # weak hearts change shape less
    remaining = 1.0 - ef / 100.0
    long_share = float(rng.uniform(*_LONG_SHARE))  # part of the volume change carried by long-axis shortening
    long_keep = remaining**long_share
    shape_keep = _shape_volume_ratio(bluntness, pointing, base_taper, half_width, shape_modes)
    radial_keep = min(math.sqrt(remaining / (long_keep * shape_keep)), 1.0)
    # the anterolateral papillary muscle against the lateral wall, seen in most views; the posteromedial one only in
    # the two-chamber view (the four-chamber view's septal side has none)
    papillary = []
    if view == "2CH" or rng.random() < 0.6:
        papillary.append(
            (float(rng.uniform(0.45, 0.65)), 1.0, float(rng.uniform(3.5, 6)), float(rng.uniform(1.5, 2.6)))
        )
    if view == "2CH":
        papillary.append(
            (float(rng.uniform(0.45, 0.65)), -1.0, float(rng.uniform(3.5, 6)), float(rng.uniform(1.5, 2.5)))
        )
    trabeculae = [
        (
            float(rng.uniform(0.04, 0.55)),
            float(rng.choice([-1.0, 1.0])),
            float(rng.uniform(2.0, 6.0)),
            float(rng.uniform(0.8, 1.8)),
            float(rng.uniform(-0.6, 0.6)),
        )
        for _ in range(int(rng.integers(1, 6)))
    ]
    return HeartAnatomy(
        view=view,
        apex=np.array([float(rng.uniform(*preset.apex_x)), float(rng.uniform(*preset.apex_z))]),
        axis_angle=math.radians(float(np.clip(rng.normal(*preset.axis_tilt), -15.0, 40.0))),
        length=length,
        half_width=half_width,
        bluntness=bluntness,
        base_taper=base_taper,
        shape_modes=shape_modes,
        wall=float(rng.uniform(7.0, 12.0)) * math.sqrt(scale),
        apex_wall=float(rng.uniform(4.5, 8.0)),
        thickening=float(rng.uniform(0.2, 0.5)) * (0.3 + 0.7 * min(ef / 60.0, 1.0)),
        long_keep=long_keep,
        radial_keep=radial_keep,
        pointing=pointing,
        apex_descent=float(np.clip(rng.normal(*_APEX_DESCENT), 0.0, 4.0)),
        rv_start=float(rng.uniform(0.22, 0.42)),
        rv_width=float(rng.uniform(22, 34)) * scale,
        rv_wall=float(rng.uniform(3.0, 5.5)),
        tricuspid_offset=float(rng.uniform(3, 10)),
        la_length=float(rng.uniform(20, 32)) * scale,  # at ED, emptied by the atrial kick; +25 % at ES
        la_width=float(rng.uniform(12, 17)) * scale,
        ra_length=float(rng.uniform(35, 52)) * scale,
        ra_width=float(rng.uniform(15, 23)) * scale,
        atrial_wall=float(rng.uniform(2.0, 3.5)),
        pericardium=float(rng.uniform(1.5, 3.5)),
        mitral_leaflets=(float(rng.uniform(0.5, 0.62)), float(rng.uniform(0.36, 0.48))),
        tricuspid_leaflets=(float(rng.uniform(0.45, 0.6)), float(rng.uniform(0.35, 0.5))),
        leaflet_thickness=float(rng.uniform(1.5, 3.0)),
        papillary=papillary,
        trabeculae=trabeculae,
        sway=np.array([rng.uniform(-3, 3), rng.uniform(-3, 3), math.radians(float(rng.uniform(-3, 3)))]),
        atrial_bend=math.radians(float(rng.uniform(40, 60))),
        lung_gap=float(rng.uniform(0.0, 6.0)),
    )


# ------------------------------------------------------------------------------------------------ geometry helpers
def _rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])


class _AxisFrame:
    """The LV's (a, l) frame at one instant: ``point(a, l)`` -> (x, z) and back."""

    def __init__(self, apex: np.ndarray, angle: float) -> None:
        self.apex = apex
        self.along = np.array([math.sin(angle), math.cos(angle)])  # +a: from apex towards the base (deeper)
        self.across = np.array([math.cos(angle), -math.sin(angle)])  # +l: to the right of the screen

    def point(self, a, across) -> np.ndarray:
        a, across = np.asarray(a, np.float64), np.asarray(across, np.float64)
        return self.apex + a[..., None] * self.along + across[..., None] * self.across

    def coords(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = points - self.apex
        return d @ self.along, d @ self.across


def _bullet(s: np.ndarray, bluntness: float, taper: float) -> np.ndarray:
    """Relative half width along a ventricle, s in [0, 1] from apex to base: rounded apex, tapered base."""
    s = np.clip(s, 0.0, 1.0)
    return np.sqrt(1.0 - (1.0 - s) ** bluntness) * (1.0 - taper * s**4)


def _modes(s: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """1 + a smooth shape perturbation along the axis that vanishes at the apex."""
    k = np.arange(1, amplitudes.size + 1)
    return 1.0 + (amplitudes[None, :] * np.sin(np.pi * k[None, :] * np.asarray(s)[:, None])).sum(axis=1)


def _chamber_profile(v: np.ndarray, top: float, widest: float) -> np.ndarray:
    """Half width of an atrium along its axis, v in [0, 1] from the valve: ``top`` at the valve, rounded far end."""
    rise = top + (widest - top) * np.sin(0.5 * np.pi * np.clip(v / 0.45, 0, 1))
    fall = np.sqrt(np.clip(1.0 - (np.clip(v - 0.45, 0, None) / 0.55) ** 2, 0, 1))
    return rise * fall


def _outline(frame: _AxisFrame, a: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Closed outline from the left edge (a ascending) and the right edge (a descending)."""
    return np.concatenate([frame.point(a, -left), frame.point(a[::-1], right[::-1])])


def _band(points: np.ndarray, thickness: float) -> np.ndarray:
    """A polyline widened to a closed band of ``thickness``."""
    tangent = np.gradient(points, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1) * (thickness / 2)
    return np.concatenate([points + normal, (points - normal)[::-1]])


def _ellipse(centre: np.ndarray, along: np.ndarray, half_length: float, half_width: float, n: int = 24) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    across = np.array([along[1], -along[0]])
    return centre + np.cos(angles)[:, None] * half_length * along + np.sin(angles)[:, None] * half_width * across


def _leaflet(hinge: np.ndarray, direction: np.ndarray, length: float, thickness: float, bow: float) -> np.ndarray:
    """A valve leaflet: a slightly curved band from its hinge point."""
    t = np.linspace(0, 1, 8)[:, None]
    normal = np.array([-direction[1], direction[0]])
    centre = hinge + t * length * direction + (bow * length * np.sin(np.pi * t)) * normal
    widths = thickness * (1.0 - 0.5 * t[:, 0])
    return np.concatenate([centre + normal * widths[:, None] / 2, (centre - normal * widths[:, None] / 2)[::-1]])


# ------------------------------------------------------------------------------------------------ one instant
def _pose(heart: HeartAnatomy, sway_phase: float, contraction: float) -> _AxisFrame:
    """The LV's frame at one instant: the whole-heart sway, and the apex's descent towards the base in systole."""
    wobble = math.sin(2 * math.pi * sway_phase)
    angle = heart.axis_angle + heart.sway[2] * wobble
    along = np.array([math.sin(angle), math.cos(angle)])
    apex = heart.apex + heart.sway[:2] * wobble + along * heart.apex_descent * contraction
    return _AxisFrame(apex, angle)


def _profile(heart: HeartAnatomy, s: np.ndarray, contraction: float, taper: float | None = None) -> np.ndarray:
    """Relative half width along the LV at ``contraction``: the apex grows more pointed towards ES."""
    bluntness = heart.bluntness * (1.0 - heart.pointing * contraction)
    return _bullet(s, bluntness, heart.base_taper if taper is None else taper)


def _lv_widths(heart: HeartAnatomy, s: np.ndarray, contraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Endocardial half widths (left, right) at relative positions ``s`` of the cavity."""
    keep = 1.0 - (1.0 - heart.radial_keep) * contraction
    profile = _profile(heart, s, contraction)
    return tuple(heart.half_width[i] * keep * profile * _modes(s, heart.shape_modes[i]) for i in (0, 1))


def _lv_length(heart: HeartAnatomy, contraction: float) -> float:
    return heart.length * (1.0 - (1.0 - heart.long_keep) * contraction)


def heart_frame(
    heart: HeartAnatomy, contraction: float, mitral: float, tricuspid: float, sway_phase: float
) -> HeartFrame:
    """Outlines of every structure at one instant.

    Args:
        heart: the anatomy of the video.
        contraction: 0 at ED, 1 at ES.
        mitral, tricuspid: valve opening in [0, 1].
        sway_phase: phase of the whole-heart motion in cycles.

    Returns:
        the LV cavity (the label), epicardium and left atrium outlines, and every structure in painting order:
        pericardium, walls, blood pools, papillary muscles and trabeculations, valves.
    """
    frame = _pose(heart, sway_phase, contraction)
    length = _lv_length(heart, contraction)
    s = np.linspace(0.0, 1.0, _PROFILE_POINTS)
    left, right = _lv_widths(heart, s, contraction)
    cavity = _outline(frame, s * length, left, right)

    wall = heart.wall * (1.0 + heart.thickening * contraction)
    apex_wall = heart.apex_wall * (1.0 + 0.5 * heart.thickening * contraction)
    outer_len = length + apex_wall
    a_outer = -apex_wall + s * outer_len
    s_inner = np.clip(a_outer / length, 0, 1)
    left_in, right_in = _lv_widths(heart, s_inner, contraction)
    grow = _profile(heart, s, contraction, taper=0.0)
    left_out, right_out = left_in + wall * grow, right_in + wall * grow
    epicardium = _outline(frame, a_outer, left_out, right_out)

    hinge_left, hinge_right = frame.point(length, -left[-1]), frame.point(length, right[-1])
    annulus = hinge_right - hinge_left
    annulus_width = float(np.linalg.norm(annulus))
    structures: list[Structure] = []

    # left atrium beyond the mitral annulus; it fills while the ventricle empties
    la_grow = 1.0 + 0.25 * contraction
    v = np.linspace(0, 1, _PROFILE_POINTS)
    la_len = heart.la_length * la_grow
    la_top = 0.5 * annulus_width
    la_half = _chamber_profile(v, la_top, heart.la_width * la_grow)
    la_centre = 0.35 * right[-1] - 0.65 * left[-1]  # the atrium sits towards the septal hinge (the crux)
    la_axis = _AxisFrame(frame.point(length, la_centre), heart.axis_angle - heart.atrial_bend)
    left_atrium = _outline(la_axis, v * la_len, la_half, la_half)
    la_outer = _outline(
        la_axis, v * (la_len + heart.atrial_wall), la_half + heart.atrial_wall, la_half + heart.atrial_wall
    )

    pericardium_path = [frame.point(a_outer[::-1], right_out[::-1] + 1.0)]
    walls = [Structure("myocardium", epicardium), Structure("atrial_wall", la_outer)]
    pools = [Structure("blood", cavity), Structure("blood", left_atrium)]
    valves = []

    if heart.view == "4CH":
        # right ventricle against the septum, shorter than the LV; right atrium beyond the tricuspid annulus
        rv_keep = 1.0 - 0.35 * contraction
        a_tv = length - heart.tricuspid_offset
        a_rv = np.linspace(heart.rv_start * length, a_tv, _PROFILE_POINTS)
        u = (a_rv - a_rv[0]) / (a_tv - a_rv[0])
        septum = np.interp(a_rv, a_outer, left_out)
        rv_half = heart.rv_width * rv_keep * _bullet(u, 2.2, 0.25)
        rv_cavity = np.concatenate([frame.point(a_rv, -(septum + rv_half)), frame.point(a_rv[::-1], -septum[::-1])])
        a_rv_out = np.linspace(heart.rv_start * length - heart.rv_wall, a_tv, _PROFILE_POINTS)
        u_out = (a_rv_out - a_rv_out[0]) / (a_tv - a_rv_out[0])
        septum_out = np.interp(a_rv_out, a_outer, left_out)
        rv_out_half = (heart.rv_width * rv_keep + heart.rv_wall) * _bullet(u_out, 2.2, 0.25)
        rv_outer = np.concatenate(
            [frame.point(a_rv_out, -(septum_out + rv_out_half)), frame.point(a_rv_out[::-1], -septum_out[::-1])]
        )
        tv_left, tv_right = frame.point(a_tv, -(septum[-1] + rv_half[-1])), frame.point(a_tv, -septum[-1])
        ra_grow = 1.0 + 0.12 * contraction
        ra_top = 0.5 * float(np.linalg.norm(tv_right - tv_left))
        ra_half = _chamber_profile(v, ra_top, heart.ra_width * ra_grow)
        ra_axis = _AxisFrame(0.5 * (tv_left + tv_right), heart.axis_angle - heart.atrial_bend + 0.2)
        ra_len = heart.ra_length * ra_grow
        right_atrium = _outline(ra_axis, v * ra_len, ra_half, ra_half)
        ra_outer = _outline(
            ra_axis, v * (ra_len + heart.atrial_wall), ra_half + heart.atrial_wall, ra_half + heart.atrial_wall
        )
        septum = Structure("septum", _outline(frame, a_outer, left_out, np.zeros_like(left_out)))
        walls = [Structure("rv_wall", rv_outer), Structure("atrial_wall", ra_outer)] + walls + [septum]
        pools += [Structure("blood", rv_cavity), Structure("blood", right_atrium)]
        pericardium_path.append(frame.point(a_rv_out, -(septum_out + rv_out_half + 1.0)))
        valves += _valve(tv_left, tv_right, frame.along, heart.tricuspid_leaflets, heart.leaflet_thickness, tricuspid)
        structures.append(Structure("fibrous", _ellipse(0.5 * (hinge_left + tv_right), frame.along, 3.5, 2.5, 12)))
    else:
        pericardium_path.append(frame.point(a_outer, -(left_out + 1.0)))

    inner = []
    for s_p, side, half_len, half_wid in heart.papillary:
        a_p = s_p * length
        w = np.interp(s_p, s, right if side > 0 else left)
        centre = frame.point(a_p, side * max(w - 0.5 * half_wid, 0.0))  # half embedded in the wall
        inner.append(
            Structure("papillary", _ellipse(centre, frame.along, half_len * (1 + 0.2 * contraction), half_wid))
        )
    for s_t, side, t_len, t_wid, tilt in heart.trabeculae:
        w = float(np.interp(s_t, s, right if side > 0 else left))
        base = frame.point(s_t * length, side * w)
        inward = -side * frame.across * math.cos(tilt) + frame.along * math.sin(tilt)
        inner.append(Structure("trabecula", _ellipse(base + inward * t_len / 2, inward, t_len / 2, t_wid / 2, 10)))
    valves += _valve(hinge_left, hinge_right, frame.along, heart.mitral_leaflets, heart.leaflet_thickness, mitral)

    pericardium = [Structure("pericardium", _band(path, heart.pericardium)) for path in pericardium_path]
    # the left lung beside the lateral wall and behind the left atrium: air gives no echo beyond the pleura; the
    # atria, painted later, cover what lies under them
    pleura = right_out[::-1] + 1.0 + heart.pericardium / 2 + heart.lung_gap
    lung_edge = frame.point(a_outer[::-1], pleura)  # base -> apex
    top = lung_edge[-1] + np.array([10.0, 0.0])
    # kept in front of the transducer (z > 0): the scan converts outlines through their angle from it
    below = [frame.point(length + 120.0, -45.0), frame.point(length + 35.0, -45.0)]
    far_points = np.array([[top[0], 1.0], [250.0, 1.0], [250.0, 400.0], *below])
    lung = [Structure("lung", np.concatenate([lung_edge, far_points]))]
    structures = lung + pericardium + walls + pools + inner + structures + valves
    return HeartFrame(
        cavity, epicardium, left_atrium, structures, contraction, frame.apex, 0.5 * (hinge_left + hinge_right)
    )


def _valve(
    hinge_left: np.ndarray,
    hinge_right: np.ndarray,
    base_direction: np.ndarray,
    lengths: tuple[float, float],
    thickness: float,
    opening: float,
) -> list[Structure]:
    """Two leaflets hinged at the annulus: closed across it (bowing to the atrium), open towards the apex."""
    width = float(np.linalg.norm(hinge_right - hinge_left))
    leaflets = []
    for hinge, other, share, sign in (
        (hinge_left, hinge_right, lengths[0], 1.0),
        (hinge_right, hinge_left, lengths[1], -1.0),
    ):
        closed = (other - hinge) / width
        closed = closed + 0.3 * base_direction  # closed leaflets billow into the atrium
        closed /= np.linalg.norm(closed)
        opened = -base_direction  # towards the apex
        direction = (1 - opening) * closed + opening * (0.85 * opened + 0.15 * closed)
        direction /= np.linalg.norm(direction)
        leaflets.append(Structure("valve", _leaflet(hinge, direction, share * width, thickness, 0.12 * sign)))
    return leaflets


def to_end_diastole(heart: HeartAnatomy, points: np.ndarray, contraction: float, sway_phase: float) -> np.ndarray:
    """Map tissue points (N, 2) at an instant of ``contraction`` back to where that tissue sits at ED.

    Along the axis the ventricles stretch between the fixed apex and the moving annulus and the atria move with the
    annulus; across it, points inside the cavity scale with its width and the displacement fades over 15 mm outside
    the endocardium. Speckle looked up at the returned points moves with the heart.
    """
    now, ed = _pose(heart, sway_phase, contraction), _pose(heart, 0.0, 0.0)
    a, lateral = now.coords(points)
    length_now, length_ed = _lv_length(heart, contraction), heart.length
    a_ed = np.where(a <= length_now, np.where(a > 0, a * length_ed / length_now, a), a + (length_ed - length_now))
    s = np.clip(a / length_now, 0, 1)
    mean_half = 0.5 * (heart.half_width[0] + heart.half_width[1])
    keep = 1.0 - (1.0 - heart.radial_keep) * contraction
    width_now = np.maximum(mean_half * keep * _profile(heart, s, contraction), 1e-3)
    shift = mean_half * _profile(heart, s, 0.0) - width_now  # displacement of the endocardium back to ED
    distance = np.abs(lateral)
    fade = np.minimum(distance / width_now, 1.0) * np.exp(-np.maximum(distance - width_now, 0.0) / 15.0)
    fade *= np.clip(1.0 - (a - length_now) / 20.0, 0.0, 1.0) * (a > -10.0)
    lateral_ed = lateral + np.sign(lateral) * shift * fade
    return ed.point(a_ed, lateral_ed)
