"""Trainer callbacks that keep a run honest: stop on divergence, stop cleanly on a signal.

Both act between optimizer steps, where Trainer's own checkpointing can save a
resumable state (weights, optimizer, scheduler, RNG, trainer_state.json).
"""

from __future__ import annotations

import math
from types import FrameType

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from stance.errors import DivergenceError
from stance.signals import StopRequests


class DivergenceGuard(TrainerCallback):
    """Raise :class:`DivergenceError` at the first non-finite gradient, before the optimizer applies it.

    The loss itself is checked in ``StanceTrainer.training_step``; the
    gradients are checked here, once per optimizer step (after gradient
    accumulation and clipping), which is where a non-finite value would first
    reach the weights. Trainer's clipping leaves NaN gradients as they are.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def on_pre_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                              **kwargs) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            raise DivergenceError(f"training diverged at step {state.global_step + 1}: a non-finite gradient")


def check_loss(loss: torch.Tensor, step: int) -> None:
    """Raise :class:`DivergenceError` when a step's loss is NaN or infinite."""
    if not torch.isfinite(loss).all():
        value = loss.detach().float().mean().item()
        raise DivergenceError(f"training diverged at step {step}: loss {'nan' if math.isnan(value) else value}")


class GracefulStop(TrainerCallback):
    """On SIGTERM or SIGINT, finish the current step, save a checkpoint and stop training.

    The handler (:class:`stance.signals.StopRequests`) only records the signal, at
    any stage of the run; ``on_step_end`` turns it into Trainer's own
    ``should_save`` and ``should_training_stop``, so the checkpoint is the one
    Trainer writes and ``resume_from_checkpoint`` reads, and the pipeline acts on
    it at its own safe points (:meth:`check`) outside the training loop. A second
    signal stops at once.
    """

    def __init__(self) -> None:
        self.requests = StopRequests()

    @property
    def signum(self) -> int | None:
        return self.requests.signum

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs) -> TrainerControl:
        if self.signum is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requests.handle(signum, frame)

    def check(self, where: str = "") -> None:
        """A safe point: stop here (RunInterrupted) if a signal arrived since the last one."""
        self.requests.check(where)

    def installed(self):
        """Handle SIGTERM and SIGINT with this object inside the block (main thread only)."""
        return self.requests.installed()


class SaveEvery(TrainerCallback):
    """Also save a (resumable) checkpoint every ``steps`` optimizer steps: ``train.save_steps``.

    A callback rather than ``save_strategy="steps"``: Trainer ties its save
    strategy to its evaluation strategy when it loads the best model at the end,
    and the per-epoch evaluation and best-model choice must stay as they are.
    """

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs) -> TrainerControl:
        if state.global_step % self.steps == 0:
            control.should_save = True
        return control
