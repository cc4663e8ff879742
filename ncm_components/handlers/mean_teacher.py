"""Mean teacher for the unannotated frames: an EMA copy of the network labels them for the network being trained.

At every training iteration, after the supervised loss (``IterationEvents.LOSS_COMPLETED``), the teacher predicts
the same clips under another augmentation (played backwards with probability 0.5, plus Gaussian noise), and
``weight * ramp(iteration) * TeacherConsistencyLoss(student, teacher, label)`` is added to the iteration's loss before
the backward pass. After the optimiser step the teacher's parameters and buffers move towards the network's
(exponential moving average, with the usual warm-up ``decay = min(ema_decay, 1 - 1 / (iteration + 1))`` so that the
early teacher is not a stale copy of the random initialisation). Save and load ``teacher`` with the checkpoints so
that a resumed run keeps it.
"""

from __future__ import annotations

import copy
import math

import torch
from ignite.engine import Engine, Events
from monai.engines import IterationEvents
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
            teacher_input = image.flip(-1) if flip else image
            if self.noise_std > 0:
                teacher_input = teacher_input + self.noise_std * torch.randn_like(teacher_input)
            teacher = self.teacher(convert_to_tensor(teacher_input, track_meta=False))
            teacher = teacher.flip(-1) if flip else teacher
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


def _unwrap(network: nn.Module) -> nn.Module:
    """The module inside ``DistributedDataParallel``/``DataParallel``, else the network itself."""
    return network.module if hasattr(network, "module") else network
