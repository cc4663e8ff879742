"""MONAI dictionary transforms for echo videos: load any supported file, sample ED->ES clips.

Every video is a MetaTensor (1, X, Y, T) exactly as MONAI's ``LoadImaged`` gives a NIfTI file (spatial axes in the
file's order, time last, the file's affine); its meta adds ``spacing_known``, ``pixel_spacing`` (x, y; NaN when
unknown) and ``fps`` (see :func:`~ncm_components.transforms.io.load_video`).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform

from .checks import check_video, item_name
from .io import load_video
from .labels import annotated_frames, label_classes

__all__ = ["LoadVideod", "SampleClipd", "clip_indices", "CLIP_MODES"]

logger = logging.getLogger(__name__)

CLIP_MODES = ("uniform", "random", "all", "window", "anywhere", "mixed")


class LoadVideod(MapTransform):
    """Load videos and label volumes (NIfTI, MHD, AVI/MP4, DICOM) as MetaTensors (1, X, Y, T), MONAI's layout.

    Args:
        keys: keys holding file paths.
        label_keys: keys (among ``keys``) holding label volumes: checked as stored, then uint8
            (:func:`~.labels.label_classes`: whole values in the classes or 255; a 0/255 binary mask read by rule).
        num_classes: classes of the labels (255 = not annotated is always allowed); None skips the value check.
        reference_key: the video the labels must match in (X, Y, T).
        allow_missing_keys: skip keys absent from the item.

    Raises:
        VideoReadError / ValueError: missing, truncated or unreadable files, a video with NaN/inf values, smaller
        than 8 x 8 pixels or of one frame (:func:`~.checks.check_video`), label values outside the classes, a label
        whose shape or frame count differs from the video; each message names the file.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_keys: Sequence[str] = ("label", "label_full"),
        num_classes: int | None = None,
        reference_key: str = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_keys = tuple(label_keys)
        self.num_classes = num_classes
        self.reference_key = reference_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            if isinstance(d[key], torch.Tensor):
                continue  # already loaded
            if key in self.label_keys:  # read as stored (float32 holds 0..255 exactly), checked, then uint8
                label = load_video(d[key], dtype=np.float32)
                classes = label_classes(label.numpy(), self.num_classes, label.meta["filename_or_obj"])
                d[key] = MetaTensor(torch.from_numpy(classes), meta=label.meta)
            else:
                d[key] = load_video(d[key], dtype=np.float32)
                check_video(d[key], d[key].meta["filename_or_obj"])
        reference = d.get(self.reference_key)
        for key in self.label_keys:
            if key in d and isinstance(d[key], torch.Tensor) and isinstance(reference, torch.Tensor):
                if tuple(d[key].shape[1:]) != tuple(reference.shape[1:]):
                    raise ValueError(
                        f"{d[key].meta['filename_or_obj']}: label shape (X, Y, T) {tuple(d[key].shape[1:])} does not "
                        f"match the video {reference.meta['filename_or_obj']} {tuple(reference.shape[1:])}."
                    )
                _warn_other_geometry(d[key], reference)
        return d


def _warn_other_geometry(label: torch.Tensor, video: torch.Tensor) -> None:
    """Log a warning naming both files when a label's affine (origin, spacing, direction) differs from its video's:
    the label is used voxel for voxel, so it is trained on as if it lay on the video, which its file says it does
    not."""
    a, b = np.asarray(label.meta.get("affine")), np.asarray(video.meta.get("affine"))
    if (
        a.shape == b.shape == (4, 4)
        and np.isfinite(a).all()
        and np.isfinite(b).all()
        and not np.allclose(a, b, 1e-3, 1e-3)
    ):
        logger.warning(
            f"{label.meta['filename_or_obj']}: its origin, spacing or direction differs from its video's "
            f"({video.meta['filename_or_obj']}): used voxel for voxel as if it lay on the video; check the converter "
            "that wrote it."
        )


def clip_indices(first: int, last: int, num_frames: int, rng: np.random.RandomState | None = None) -> np.ndarray:
    """Frame indices of a clip from ``first`` to ``last`` (either order): uniform, or jittered when ``rng`` is given.

    The end frames are always kept (they carry the ED/ES annotations); interior frames are placed uniformly and, for
    training, each moved by up to half the spacing between them (random stride), kept in order.
    """
    if num_frames == 1:
        return np.array([first])
    positions = np.linspace(first, last, num_frames)
    if rng is not None and num_frames > 2:
        step = (last - first) / (num_frames - 1)
        positions[1:-1] += rng.uniform(-0.5, 0.5, num_frames - 2) * step
    indices = np.round(positions).astype(int)
    indices[0], indices[-1] = first, last
    return np.sort(indices) if last >= first else -np.sort(-indices)


class SampleClipd(RandomizableTransform, MapTransform):
    """Cut a T-frame clip from ED to ES out of the videos and labels of an item (frame 0 = ED).

    ED/ES come from the item's ``ed_key``/``es_key``, else from the first and last annotated frames of
    ``label_key``. ``mode="uniform"`` (evaluation) samples evenly; ``mode="random"`` jitters the interior frames;
    ``mode="all"`` keeps the whole video (inference); ``mode="window"`` takes ``num_frames`` frames at a stride of 1
    to ``max_stride`` that hold ED or ES at a random position, so that a model cannot learn where in a clip the
    labelled frames sit; ``mode="anywhere"`` takes such a window at a random place in the video, whether or not it
    holds a labelled frame; ``mode="mixed"`` (training) draws a window placed anywhere with probability
    ``anywhere_prob``, else an ED -> ES clip (as ``"random"``) or a window holding ED or ES, each with probability 0.5.
    Whole videos are segmented through windows of consecutive frames, so a model trained on ED -> ES clips alone sees
    its labels only at the clip's two ends and may learn to segment only there. ED -> ES clips and windows around the
    labels seldom reach the middle of diastole (rapid filling: in 18 % of the clips of the simulation's training
    videos, against 83-87 % for each phase of systole); windows placed anywhere show every phase of the cycle, in
    proportion to its length, to the unlabelled-frame objective. A video nobody annotated (no ED/ES, no annotated
    frame: a site's video in ``adapt.yaml``) gets a window placed anywhere in the training modes and is refused by
    ``"uniform"``. The chosen indices are stored under ``"clip_frames"``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        num_frames: int = 10,
        mode: str = "uniform",
        max_stride: int = 2,
        anywhere_prob: float = 0.0,
        ed_key: str = "ed_frame",
        es_key: str = "es_frame",
        label_key: str = "label",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        if mode not in CLIP_MODES:
            raise ValueError(f"mode must be one of {CLIP_MODES}, got {mode!r}.")
        if max_stride < 1:
            raise ValueError(f"max_stride must be >= 1, got {max_stride}.")
        if not 0.0 <= anywhere_prob <= 1.0:
            raise ValueError(f"anywhere_prob must be in [0, 1], got {anywhere_prob}.")
        self.num_frames = num_frames
        self.mode = mode
        self.max_stride = max_stride
        self.anywhere_prob = anywhere_prob
        self.ed_key, self.es_key, self.label_key = ed_key, es_key, label_key

    def _end_frames(self, d: dict) -> tuple[int, int] | None:
        """ED and ES of the item; None when it has neither ED/ES nor an annotated frame."""
        if self.ed_key in d and self.es_key in d:
            return int(d[self.ed_key]), int(d[self.es_key])
        if self.label_key in d:
            flags = np.asarray(annotated_frames(d[self.label_key]))
            annotated = np.nonzero(flags)[0]
            if annotated.size:
                return int(annotated[0]), int(annotated[-1])
        return None

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        if self.mode == "all":
            return d
        ends = self._end_frames(d)
        reference = next(d[k] for k in self.key_iterator(d))
        length = reference.shape[-1]
        if ends is None:
            if self.mode == "uniform":
                raise ValueError(
                    f"{item_name(d)}: no ED/ES frames ('{self.ed_key}', '{self.es_key}') and no annotated frames."
                )
            return self._cut(d, self._window(None, None, length))  # nobody annotated it: a window anywhere
        first, last = ends
        if not (0 <= first < length and 0 <= last < length):
            raise ValueError(f"{item_name(d)}: ED/ES frames {first}, {last} outside its {length} frames.")
        mode = self.mode
        if mode == "mixed":  # no extra draw when anywhere_prob is 0: the other modes' random stream stays as it was
            anywhere = self.anywhere_prob > 0 and self.R.rand() < self.anywhere_prob
            mode = "anywhere" if anywhere else "window" if self.R.rand() < 0.5 else "random"
        if mode == "window":
            indices = self._window(first, last, length)
        elif mode == "anywhere":
            indices = self._window(None, None, length)
        else:
            indices = clip_indices(first, last, self.num_frames, self.R if mode == "random" else None)
        return self._cut(d, indices)

    def _cut(self, d: dict, indices: np.ndarray) -> dict:
        index = torch.as_tensor(indices, dtype=torch.long)
        for key in self.key_iterator(d):
            d[key] = d[key][..., index]
        d["clip_frames"] = index
        return d

    def _window(self, first: int | None, last: int | None, length: int) -> np.ndarray:
        """Frames at a random stride around ED or ES (chosen at random), which sits at a random position of the clip;
        with ``first`` None, at a random place in the video (every start equally likely)."""
        anchor = None if first is None else first if self.R.rand() < 0.5 else last
        stride = int(self.R.randint(1, self.max_stride + 1))
        stride = max(1, min(stride, (length - 1) // max(self.num_frames - 1, 1)))
        span = min(self.num_frames, (length - 1) // stride + 1)  # frames that fit at this stride
        latest_start = length - 1 - (span - 1) * stride
        if anchor is None:
            start = int(self.R.randint(0, latest_start + 1))
        else:
            position = int(self.R.randint(0, span))  # where the anchor sits in the clip
            start = int(np.clip(anchor - position * stride, 0, latest_start))
        indices = start + stride * np.arange(span)
        return np.pad(indices, (0, self.num_frames - span), mode="edge")  # a video shorter than the clip repeats
