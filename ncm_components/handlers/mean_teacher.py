"""Mean teacher for the unannotated frames: an EMA copy of the network labels them for the network being trained.

At every training iteration, after the supervised loss (``IterationEvents.LOSS_COMPLETED``), the teacher predicts
the same clips under another augmentation (played backwards with probability 0.5, plus Gaussian noise), and
``weight * ramp(iteration) * TeacherConsistencyLoss(student, teacher, label)`` is added to the iteration's loss before
the backward pass. After the optimiser step the teacher's parameters and buffers move towards the network's
(exponential moving average, with the usual warm-up ``decay = min(ema_decay, 1 - 1 / (iteration + 1))`` so that the
early teacher is not a stale copy of the random initialisation). Save and load ``teacher`` with the checkpoints so
that a resumed run keeps it.

For adaptation to unlabelled videos (``adapt.yaml``) two guards keep a confidently wrong teacher from teaching its
errors: ``teacher_key`` shows the teacher a weakly augmented view of each clip (the batch's ``image_teacher``: the
same geometry, none of the appearance randomisation the network sees), and ``one_region`` keeps only the largest
space-time connected LV region of the teacher's prediction (an LV blob in the atrium or the right heart teaches
background), the prior inference applies as ``keep_lv_component``.
"""

from __future__ import annotations

import copy
import math

import torch
from ignite.engine import Engine, Events
from monai.engines import IterationEvents
from monai.transforms import KeepLargestConnectedComponent
from monai.utils import CommonKeys as Keys
from monai.utils import convert_to_tensor
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from ..losses.teacher_consistency import TeacherConsistencyLoss

__all__ = ["MeanTeacher"]


class MeanTeacher:
    """Adds the unlabelled-frame objective to a MONAI ``SupervisedTrainer``.

    Args:
        network: the network being trained; the teacher starts as its copy.
        weight: weight of the teacher-agreement loss at full ramp; 0 disables the handler (the ablation).
        ema_decay: teacher = decay * teacher + (1 - decay) * network after each step (after the warm-up).
        rampup_iterations: the weight rises as ``exp(-5 (1 - i / rampup)^2)`` over these iterations.
        time_flip_prob: probability of showing the teacher the clip played backwards.
        noise_std: standard deviation of the Gaussian noise added to the teacher's input (intensities in [0, 1]).
        output_key: where the unweighted teacher-agreement loss is stored in ``engine.state.output``.
        teacher_key: a key of the batch holding the teacher's view of each clip (weak augmentation); None or absent:
            the network's own input.
        one_region: keep only the largest space-time connected LV region (class 1) of the teacher's prediction.

    Shapes:
        the trainer's image (B, C, H, W, T) and label (B, 1, H, W, T); the network's training output (B, K, H, W, T)
        or deep-supervision stack (B, S, K, H, W, T), final output first.
    """

    def __init__(
        self,
        network: nn.Module,
        weight: float = 1.0,
        ema_decay: float = 0.99,
        rampup_iterations: int = 100,
        time_flip_prob: float = 0.5,
        noise_std: float = 0.03,
        output_key: str = "unlabelled_loss",
        teacher_key: str | None = None,
        one_region: bool = False,
    ) -> None:
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}.")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}.")
        self.network = network
        self.weight = float(weight)
        self.ema_decay = ema_decay
        self.rampup_iterations = max(int(rampup_iterations), 1)
        self.time_flip_prob = time_flip_prob
        self.noise_std = noise_std
        self.output_key = output_key
        self.teacher_key, self.one_region = teacher_key, bool(one_region)
        self.loss = TeacherConsistencyLoss()
        self.teacher = copy.deepcopy(_unwrap(network)).eval()
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)

    def attach(self, engine: Engine) -> None:
        if self.weight == 0:
            return
        engine.add_event_handler(IterationEvents.LOSS_COMPLETED, self.add_unlabelled_loss)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.update_teacher)

    def ramp(self, iteration: int) -> float:
        """Share of ``weight`` applied at ``iteration`` (1-based)."""
        progress = min(iteration / self.rampup_iterations, 1.0)
        return math.exp(-5.0 * (1.0 - progress) ** 2)

    def add_unlabelled_loss(self, engine: Engine) -> None:
        output = engine.state.output
        image, label, prediction = output[Keys.IMAGE], output[Keys.LABEL], output[Keys.PRED]
        student = prediction[:, 0] if prediction.dim() == 6 else prediction  # the final output
        with torch.no_grad():
            flip = bool(torch.rand(()) < self.time_flip_prob)
            batch = engine.state.batch if isinstance(engine.state.batch, dict) else {}
            if self.teacher_key and self.teacher_key in batch:
                image = convert_to_tensor(batch[self.teacher_key], track_meta=False).to(image.device, image.dtype)
            teacher_input = image.flip(-1) if flip else image
            if self.noise_std > 0:
                teacher_input = teacher_input + self.noise_std * torch.randn_like(teacher_input)
            teacher = self.teacher(convert_to_tensor(teacher_input, track_meta=False))
            teacher = teacher.flip(-1) if flip else teacher
            if self.one_region:
                teacher = _one_region_logits(teacher)
        unlabelled = self.loss(student, teacher, label)
        output[self.output_key] = unlabelled.detach()
        output[Keys.LOSS] = output[Keys.LOSS] + self.weight * self.ramp(engine.state.iteration) * unlabelled

    @torch.no_grad()
    def update_teacher(self, engine: Engine) -> None:
        decay = min(self.ema_decay, 1.0 - 1.0 / (engine.state.iteration + 1))
        student = _unwrap(self.network).state_dict()
        averaged, sources = [], []
        for name, value in self.teacher.state_dict().items():
            source = student[name].detach()
            if value.dtype.is_floating_point:
                averaged.append(value)
                sources.append(source.to(value.dtype))
            else:
                value.copy_(source)
        if averaged:  # all tensors in one multi-tensor operation: a few kernels instead of two per tensor on a GPU
            get_ema_multi_avg_fn(decay)(averaged, sources, None)


def _one_region_logits(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B, K, X, Y, T) whose softmax moves the LV probability of every pixel outside the largest space-time
    connected LV region (argmax class 1) to the background: the teacher's prediction with the one-LV prior."""
    probabilities = torch.softmax(logits.float(), dim=1)
    classes = probabilities.argmax(dim=1, keepdim=True)  # B x 1 x X x Y x T
    largest = KeepLargestConnectedComponent(applied_labels=[1], is_onehot=False)  # as inference's keep_lv_component
    kept = torch.stack([convert_to_tensor(largest(clip.clone()), track_meta=False) for clip in classes])  # in place
    stray = (classes == 1) & (kept != 1)  # B x 1 x X x Y x T
    background = probabilities[:, :1] + probabilities[:, 1:2]
    cleaned = probabilities.clone()
    cleaned[:, :1] = torch.where(stray, background, probabilities[:, :1])
    cleaned[:, 1:2] = torch.where(stray, torch.zeros_like(background), probabilities[:, 1:2])
    return torch.log(cleaned.clamp_min(1e-6))


def _unwrap(network: nn.Module) -> nn.Module:
    """The module inside ``DistributedDataParallel``/``DataParallel``, else the network itself."""
    return network.module if hasattr(network, "module") else network
