"""The classifier: any ``AutoModel`` encoder plus a per-target pooling head.

Pooling (``model.pooling``): ``cls``, ``marker`` (the opening marker), ``span``
(mean over the mention's tokens) or ``cls_span`` (both, concatenated).

The classifier is our own ``PreTrainedModel`` subclass: it saves and loads with
the usual ``save_pretrained``/``from_pretrained`` (safetensors), and needs no
``trust_remote_code`` because its code ships in this package.  Its encoding
settings live in the model config, so a checkpoint describes its own input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ModelOutput

from stance.config import ModelConfig
from stance.errors import CheckpointError, ConfigError
from stance.labels import IGNORE_INDEX, LabelSet
from stance.model.encoding import Encoding, InputBuilder
from stance.registry import verify_checkpoint


@dataclass
class StanceOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # [batch, targets, labels]


class StanceClassifier(PreTrainedModel):
    """Any ``AutoModel`` encoder plus a per-target pooling head."""

    config_class = PretrainedConfig
    base_model_prefix = "encoder"
    supports_gradient_checkpointing = True
    # Our loss is a per-batch mean and ignores `num_items_in_batch`; saying so
    # makes Trainer scale it for gradient accumulation (it would not otherwise,
    # because forward() takes **kwargs).
    accepts_loss_kwargs = False

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.encoder = AutoModel.from_config(config, add_pooling_layer=False) if _has_pooler_arg(config) \
            else AutoModel.from_config(config)
        self.pooling = config.stance["pooling"]
        width = config.hidden_size * (2 if self.pooling == "cls_span" else 1)
        self.dropout = nn.Dropout(config.stance.get("dropout", 0.1))
        self.classifier = nn.Linear(width, config.num_labels)
        weights = config.stance.get("class_weights")
        self.register_buffer("class_weights", torch.tensor(weights) if weights else None, persistent=False)
        self.label_smoothing = float(config.stance.get("label_smoothing", 0.0))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "classifier", None):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            module.bias.data.zero_()
        elif hasattr(self, "encoder") and hasattr(self.encoder, "_init_weights"):
            self.encoder._init_weights(module)

    def _pool(self, hidden: torch.Tensor, open_: torch.Tensor, start: torch.Tensor, end: torch.Tensor):
        batch, n_targets = start.shape
        if self.pooling == "cls":
            return hidden[:, :1].expand(batch, n_targets, hidden.size(-1))
        if self.pooling == "marker":
            idx = open_.unsqueeze(-1).expand(batch, n_targets, hidden.size(-1))
            return hidden.gather(1, idx)
        positions = torch.arange(hidden.size(1), device=hidden.device)
        mask = (positions[None, None, :] >= start[..., None]) & (positions[None, None, :] < end[..., None])
        mask = mask.to(hidden.dtype)
        span = torch.einsum("btl,blh->bth", mask, hidden) / mask.sum(-1, keepdim=True).clamp(min=1.0)
        if self.pooling == "span":
            return span
        return torch.cat([hidden[:, :1].expand_as(span), span], dim=-1)

    def forward(self, input_ids, attention_mask, target_open, target_start, target_end,
                token_type_ids=None, labels=None, **_: Any) -> StanceOutput:
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None and \
            self.config.model_type in ("bert", "electra", "deberta-v2") else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        pooled = self._pool(hidden, target_open, target_start, target_end)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), labels.reshape(-1), weight=self.class_weights,
                ignore_index=IGNORE_INDEX, label_smoothing=self.label_smoothing,
            )
        return StanceOutput(loss=loss, logits=logits)


def _has_pooler_arg(config: PretrainedConfig) -> bool:
    return config.model_type in ("bert", "roberta", "xlm-roberta", "electra")


# ---------------------------------------------------------------- building and loading


def load_tokenizer(name_or_path: str, revision: str | None = None):
    return AutoTokenizer.from_pretrained(name_or_path, revision=revision)


@contextmanager
def _as_config_error(cfg: ModelConfig) -> Iterator[None]:
    """transformers' and the Hub's loading errors (not found, offline, no safetensors, unreadable
    tokenizer files) as one line naming model.name_or_path; their text runs over several lines."""
    try:
        yield
    except (OSError, ValueError) as err:  # ValueError: a folder whose tokenizer files cannot be read
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        at = f" at revision {cfg.revision!r}" if cfg.revision else ""
        raise ConfigError(f"model.name_or_path={cfg.name_or_path!r}{at}: cannot load the model: {first}") from err


def check_encoder(cfg: ModelConfig) -> None:
    """Values only the encoder's own config can judge, checked before any data is read (issue 27):
    ``model.max_length`` within its position embeddings, and ``model.config_overrides`` it accepts."""
    with _as_config_error(cfg):
        config = AutoConfig.from_pretrained(cfg.name_or_path, revision=cfg.revision)
    for key, value in cfg.config_overrides.items():
        if not hasattr(config, key):
            raise ConfigError(f"model.config_overrides.{key}: {config.model_type} configs have no such setting")
        try:
            setattr(config, key, value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"model.config_overrides.{key}={value!r}: {err}") from None
    heads, hidden = getattr(config, "num_attention_heads", None), getattr(config, "hidden_size", None)
    if isinstance(heads, int) and isinstance(hidden, int) and heads > 0 and hidden % heads:
        raise ConfigError(f"model.config_overrides: hidden_size={hidden} is not a multiple of "
                          f"num_attention_heads={heads}")
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and cfg.max_length > limit:
        raise ConfigError(f"model.max_length={cfg.max_length} is more than the {limit} positions "
                          f"{cfg.name_or_path!r} has; use at most {limit}")


def build_model(cfg: ModelConfig, labels: LabelSet, extra: dict[str, Any] | None = None):
    """A fresh classifier on top of the configured encoder, and its tokenizer."""
    encoding = Encoding.from_model_config(cfg)
    with _as_config_error(cfg):
        tokenizer = load_tokenizer(cfg.name_or_path, cfg.revision)
        config = AutoConfig.from_pretrained(cfg.name_or_path, revision=cfg.revision, **cfg.config_overrides)
    config.num_labels = len(labels)
    config.id2label = labels.id2label
    config.label2id = labels.label2id
    config.architectures = ["StanceClassifier"]
    config.stance = {**encoding.to_dict(), "dropout": cfg.dropout, **(extra or {})}
    model = StanceClassifier(config)
    if not cfg.random_init:
        # Loading the encoder on its own keeps the pretrained weights' names as
        # the encoder saved them; only safetensors files are accepted.
        with _as_config_error(cfg):
            model.encoder = AutoModel.from_pretrained(
                cfg.name_or_path, revision=cfg.revision, config=config, use_safetensors=True,
                **({"add_pooling_layer": False} if _has_pooler_arg(config) else {}),
            )
    InputBuilder(tokenizer, encoding)  # fail early on markers the tokenizer lacks
    return model, tokenizer


def load_model(path: str | Path):
    """A trained classifier, its tokenizer and its encoding, from a version folder."""
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{path}: no model.safetensors; not a stance checkpoint")
    verify_checkpoint(path)  # a published version's files must be the ones its manifest hashed
    config = AutoConfig.from_pretrained(path)
    if not hasattr(config, "stance"):
        raise ConfigError(f"{path}: config.json has no 'stance' section; not a stance checkpoint")
    model = StanceClassifier.from_pretrained(path, config=config, use_safetensors=True)
    model.eval()
    tokenizer = load_tokenizer(str(path))
    return model, tokenizer, Encoding.from_pretrained_config(config)
