"""``transformers.Trainer`` with the training tricks it lacks: layer-wise LR decay, R-Drop, distillation."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from stance.config import TrainConfig
from stance.labels import IGNORE_INDEX
from stance.model.batches import SOFT_LABELS
from stance.training.callbacks import check_loss
from stance.training.distill import distillation_loss


class StanceTrainer(Trainer):
    """Trainer with layer-wise learning-rate decay, R-Drop and a distillation loss.

    Trainer has none of these options, so they are written here. LLRD: layer ``i`` of
    ``n`` gets ``lr * decay ** (n - i)``, the embeddings the smallest.
    """

    def __init__(self, *args: Any, options: TrainConfig | None = None, **kwargs: Any) -> None:
        """Trainer's own arguments, plus ``options``: the TrainConfig these extensions read (its defaults
        when None). A keyword of our own, so Trainer's signature stays as it is."""
        super().__init__(*args, **kwargs)
        t = options or TrainConfig()
        self.layer_lr_decay = t.layer_lr_decay
        self.rdrop_alpha = t.rdrop_alpha
        self.distill_weight = t.distill_weight
        self.distill_temperature = t.distill_temperature

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None
                      ) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        # Trainer would carry a NaN loss on (and log it as 0); stop at the first one instead.
        check_loss(loss, self.state.global_step + 1)
        return loss

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        soft = inputs.pop(SOFT_LABELS, None)  # present in training batches of a distillation run only
        if soft is not None and model.training:
            outputs = model(**inputs)
            loss = distillation_loss(outputs.logits, inputs["labels"], soft, outputs.loss,
                                     self.distill_weight, self.distill_temperature)
            return (loss, outputs) if return_outputs else loss
        if self.rdrop_alpha <= 0 or not model.training:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # R-Drop (Liang et al., 2021): the batch goes through twice with
        # different dropout masks; both copies get cross-entropy and the two
        # predictive distributions are pulled together by a symmetric KL.
        # Stacking the copies into one forward pass is faster on CPU than two.
        doubled = {k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in inputs.items()}
        outputs = model(**doubled)
        loss = outputs.loss + self.rdrop_alpha * rdrop_kl(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        if self.optimizer is not None or self.layer_lr_decay >= 1.0:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        model = self.model
        n_layers = model.config.num_hidden_layers
        # One parameter group per (learning rate, weight decay) pair; the head
        # and anything outside the encoder layers count as the top (full rate).
        groups: dict[tuple[float, float], list] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            depth = n_layers + 1
            if "embeddings" in name:
                depth = 0
            elif ".layer." in name:
                depth = int(name.split(".layer.")[1].split(".")[0]) + 1
            lr = self.args.learning_rate * self.layer_lr_decay ** (n_layers + 1 - depth)
            wd = 0.0 if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else self.args.weight_decay
            groups.setdefault((lr, wd), []).append(param)
        param_groups = [{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()]
        betas = (self.args.adam_beta1, self.args.adam_beta2)
        self.optimizer = torch.optim.AdamW(param_groups, lr=self.args.learning_rate, betas=betas,
                                           eps=self.args.adam_epsilon)
        return self.optimizer


def rdrop_kl(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """R-Drop's regulariser for logits of a batch stacked twice, padding targets excluded.

    With our loss being the mean cross-entropy of both copies, ``alpha / 4 *
    (KL(p1||p2) + KL(p2||p1))`` keeps the paper's weighting of alpha.
    """
    first, second = logits.chunk(2)
    mask = labels != IGNORE_INDEX
    if not mask.any():
        # A zero that still depends on the logits, so backward() has a graph to walk.
        return logits.sum() * 0.0
    lp, lq = first[mask].log_softmax(-1), second[mask].log_softmax(-1)
    kl_pq = torch.nn.functional.kl_div(lq, lp, log_target=True, reduction="batchmean")
    kl_qp = torch.nn.functional.kl_div(lp, lq, log_target=True, reduction="batchmean")
    return (kl_pq + kl_qp) / 4
