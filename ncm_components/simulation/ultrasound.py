"""B-mode image formation for the synthetic echo videos: a fast convolution model of a phased-array sector scan.

A frame is formed as a scanner forms it, in beam (depth x angle) coordinates:

1. tissue backscatter amplitude per sample from the anatomy's outlines (echogenicity by tissue kind), weakened where
   a wall runs along the beams (anisotropic scattering: the lateral-wall dropout of apical views), brightened where an
   interface faces the beam (specular reflection), shadowed or dropped out in random beam sectors, and lost in wall
   segments that leave the imaging plane at some phase of the cycle (through-plane motion: a segment seen at
   end-diastole may vanish at end-systole);
2. complex scatterers: a random field fixed to the tissue (looked up at each sample's end-diastolic position, so the
   speckle moves with the heart), partly renewed each frame (slow decorrelation); blood gets fresh scatterers;
3. convolution with a point spread function: Gaussian along the beam (pulse length), and across it a main lobe whose
   width grows away from the focus plus a weak wide side lobe;
4. attenuation with depth, time-gain compensation that does not quite cancel it, electronic noise amplified by the
   gain, near-field clutter and reverberation bands (static, not moving with the heart);
5. envelope detection, log compression to a dynamic range with a gain, and scan conversion to a Cartesian sector
   image (area-averaged from twice the output resolution).

:func:`sample_scanner` draws the scanner and patient-quality settings (a quality of 0 is a poor acoustic window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .anatomy import HeartAnatomy, HeartFrame, to_end_diastole
from .presets import PRESETS, SitePreset

__all__ = ["SectorScan", "ScannerSettings", "sample_scanner", "BModeSimulator", "TISSUES"]

TISSUES = ("background", "blood", "myocardium", "rv_wall", "atrial_wall", "pericardium", "papillary", "trabecula")
TISSUES += ("valve", "fibrous", "septum", "lung")
_WALLS = ("myocardium", "rv_wall", "atrial_wall", "pericardium")  # layers that lose echo along the beams
_SUBPIXEL_BITS = 4
_MATERIAL_SPACING = 0.3  # mm between independent scatterers of the tissue-fixed field


@dataclass(frozen=True)
class SectorScan:
    """A sector scan: ``beams`` beams over +-``half_angle`` (radians), ``samples`` depth samples to ``depth`` mm."""

    depth: float
    half_angle: float
    samples: int
    beams: int

    @property
    def sample_spacing(self) -> float:
        return self.depth / self.samples

    @property
    def beam_spacing(self) -> float:
        return 2 * self.half_angle / self.beams

    def radii(self) -> np.ndarray:
        return (np.arange(self.samples) + 0.5) * self.sample_spacing

    def angles(self) -> np.ndarray:
        return -self.half_angle + (np.arange(self.beams) + 0.5) * self.beam_spacing

    def sample_points(self) -> np.ndarray:
        """(samples, beams, 2) x, z positions of every sample in mm."""
        r, theta = np.meshgrid(self.radii(), self.angles(), indexing="ij")
        return np.stack([r * np.sin(theta), r * np.cos(theta)], axis=-1)

    def to_index(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) x, z in mm -> (N, 2) fractional (beam, sample) indices, as ``cv2`` drawing takes them."""
        r = np.hypot(points[:, 0], points[:, 1])
        theta = np.arctan2(points[:, 0], points[:, 1])
        return np.stack([(theta + self.half_angle) / self.beam_spacing - 0.5, r / self.sample_spacing - 0.5], axis=1)

    def conversion_maps(self, size: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps from a (size, size) Cartesian frame (apex at the top centre) to beam coordinates."""
        centres = (np.arange(size) + 0.5) * spacing
        z, x = np.meshgrid(centres, centres - size * spacing / 2, indexing="ij")
        index = self.to_index(np.stack([x.ravel(), z.ravel()], axis=1)).astype(np.float32)
        return index[:, 0].reshape(size, size), index[:, 1].reshape(size, size)


@dataclass(frozen=True)
class ScannerSettings:
    """Scanner, acoustic window and patient settings of one video (see :func:`sample_scanner`)."""

    quality: float  # 0 poor .. 1 good acoustic window
    echogenicity: dict
    background_contrast: float  # relative modulation of the tissue around the heart
    axial_psf: float  # mm (Gaussian sigma along the beam)
    lateral_psf: float  # mm at the focus
    focus: float  # mm
    side_lobe: float  # amplitude of the wide side lobe
    anisotropy: float  # echogenicity left where a wall runs along the beams (1: none lost)
    specular: float  # mm; brightness of interfaces that face the beam
    persistence: float  # speckle correlation of tissue between consecutive frames
    attenuation: float  # nepers per mm, round trip
    tgc_compensation: float  # share of the attenuation the time-gain compensation undoes
    noise: float  # electronic noise amplitude (relative to myocardium)
    clutter: float  # near-field clutter amplitude
    clutter_depth: float  # mm over which the clutter fades
    reverberation: tuple[float, float, float, float]  # level, depth mm, first beam share, last beam share
    dropouts: tuple[tuple[float, float, float, float], ...]  # (angle share, width share, depth mm, strength)
    # through-plane losses: (angle share, width share, depth mm, extent mm, strength, contraction of the worst loss)
    through_plane: tuple[tuple[float, float, float, float, float, float], ...]
    dynamic_range: float  # dB
    tissue_level: float  # where myocardium's mean power sits in the displayed range (the gain)
    gamma: float  # display curve
    near_field_gain: float = 0.0  # dB the gain is turned down at the transducer (a raised cosine back to 0 dB)
    near_field_depth: float = 1.0  # mm where the near-field gain is back to normal
    depth_markers: bool = False  # dots every centimetre beside the sector's right edge


def sample_scanner(
    rng: np.random.Generator, quality: float | None = None, preset: SitePreset = PRESETS["echonet"]
) -> ScannerSettings:
    """Draw scanner settings; ``quality`` (0 poor .. 1 good) drives clutter, noise, dropout, blur and wall loss; the
    ``preset`` gives the probe (point spread function), gain, dynamic range, near-field gain and clutter level.

    A poor window (quality near 0) is what makes real apical echo hard: walls that run along the beams nearly vanish,
    several beam sectors are shadowed or dropped out, wall segments leave the plane for part of the cycle, the beam is
    blurred by aberration and the apex is lost in near-field clutter. Quality is drawn from Beta(1.6, 1.6).

    The extra dropout sectors of poor windows and the through-plane losses are drawn from a child generator
    (``rng.spawn``), which leaves ``rng``'s own stream as it was before they were added: a seed gives the same anatomy,
    scanner and speckle with and without them, so the two can be compared video for video.
    """
    poor_window = rng.spawn(1)[0]
    q = float(rng.beta(1.6, 1.6)) if quality is None else float(quality)
    poor = 1.0 - q
    hazy = rng.random() < 0.1  # a bright preset with a hazy cavity, as many scanners show it
    echogenicity = {
        "background": float(rng.uniform(0.25, 0.7)),  # chest wall and mediastinum
        "blood": float(rng.uniform(0.008, 0.03)),
        "myocardium": float(rng.uniform(0.75, 1.25)),
        "rv_wall": float(rng.uniform(0.7, 1.2)),
        "atrial_wall": float(rng.uniform(0.5, 1.0)),
        "pericardium": float(rng.uniform(1.0, 2.0)),
        "papillary": float(rng.uniform(0.25, 0.55)),
        "trabecula": float(rng.uniform(0.15, 0.4)),
        "valve": float(rng.uniform(1.0, 2.4)),
        "fibrous": float(rng.uniform(1.8, 3.0)),
        "septum": float(rng.uniform(0.85, 1.5)),
        "lung": float(rng.uniform(0.02, 0.06)),  # thick, both faces specular: the brightest wall of the view
    }
    dropouts = [_dropout(rng, 0.0) for _ in range(int(rng.poisson(0.5 + 1.5 * poor)))]
    dropouts += [_dropout(poor_window, poor) for _ in range(int(poor_window.poisson(0.3 + 2.0 * poor)))]
    through_plane = tuple(_through_plane_loss(poor_window) for _ in range(int(poor_window.poisson(0.8 + 3.0 * poor))))
    reverberation = (0.0, 0.0, 0.0, 0.0)
    if rng.random() < 0.3 + 0.4 * poor:
        start = float(rng.uniform(0.0, 0.6))
        reverberation = (
            float(rng.uniform(0.1, 0.5)),
            float(rng.uniform(8, 20)),
            start,
            start + float(rng.uniform(0.2, 0.4)),
        )
    return ScannerSettings(
        quality=q,
        echogenicity=echogenicity,
        background_contrast=float(rng.uniform(0.3, 1.0)),
        axial_psf=float(rng.uniform(0.5, 0.9)) * preset.psf_scale,
        lateral_psf=float(rng.uniform(1.0, 1.7)) * (1 + 0.4 * poor) * preset.psf_scale,
        focus=float(rng.uniform(60, 110)),
        side_lobe=float(rng.uniform(0.03, 0.08) if not hazy else rng.uniform(0.1, 0.25)) * (1 + poor),
        anisotropy=float(rng.uniform(0.1, 0.6)) * (0.3 + 0.7 * q),
        specular=float(rng.uniform(0.5, 2.0)),
        persistence=float(rng.uniform(0.75, 0.95)),
        attenuation=float(rng.uniform(0.025, 0.045)),
        tgc_compensation=float(rng.uniform(0.75, 1.0)),
        noise=float(10 ** rng.uniform(-3.2, -2.7)) * (1 + 2 * poor),
        clutter=float(rng.uniform(0.05, 0.2)) * (0.3 + 2.5 * poor) * preset.clutter_scale,
        clutter_depth=float(rng.uniform(15, 60) if not hazy else rng.uniform(40, 120)),
        reverberation=reverberation,
        dropouts=tuple(dropouts),
        through_plane=through_plane,
        dynamic_range=float(rng.uniform(*preset.dynamic_range)),
        tissue_level=float(rng.uniform(*preset.tissue_level) if not hazy else rng.uniform(0.62, 0.85)),
        gamma=float(rng.uniform(1.0, 1.6)),
        near_field_gain=float(rng.uniform(*preset.near_field_gain)),
        near_field_depth=float(rng.uniform(*preset.near_field_depth)),
        depth_markers=preset.depth_markers,
    )


def _beam_position(rng: np.random.Generator) -> float:
    """Where a loss sits across the sector (share of the beams): mostly at the edges, where the walls run."""
    return float(rng.choice([rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0), rng.uniform(0.2, 0.8)], p=[0.4, 0.4, 0.2]))


def _dropout(rng: np.random.Generator, poor: float) -> tuple[float, float, float, float]:
    """A shadow (from a shallow depth, a rib) or a dropout (beyond the near wall); wider and deeper when poor."""
    shadow = rng.random() < 0.3
    return (
        _beam_position(rng),
        float(rng.uniform(0.04, 0.15 + 0.1 * poor)),
        float(rng.uniform(10, 30) if shadow else rng.uniform(40, 110)),
        float(rng.uniform(0.6, 0.95 + 0.03 * poor) if shadow else rng.uniform(0.3, 0.8 + 0.15 * poor)),
    )


def _through_plane_loss(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    """A wall segment that leaves the imaging plane around one phase of the cycle (see ``ScannerSettings``); placed
    across the middle and right of the sector, where the LV's septum and lateral (or anterior) wall run."""
    return (
        float(rng.uniform(0.3, 0.95)),
        float(rng.uniform(0.06, 0.18)),
        float(rng.uniform(20, 100)),
        float(rng.uniform(20, 50)),
        float(rng.uniform(0.7, 1.0)),
        float(rng.uniform(0.0, 1.0)),
    )


class BModeSimulator:
    """Forms the B-mode frames of one video: fixed scan, settings and tissue-fixed scatterers; one call per frame.

    Args:
        heart: the anatomy (for mapping tissue back to end-diastole).
        scan: the sector scan (beam sampling).
        settings: scanner and quality settings.
        size: output frame size in pixels (square, apex at the top centre).
        spacing: output pixel spacing in mm.
        rng: random generator of the video.

    Shapes:
        ``frame(outlines, contraction, sway_phase)`` -> (size, size) float32 grey levels in [0, 255].
    """

    def __init__(
        self,
        heart: HeartAnatomy,
        scan: SectorScan,
        settings: ScannerSettings,
        size: int,
        spacing: float,
        rng: np.random.Generator,
    ) -> None:
        self.heart, self.scan, self.settings, self.rng = heart, scan, settings, rng
        self.size = size
        self.points = scan.sample_points().reshape(-1, 2)
        self.radii = scan.radii().astype(np.float32)[:, None]
        self.table = np.array([settings.echogenicity[k] for k in TISSUES], np.float32)
        self._wall_ids = [TISSUES.index(k) for k in _WALLS]

        # tissue-fixed scatterers and the texture of the tissue around the heart, on a grid in mm
        extent = scan.depth + 40.0
        self.material_origin = np.array([-extent, -40.0])
        cells = int(math.ceil(2 * extent / _MATERIAL_SPACING))
        self.scatterers = rng.standard_normal((cells, cells, 2), dtype=np.float32) * np.float32(math.sqrt(0.5))
        coarse = rng.standard_normal((cells // 40 + 2, cells // 40 + 2)).astype(np.float32)
        texture = cv2.resize(coarse, (cells, cells), interpolation=cv2.INTER_CUBIC)
        self.texture = np.clip(1.0 + settings.background_contrast * texture, 0.15, None).astype(np.float32)
        self.fresh = self._complex_noise()

        self.window = self._window_gain()  # dropout, shadows: (samples, beams)
        self.through_plane = self._through_plane_losses()  # (K, samples, beams) and (K,) worst-loss contraction
        self.depth_gain = np.exp(-(1.0 - settings.tgc_compensation) * settings.attenuation * self.radii)
        self.tgc = np.exp(settings.tgc_compensation * settings.attenuation * self.radii)
        self.clutter_map = self._clutter_amplitude()
        # clutter decorrelates slowly: a rotation between two fixed speckle fields
        self.clutter_fields = (self._psf(self._complex_noise()), self._psf(self._complex_noise()))
        self.clutter_phase = float(rng.uniform(0, 2 * math.pi))
        self.map_beam, self.map_sample = scan.conversion_maps(2 * size, spacing / 2)
        # the near-field gain turned down: a raised cosine from -gain dB at the transducer to 0 dB at its depth
        near = np.clip(self.radii / max(settings.near_field_depth, 1e-3), 0.0, 1.0)
        self.near_field_db = (-settings.near_field_gain * 0.5 * (1.0 + np.cos(np.pi * near))).astype(np.float32)
        self.markers = _depth_markers(scan, size, spacing) if settings.depth_markers else None

    # ---------------------------------------------------------------------------------------------- static parts
    def _complex_noise(self) -> np.ndarray:
        shape = (self.scan.samples, self.scan.beams, 2)
        return self.rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(0.5))

    def _beam_share(self) -> np.ndarray:
        return (np.arange(self.scan.beams, dtype=np.float32) + 0.5) / self.scan.beams

    def _sector_profile(self, centre: float, width: float) -> np.ndarray:
        """(1, beams) Gaussian weight of a beam sector centred at ``centre`` (share of the beams), ``width`` wide."""
        return np.exp(-(((self._beam_share()[None, :] - centre) / width) ** 2))

    def _window_gain(self) -> np.ndarray:
        """Multiplicative loss of signal in random beam sectors beyond a depth (poor window, rib shadows)."""
        gain = np.ones((self.scan.samples, self.scan.beams), np.float32)
        for centre, width, depth, strength in self.settings.dropouts:
            onset = 1.0 / (1.0 + np.exp(-(self.radii - depth) / 4.0))
            gain *= 1.0 - strength * self._sector_profile(centre, width) * onset
        return gain

    def _through_plane_losses(self) -> tuple[np.ndarray, np.ndarray]:
        """(K, samples, beams) loss of each through-plane segment at its worst; (K,) the contraction of the worst."""
        losses, worst = [], []
        for centre, width, depth, extent, strength, phase in self.settings.through_plane:
            band = np.exp(-(((self.radii - depth - extent / 2) / (extent / 2)) ** 4))
            losses.append(strength * self._sector_profile(centre, width) * band)
            worst.append(phase)
        shape = (len(losses), self.scan.samples, self.scan.beams)
        return np.asarray(losses, np.float32).reshape(shape), np.asarray(worst, np.float32)

    def _window_at(self, contraction: float) -> np.ndarray:
        """(samples, beams) window gain at one instant: the static losses and the through-plane ones at this phase."""
        losses, worst = self.through_plane
        if not len(worst):
            return self.window
        present = np.clip(1.0 - np.abs(contraction - worst) / 0.6, 0.0, 1.0)  # 1 at the worst phase
        return self.window * np.prod(1.0 - present[:, None, None] * losses, axis=0)

    def _clutter_amplitude(self) -> np.ndarray:
        """Near-field haze and reverberation bands at multiples of a shallow reflector's depth."""
        s = self.settings
        amplitude = s.clutter * np.exp(-self.radii / s.clutter_depth) * np.ones((1, self.scan.beams), np.float32)
        level, depth, first, last = s.reverberation
        if level > 0:
            share = self._beam_share()[None, :]
            lateral = ((share > first) & (share < last)).astype(np.float32)
            lateral = cv2.GaussianBlur(lateral, (0, 0), 3.0)
            for k in range(2, 6):
                amplitude += level * 0.65**k * np.exp(-(((self.radii - k * depth) / 1.5) ** 2)) * lateral
        return amplitude.astype(np.float32)

    def _psf(self, field: np.ndarray) -> np.ndarray:
        """Convolve a complex (samples, beams, 2) field with the depth-dependent point spread function."""
        s, scan = self.settings, self.scan
        axial = s.axial_psf / scan.sample_spacing
        # lateral width in mm grows away from the focus; in beams it is also wide near the transducer
        r = self.radii[:, 0]
        width_mm = s.lateral_psf * np.sqrt(1.0 + ((r - s.focus) / (0.6 * s.focus)) ** 2)
        width_beams = np.clip(width_mm / (np.maximum(r, 5.0) * scan.beam_spacing), 0.4, 12.0)
        levels = np.geomspace(width_beams.min(), width_beams.max(), 3)
        blurred = [_gaussian(field, float(w), axial) for w in levels]
        position = np.interp(np.log(width_beams), np.log(levels), np.arange(3.0))[:, None, None]
        out = np.where(
            position < 1,
            blurred[0] * (1 - position) + blurred[1] * position,
            blurred[1] * (2 - position) + blurred[2] * (position - 1),
        )
        side = _gaussian(field, float(levels[1] * 6), axial * 2)
        return (out + s.side_lobe * side).astype(np.float32)

    # ---------------------------------------------------------------------------------------------- one frame
    def _tissue_map(self, frame: HeartFrame) -> np.ndarray:
        """(samples, beams) uint8 tissue kind of every sample."""
        kinds = np.zeros((self.scan.samples, self.scan.beams), np.uint8)
        for structure in frame.structures:
            index = self.scan.to_index(_densify(structure.outline))
            points = np.round(index * (1 << _SUBPIXEL_BITS)).astype(np.int32)
            cv2.fillPoly(kinds, [points], TISSUES.index(structure.kind), lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
        return kinds

    def _amplitude(self, kinds: np.ndarray, background: np.ndarray, window: np.ndarray) -> np.ndarray:
        """Backscatter amplitude: echogenicity, wall anisotropy, specular interfaces, ``window`` losses."""
        s, scan = self.settings, self.scan
        amplitude = np.where(kinds == 0, background, self.table[kinds]).astype(np.float32)
        walls = np.isin(kinds, self._wall_ids).astype(np.float32)
        smooth_rows = 2.5 / scan.sample_spacing
        smooth_beams = 2.5 / (0.5 * scan.depth * scan.beam_spacing)
        wall_field = cv2.GaussianBlur(walls, (0, 0), sigmaX=smooth_beams, sigmaY=smooth_rows)
        along = cv2.Sobel(wall_field, cv2.CV_32F, 0, 1, ksize=3) / scan.sample_spacing
        across = cv2.Sobel(wall_field, cv2.CV_32F, 1, 0, ksize=3) / (np.maximum(self.radii, 5.0) * scan.beam_spacing)
        facing = along**2 / (along**2 + across**2 + 1e-4)  # cos^2 between the wall's normal and the beam
        amplitude *= np.where(walls > 0, s.anisotropy + (1 - s.anisotropy) * facing, 1.0).astype(np.float32)
        level = cv2.GaussianBlur(amplitude, (0, 0), sigmaX=0.8, sigmaY=0.8 / scan.sample_spacing)
        interface = np.abs(cv2.Sobel(level, cv2.CV_32F, 0, 1, ksize=3)) / (8 * scan.sample_spacing)
        return (amplitude + s.specular * interface) * window

    def frame(self, frame: HeartFrame, contraction: float, sway_phase: float) -> np.ndarray:
        s, scan = self.settings, self.scan
        kinds = self._tissue_map(frame)
        material = to_end_diastole(self.heart, self.points, contraction, sway_phase)
        cell = np.round((material - self.material_origin) / _MATERIAL_SPACING).astype(np.int64)
        cell = np.clip(cell, 0, self.scatterers.shape[0] - 1)
        shape = (scan.samples, scan.beams)
        tissue = self.scatterers[cell[:, 1], cell[:, 0]].reshape(*shape, 2)
        background = s.echogenicity["background"] * self.texture[cell[:, 1], cell[:, 0]].reshape(shape)
        amplitude = self._amplitude(kinds, background, self._window_at(contraction))

        # speckle: tissue-fixed scatterers, partly renewed each frame; flowing blood renews them all
        rho = s.persistence
        innovation = self._complex_noise()
        self.fresh = np.float32(0.8) * self.fresh + np.float32(0.6) * innovation
        scatterers = np.float32(rho) * tissue + np.float32(math.sqrt(1 - rho**2)) * self.fresh
        blood = (kinds == TISSUES.index("blood"))[..., None]
        scatterers = np.where(blood, innovation[::-1], scatterers)  # flipped: independent of ``fresh``

        echo = self._psf(scatterers * amplitude[..., None]) * self.depth_gain[..., None]
        echo += (self.tgc * s.noise)[..., None] * innovation[:, ::-1]
        self.clutter_phase += 0.08
        clutter = (
            math.cos(self.clutter_phase) * self.clutter_fields[0]
            + math.sin(self.clutter_phase) * self.clutter_fields[1]
        )
        echo += self.clutter_map[..., None] * clutter
        envelope = np.sqrt(echo[..., 0] ** 2 + echo[..., 1] ** 2)

        # 0 dB is the mean power of myocardium; it is shown at ``tissue_level`` of the dynamic range
        decibels = 20.0 * np.log10(envelope + 1e-6) + self.near_field_db
        display = np.clip(decibels / s.dynamic_range + s.tissue_level, 0.0, 1.0) ** s.gamma
        cartesian = cv2.remap(
            (255.0 * display).astype(np.float32),
            self.map_beam,
            self.map_sample,
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0.0,
        )
        picture = cv2.resize(cartesian, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return picture if self.markers is None else np.maximum(picture, self.markers)


def _depth_markers(scan: SectorScan, size: int, spacing: float) -> np.ndarray:
    """(size, size) float32: a dot (grey 200) every 10 mm of depth just outside the sector's right edge, as scanners
    print their depth scale; dots outside the frame are dropped."""
    markers = np.zeros((size, size), np.float32)
    angle = scan.half_angle + 2.0 * spacing / max(scan.depth, 1.0)  # about 2 px beyond the edge at full depth
    for depth in np.arange(10.0, scan.depth, 10.0):
        row = int(depth * math.cos(angle) / spacing)
        column = int(depth * math.sin(angle) / spacing + size / 2)
        if 0 <= row < size and 0 <= column < size:
            markers[row, column] = 200.0
    return markers


def _gaussian(field: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Gaussian blur scaled to keep the power of white noise (a unit-energy point spread function)."""
    energy = math.sqrt(4.0 * math.pi * max(sigma_x, 0.5) * max(sigma_y, 0.5))
    return cv2.GaussianBlur(field, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y) * np.float32(energy)


def _densify(outline: np.ndarray, step: float = 1.5) -> np.ndarray:
    """Insert points so that no edge of a closed outline is longer than ``step`` mm (edges bend in beam space)."""
    closed = np.concatenate([outline, outline[:1]])
    lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    pieces = np.maximum(np.ceil(lengths / step).astype(int), 1)
    if int(pieces.max()) == 1:
        return outline
    first = np.repeat(np.cumsum(pieces) - pieces, pieces)
    t = (np.arange(int(pieces.sum())) - first) / np.repeat(pieces, pieces)
    start = np.repeat(closed[:-1], pieces, axis=0)
    end = np.repeat(closed[1:], pieces, axis=0)
    return start + (end - start) * t[:, None]
