"""A checkpoint's fast tokenizer without transformers.

transformers' ``PreTrainedTokenizerFast`` is a wrapper around a ``tokenizers.Tokenizer``
built from the same ``tokenizer.json``; importing transformers costs seconds and
hundreds of MB, which a CPU inference run should not pay. ``FastTokenizer`` answers
the few calls :class:`stance.model.encoding.InputBuilder` makes, with the same
results (tests compare the features of both on real tokenizers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from stance.errors import CheckpointError


def _token_name(value: Any) -> str | None:
    """A special token from tokenizer_config.json: a string, or an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value


class FastTokenizer:
    """``tokenizer.json`` plus the special tokens named in ``tokenizer_config.json``."""

    def __init__(self, folder: Path) -> None:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise CheckpointError(f"{folder}: no tokenizer.json (the fast tokenizer); not a stance checkpoint")
        self.backend = Tokenizer.from_file(str(path))
        # transformers calls the backend without truncation or padding unless asked; so do we.
        self.backend.no_truncation()
        self.backend.no_padding()
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        self.unk_token_id = self._special_id(config.get("unk_token"))
        self.pad_token_id = self._special_id(config.get("pad_token"))

    def _special_id(self, value: Any) -> int | None:
        name = _token_name(value)
        return self.backend.token_to_id(name) if name is not None else None

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int | None]:
        # transformers maps an unknown token to the unk id; InputBuilder checks for that.
        return [self.backend.token_to_id(t) if self.backend.token_to_id(t) is not None else self.unk_token_id
                for t in tokens]

    def __call__(self, text: str, pair: str | None = None, add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False, **_: Any) -> dict[str, Any]:
        enc = self.backend.encode(text, pair, add_special_tokens=add_special_tokens)
        out: dict[str, Any] = {"input_ids": enc.ids, "token_type_ids": enc.type_ids,
                               "special_tokens_mask": enc.special_tokens_mask}
        if return_offsets_mapping:
            out["offset_mapping"] = enc.offsets
        return out
