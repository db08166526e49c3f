"""The label set, shared by every stage.

Labels come from config (``data.labels``); their order fixes the class ids that
the model's ``id2label`` records, so a checkpoint always carries its own map.
"""

from __future__ import annotations

from dataclasses import dataclass

from stance.errors import UnknownLabelError

DEFAULT_LABELS = ("favor", "against", "neutral")
IGNORE_INDEX = -100  # PyTorch's cross-entropy default for "no label here"


@dataclass(frozen=True)
class LabelSet:
    names: tuple[str, ...] = DEFAULT_LABELS

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise ValueError(f"a label set needs at least two labels, got {list(self.names)}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"labels must be unique, got {list(self.names)}")

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    def encode(self, name: str) -> int:
        try:
            return self.label2id[name]
        except KeyError:
            raise UnknownLabelError(f"unknown label {name!r}; expected one of {list(self.names)}") from None

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_model_config(cls, config) -> LabelSet:
        """Rebuild the label set a checkpoint was trained with."""
        id2label = {int(k): v for k, v in config.id2label.items()}
        return cls(tuple(id2label[i] for i in range(len(id2label))))
