"""Training-time randomisation of echo clips, in two families that can be switched on and off and measured apart.

- **Geometry** (how the probe sits and how the site frames the view): :class:`RandPerspectived` here, with MONAI's
  ``RandAffined`` (rotation, scale, shift) and ``RandFlipd`` (left-right mirror) in ``train.yaml``.
- **Appearance** (scanner, probe and gain, domain randomisation as SynthSeg does it for MRI):
  :class:`RandDepthGaind` (overall and depth gain), :class:`RandSpeckleNoised` (speckle of a random grain size),
  :class:`RandNearFieldClutterd`, :class:`RandSectorWidthd` (a narrower sector), :class:`RandSectorDropoutd`, with
  MONAI's ``RandAdjustContrastd`` (gamma) and ``RandGaussianSmoothd`` (blur) in ``train.yaml``.

Clips are (C, X, Y, T) in MONAI's layout: axis 1 = y = depth, the transducer at y = 0 and x = X / 2 (the picture's
top centre, as apical views are shown). Every parameter is drawn once per clip and applied to all its frames: a
scanner setting does not change from one frame to the next. Labels go through the geometric transforms with nearest
interpolation (255, not annotated, survives); the appearance transforms touch images only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform

from .labels import IGNORE_INDEX

__all__ = [
    "RandDepthGaind",
    "RandNearFieldClutterd",
    "RandPerspectived",
    "RandSectorDropoutd",
    "RandSectorWidthd",
    "RandSpeckleNoised",
]


def _depth_and_lateral(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, 1) lateral position from the centre line and (1, Y) depth of every pixel centre, in pixels."""
    size_x, size_y = image.shape[1], image.shape[2]
    x = torch.arange(size_x, dtype=torch.float32, device=image.device)[:, None] + 0.5 - size_x / 2
    y = torch.arange(size_y, dtype=torch.float32, device=image.device)[None, :] + 0.5
    return x, y


class _RandomImaged(RandomizableTransform, MapTransform):
    """Base of the random image transforms here: parameters drawn once per item (:meth:`draw`, which may look at the
    whole item), applied to every key (:meth:`apply`), with probability ``prob``."""

    def __init__(self, keys: KeysCollection, prob: float, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)

    def draw(self, data: dict):
        raise NotImplementedError

    def apply(self, image: torch.Tensor, parameters) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        parameters = self.draw(d)
        for key in self.key_iterator(d):
            d[key] = self.apply(d[key], parameters)
        return d


class RandSpeckleNoised(_RandomImaged):
    """Multiplicative speckle of a random grain: ``x * ((1 - strength) + strength * n)``, n Rayleigh with mean 1,
    smoothed by a Gaussian of ``grain`` pixels (0: a fresh value per pixel) and rescaled to mean 1, fresh per frame.

    Args:
        keys: image keys (C, X, Y, T).
        prob: probability of applying it to an item.
        strength: range of the speckle's share of the intensity.
        grain: range of the grain's Gaussian sigma in pixels (another probe's speckle size).
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.3,
        strength: tuple[float, float] = (0.05, 0.3),
        grain: tuple[float, float] = (0.0, 0.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.strength, self.grain = strength, grain

    def draw(self, data: dict) -> tuple[float, float]:
        return float(self.R.uniform(*self.strength)), float(self.R.uniform(*self.grain))

    def apply(self, image: torch.Tensor, parameters: tuple[float, float]) -> torch.Tensor:
        strength, grain = parameters
        noise = self.R.rayleigh(scale=math.sqrt(2 / math.pi), size=tuple(image.shape)).astype(np.float32)
        if grain > 0.3:  # smooth each frame's field in x and y, keep its mean at 1 and its contrast
            flat = noise.reshape(-1, image.shape[1], image.shape[2], image.shape[3])
            for c in range(flat.shape[0]):
                for t in range(flat.shape[3]):
                    field = cv2.GaussianBlur(flat[c, :, :, t], (0, 0), grain)
                    flat[c, :, :, t] = 1.0 + (field - field.mean()) * (noise.std() / max(field.std(), 1e-6))
            noise = np.clip(flat.reshape(noise.shape), 0.0, None)
        return image * ((1 - strength) + strength * torch.as_tensor(noise, device=image.device))


class RandSectorDropoutd(_RandomImaged):
    """Signal dropout of a beam sector, as a poor acoustic window or a rib causes it: intensities in a wedge of the
    sector (apex at the top centre of the picture) are multiplied by ``1 - strength`` beyond a random depth.

    Args:
        keys: image keys, (C, X, Y, T) in MONAI's layout (axis 1 = depth, the apex at y = 0, x = X / 2).
        prob: probability of applying it to an item.
        strength: range of the loss of signal at the wedge's centre, in [0, 1].
        width: range of the wedge's half width in radians (Gaussian profile across beams).
        half_angle: half angle of the sector the wedge's centre falls in, radians.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.3,
        strength: tuple[float, float] = (0.4, 0.9),
        width: tuple[float, float] = (0.05, 0.2),
        half_angle: float = 0.6,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.strength, self.width, self.half_angle = strength, width, half_angle

    def draw(self, data: dict) -> tuple[float, float, float, float]:
        strength, width = self.R.uniform(*self.strength), self.R.uniform(*self.width)
        centre = self.R.uniform(-self.half_angle, self.half_angle)
        onset = self.R.uniform(0.1, 0.6)  # share of the depth where the loss starts
        return float(strength), float(width), float(centre), float(onset)

    def apply(self, image: torch.Tensor, parameters: tuple[float, float, float, float]) -> torch.Tensor:
        strength, width, centre, onset = parameters
        x, y = _depth_and_lateral(image)
        wedge = torch.exp(-(((torch.atan2(x, y) - centre) / width) ** 2)) * (y > onset * image.shape[2])
        return image * (1.0 - strength * wedge)[None, :, :, None]


class RandDepthGaind(_RandomImaged):
    """Another gain and time-gain compensation: intensities times ``gain * exp(slope * (y / Y - 1/2))``, then clipped
    to [0, 1] (the display saturates as a scanner's does).

    Args:
        keys: image keys (C, X, Y, T), intensities in [0, 1].
        prob: probability of applying it to an item.
        gain: range of the overall gain.
        slope: range of the depth gain across the frame's height (natural log units: 0.7 brightens the far field
            twice as much as the near field).
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.5,
        gain: tuple[float, float] = (0.7, 1.4),
        slope: tuple[float, float] = (-0.7, 0.7),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.gain, self.slope = gain, slope

    def draw(self, data: dict) -> tuple[float, float]:
        return float(self.R.uniform(*self.gain)), float(self.R.uniform(*self.slope))

    def apply(self, image: torch.Tensor, parameters: tuple[float, float]) -> torch.Tensor:
        gain, slope = parameters
        _, y = _depth_and_lateral(image)
        profile = gain * torch.exp(slope * (y / image.shape[2] - 0.5))
        return torch.clamp(image * profile[None, :, :, None], 0.0, 1.0)


class RandNearFieldClutterd(_RandomImaged):
    """Near-field clutter: a haze of coarse static speckle added to the top of the picture, fading with depth, as the
    chest wall and reverberations put it over the apex.

    Args:
        keys: image keys (C, X, Y, T), intensities in [0, 1].
        prob: probability of applying it to an item.
        level: range of the haze's mean intensity at the transducer.
        depth: range of the depth (share of the frame's height) over which it fades by e.
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.3,
        level: tuple[float, float] = (0.05, 0.3),
        depth: tuple[float, float] = (0.1, 0.35),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.level, self.depth = level, depth

    def draw(self, data: dict) -> tuple[float, float, np.ndarray]:
        image = data[self.first_key(data)]
        field = self.R.rayleigh(scale=math.sqrt(2 / math.pi), size=tuple(image.shape[1:3])).astype(np.float32)
        field = cv2.GaussianBlur(field, (0, 0), 1.5)
        return float(self.R.uniform(*self.level)), float(self.R.uniform(*self.depth)), field / max(field.mean(), 1e-6)

    def apply(self, image: torch.Tensor, parameters: tuple[float, float, np.ndarray]) -> torch.Tensor:
        level, depth, field = parameters
        _, y = _depth_and_lateral(image)
        haze = level * torch.as_tensor(field, device=image.device) * torch.exp(-y / (depth * image.shape[2]))
        return torch.clamp(image + haze[None, :, :, None], 0.0, 1.0)


class RandSectorWidthd(RandomizableTransform, MapTransform):
    """A narrower sector: pixels beyond a random half angle from the centre line (apex at the top centre) are set to
    0, never cutting into the labelled LV: the half angle is drawn between the LV's own widest angle (plus
    ``margin``) and the largest of ``half_angle``.

    Args:
        keys: image keys (C, X, Y, T).
        label_key: the label volume (C, X, Y, T), 255 on frames nobody annotated; its non-zero annotated pixels are
            kept inside the sector.
        prob: probability of applying it to an item.
        half_angle: range of the sector's half angle in radians.
        margin: radians kept between the LV and the sector's edge.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "label",
        prob: float = 0.3,
        half_angle: tuple[float, float] = (0.55, 0.85),
        margin: float = 0.05,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.label_key, self.half_angle, self.margin = label_key, half_angle, margin

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        label = d.get(self.label_key)
        lowest = self.half_angle[0]
        if label is not None:
            x, y = _depth_and_lateral(torch.as_tensor(label))
            angles = torch.atan2(x, y).abs()[None, :, :, None].expand_as(torch.as_tensor(label))
            inside = (torch.as_tensor(label) > 0) & (torch.as_tensor(label) != IGNORE_INDEX)
            if inside.any():
                lowest = max(lowest, float(angles[inside].max()) + self.margin)
        if lowest >= self.half_angle[1]:
            return d  # the LV reaches the widest sector asked for: nothing to narrow
        half_angle = float(self.R.uniform(lowest, self.half_angle[1]))
        for key in self.key_iterator(d):
            x, y = _depth_and_lateral(d[key])
            keep = (torch.atan2(x, y).abs() <= half_angle).to(d[key].dtype)
            d[key] = d[key] * keep[None, :, :, None]
        return d


def _homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 projective map taking 4 ``source`` points (x, y) onto 4 ``target`` points."""
    return cv2.getPerspectiveTransform(source.astype(np.float32), target.astype(np.float32)).astype(np.float64)


class RandPerspectived(RandomizableTransform, MapTransform):
    """A random perspective warp of the image plane, the same for every frame: each corner of the picture moves by
    up to ``distortion`` of its size, as a probe held at another angle would frame the view. Images are resampled
    bilinearly, labels (the keys in ``label_keys``) by nearest neighbour; what comes from outside the picture is 0
    for images (black, as outside a sector) and the nearest edge value for labels (background on annotated frames,
    255 on frames nobody annotated).

    Args:
        keys: keys to warp, (C, X, Y, T).
        label_keys: those among ``keys`` resampled by nearest neighbour.
        prob: probability of applying it to an item.
        distortion: largest corner displacement as a share of the picture's size.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_keys: Sequence[str] = ("label",),
        prob: float = 0.3,
        distortion: float = 0.08,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.label_keys, self.distortion = set(label_keys), distortion

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        first = d[self.first_key(d)]
        size_x, size_y = first.shape[1], first.shape[2]
        corners = np.array([[0, 0], [size_x, 0], [size_x, size_y], [0, size_y]], np.float64)
        moved = corners + self.R.uniform(-self.distortion, self.distortion, (4, 2)) * [size_x, size_y]
        inverse = _homography(corners, moved)  # output pixel -> where it is sampled in the input
        x, y = np.meshgrid(np.arange(size_x) + 0.5, np.arange(size_y) + 0.5, indexing="ij")
        points = np.stack([x.ravel(), y.ravel(), np.ones(x.size)])
        mapped = inverse @ points
        source = (mapped[:2] / mapped[2:]).reshape(2, size_x, size_y)
        # grid_sample on (T*C, 1, X, Y): last grid coordinate indexes Y, first X, normalised to [-1, 1]
        grid = np.stack([source[1] / size_y * 2 - 1, source[0] / size_x * 2 - 1], axis=-1)
        for key in self.key_iterator(d):
            d[key] = self._warp(d[key], torch.as_tensor(grid, dtype=torch.float32), key in self.label_keys)
        return d

    @staticmethod
    def _warp(volume: torch.Tensor, grid: torch.Tensor, nearest: bool) -> torch.Tensor:
        channels, size_x, size_y, frames = volume.shape
        planes = torch.as_tensor(volume).permute(3, 0, 1, 2).reshape(frames * channels, 1, size_x, size_y)
        warped = F.grid_sample(
            planes.float(),
            grid.to(planes.device)[None].expand(planes.shape[0], -1, -1, -1),
            mode="nearest" if nearest else "bilinear",
            padding_mode="border" if nearest else "zeros",
            align_corners=False,
        )
        warped = warped.reshape(frames, channels, size_x, size_y).permute(1, 2, 3, 0).to(volume.dtype)
        return MetaTensor(warped, meta=volume.meta) if isinstance(volume, MetaTensor) else warped
