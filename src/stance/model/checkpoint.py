"""A checkpoint's labels and encoding, read from its config.json without transformers.

``load_model`` reads the same file through ``AutoConfig``; the ONNX path needs only
``id2label``, the ``stance`` section and the model type, and a JSON read keeps
transformers out of its process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stance.errors import CheckpointError, ConfigError
from stance.labels import LabelSet
from stance.model.encoding import Encoding
from stance.model.temperature import temperature_of


@dataclass(frozen=True)
class CheckpointConfig:
    labels: LabelSet
    encoding: Encoding
    model_type: str
    temperature: float = 1.0  # divides the logits before the softmax (stance.model.temperature)


def read_checkpoint_config(folder: Path) -> CheckpointConfig:
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: no config.json; not a stance checkpoint")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if "stance" not in config:
        raise ConfigError(f"{folder}: config.json has no 'stance' section; not a stance checkpoint")
    try:
        id2label = {int(k): v for k, v in config["id2label"].items()}
        labels = LabelSet(tuple(id2label[i] for i in range(len(id2label))))
        encoding = Encoding.from_stance_section(config["stance"])
        temperature = temperature_of(config["stance"])
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{path}: bad id2label or stance section ({err!r})") from None
    return CheckpointConfig(labels, encoding, config.get("model_type", ""), temperature)
