"""How a (sentence, target) pair becomes model input.

Encodings (``model.input``):
* ``marker``: marker tokens around the mention inside the sentence;
* ``pair``: the mention appended as a second segment (sentence-pair);
* ``marker_pair``: both.
A target without a span (a topic that is not in the text) always uses the pair
encoding.

With ``model.per_sentence`` every target of a sentence is marked in one input and
classified from one encoder pass.

Long sentences are cut to a token window around their targets, so a mention is
never truncated away (NewsMTSC has sentences of over 6,000 characters).

Training and inference build features with the same ``InputBuilder``; the
settings are saved in the model config, so a checkpoint describes its own input.

This module is pure Python: it imports neither torch nor transformers, so the
ONNX inference path (:mod:`stance.predict.onnx_backend`) builds exactly the
features that training and the PyTorch path build. A tokenizer is anything with
the few methods ``InputBuilder`` calls: transformers' fast tokenizer, or
:class:`stance.model.tokenizer.FastTokenizer` over the same ``tokenizer.json``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from stance.config import INPUTS, MIN_MAX_LENGTH, POOLINGS, ModelConfig, check_choice
from stance.errors import ConfigError
from stance.labels import IGNORE_INDEX

MAX_MENTION_TOKENS = 32  # an appended mention is cut to this many tokens


@dataclass(frozen=True)
class Encoding:
    """The encoding settings, read from a ModelConfig or from a checkpoint's config."""

    input: str
    pooling: str
    per_sentence: bool
    markers: tuple[str, str]
    max_length: int

    def __post_init__(self) -> None:
        check_choice(self.input, INPUTS, "model.input")
        check_choice(self.pooling, POOLINGS, "model.pooling")
        if self.per_sentence and ("marker" not in self.input or self.pooling == "cls"):
            raise ConfigError(
                "model.per_sentence needs marker input and marker/span pooling: "
                "otherwise the targets of one sentence cannot be told apart"
            )
        if self.max_length < MIN_MAX_LENGTH:
            raise ConfigError(f"model.max_length={self.max_length} is too small (minimum {MIN_MAX_LENGTH})")

    @classmethod
    def from_model_config(cls, cfg: ModelConfig) -> Encoding:
        if len(cfg.markers) != 2:
            raise ConfigError(f"model.markers must be two tokens, got {list(cfg.markers)}")
        return cls(cfg.input, cfg.pooling, cfg.per_sentence, (cfg.markers[0], cfg.markers[1]), cfg.max_length)

    @classmethod
    def from_pretrained_config(cls, config: Any) -> Encoding:
        """From a transformers ``PretrainedConfig`` (its ``stance`` section)."""
        return cls.from_stance_section(config.stance)

    @classmethod
    def from_stance_section(cls, s: dict[str, Any]) -> Encoding:
        """From the ``stance`` section of a checkpoint's config.json."""
        return cls(s["input"], s["pooling"], s["per_sentence"], tuple(s["markers"]), s["max_length"])

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "pooling": self.pooling, "per_sentence": self.per_sentence,
                "markers": list(self.markers), "max_length": self.max_length}


@dataclass
class TargetSpec:
    """One target of a sentence, as the encoder needs it."""

    start: int  # character offsets; -1 when there is no span
    end: int
    mention: str
    label: int = IGNORE_INDEX
    key: int = -1  # caller's index, to map predictions back


@dataclass
class SentenceTargets:
    """A sentence and the targets to classify in it."""

    text: str
    targets: list[TargetSpec]


class InputBuilder:
    """Turns sentences with targets into model features (token ids and pooling spans)."""

    def __init__(self, tokenizer, encoding: Encoding) -> None:
        self.tok = tokenizer
        self.enc = encoding
        ids = tokenizer.convert_tokens_to_ids(list(encoding.markers))
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
            raise ConfigError(f"model.markers {list(encoding.markers)} are not single tokens of this tokenizer")
        self.open_id, self.close_id = ids
        self._template = {True: self._template_for(True), False: self._template_for(False)}

    def _template_for(self, pair: bool) -> tuple[list[int], list[int], list[int], list[int]]:
        """Special-token layout of this tokenizer (BERT: [CLS] a [SEP] b [SEP]).

        Reading the layout off a real encoding keeps us correct for other
        tokenizers (RoBERTa's <s> a </s></s> b </s>) without hand-coding each.
        """
        enc = self.tok("a", "b" if pair else None, add_special_tokens=True,
                       return_token_type_ids=True, return_special_tokens_mask=True)
        ids, raw_mask = enc["input_ids"], enc["special_tokens_mask"]
        types = enc.get("token_type_ids") or [0] * len(ids)
        # Collapse each run of content tokens into one slot: the template is
        # e.g. [1, 0, 1, 0, 1] for "[CLS] a [SEP] b [SEP]".
        mask, specials, special_types, content_types = [], [], [], []
        for i, m in enumerate(raw_mask):
            if m:
                mask.append(1)
                specials.append(ids[i])
                special_types.append(types[i])
            elif not mask or mask[-1] == 1:
                mask.append(0)
                content_types.append(types[i])
        return mask, specials, special_types, content_types

    def _assemble(self, a: list[int], b: list[int] | None) -> tuple[list[int], list[int], int, int]:
        """[specials + a + specials + b + specials]; returns ids, token types and a's and b's offsets."""
        mask, specials, special_types, content_types = self._template[b is not None]
        type_a = content_types[0]
        type_b = content_types[-1]
        ids, types, a_offset, b_offset = [], [], -1, -1
        it_special = iter(zip(specials, special_types, strict=True))
        seen_content = 0
        for m in mask:
            if m:
                sid, stype = next(it_special)
                ids.append(sid)
                types.append(stype)
            else:
                if seen_content == 0:
                    a_offset = len(ids)
                    ids += a
                    types += [type_a] * len(a)
                else:
                    b_offset = len(ids)
                    ids += b or []
                    types += [type_b] * len(b or [])
                seen_content += 1
        return ids, types, a_offset, b_offset

    @property
    def n_special(self) -> int:
        return sum(self._template[True][0])

    # -- windows

    @staticmethod
    def _token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
        """The tokens of characters [start, end): the first token ending after ``start`` to the last
        starting before ``end``. A linear scan: :meth:`_token_spans` uses it only for odd offsets."""
        ts = next((i for i, (a, b) in enumerate(offsets) if b > start), len(offsets) - 1)
        te = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), ts) + 1
        return ts, max(te, ts + 1)

    @classmethod
    def _token_spans(cls, offsets: list[tuple[int, int]], targets: list[TargetSpec]) -> list[tuple[int, int]]:
        """:meth:`_token_span` of every target, by binary search: a sentence with n mentions costs
        O(n log tokens), not O(n * tokens) (issue 27: thousands of mentions in one sentence)."""
        starts, ends = [a for a, _ in offsets], [b for _, b in offsets]
        monotonic = all(x <= y for x, y in zip(starts, starts[1:], strict=False)) and all(
            x <= y for x, y in zip(ends, ends[1:], strict=False))
        if not monotonic:
            return [cls._token_span(offsets, t.start, t.end) if t.start >= 0 else (0, 0) for t in targets]
        spans = []
        for t in targets:
            if t.start < 0:
                spans.append((0, 0))
                continue
            ts = bisect_right(ends, t.start)
            ts = ts if ts < len(offsets) else len(offsets) - 1
            te = bisect_left(starts, t.end)  # one past the last token starting before ``end``
            te = te if te > 0 else ts + 1
            spans.append((ts, max(te, ts + 1)))
        return spans

    @staticmethod
    def _window(n: int, lo: int, hi: int, budget: int) -> tuple[int, int]:
        """A window of at most ``budget`` tokens around [lo, hi), centred."""
        if n <= budget:
            return 0, n
        extra = max(budget - (hi - lo), 0)
        ws = max(0, lo - extra // 2)
        we = min(n, ws + budget)
        return max(0, we - budget), we

    def _groups(self, spans: list[tuple[int, int]], budget: int) -> list[list[int]]:
        """Targets that share one input; per-pair mode gives one group per target."""
        order = sorted(range(len(spans)), key=lambda i: spans[i])
        if not self.enc.per_sentence:
            return [[i] for i in order]
        groups: list[list[int]] = []
        for i in order:
            if groups:
                g = groups[-1]
                lo = min(spans[j][0] for j in g + [i])
                hi = max(spans[j][1] for j in g + [i])
                if hi - lo + 2 * (len(g) + 1) <= budget:
                    g.append(i)
                    continue
            groups.append([i])
        return groups

    # -- features

    def _marked(self, ids: list[int], ws: int, we: int, spans: dict[int, tuple[int, int]], mark: bool):
        """Window tokens with markers; returns tokens and per-target (open, start, end) positions."""
        out: list[int] = []
        pos: dict[int, list[int]] = {k: [0, 0, 0] for k in spans}
        for i in range(ws, we):
            for k, (ts, _) in spans.items():
                if ts == i:
                    if mark:
                        pos[k][0] = len(out)
                        out.append(self.open_id)
                    else:
                        pos[k][0] = len(out)
                    pos[k][1] = len(out)
            out.append(ids[i])
            for k, (_, te) in spans.items():
                if te == i + 1:
                    pos[k][2] = len(out)
                    if mark:
                        out.append(self.close_id)
        return out, pos

    def _feature(self, ids, offsets, targets: list[TargetSpec], group: list[int], spans) -> dict[str, Any]:
        first = targets[group[0]]
        has_span = first.start >= 0
        mark = has_span and "marker" in self.enc.input
        pair = (not has_span) or "pair" in self.enc.input
        b = self.tok(first.mention, add_special_tokens=False)["input_ids"][:MAX_MENTION_TOKENS] if pair else None
        budget = self.enc.max_length - self.n_special - (len(b) if b else 0) - (2 * len(group) if mark else 0)
        if has_span:
            lo = min(spans[i][0] for i in group)
            hi = max(spans[i][1] for i in group)
            ws, we = self._window(len(ids), lo, hi, budget)
            local = {i: (max(spans[i][0], ws), min(spans[i][1], we)) for i in group}
        else:
            ws, we = 0, min(len(ids), budget)
            local = {}
        a, pos = self._marked(ids, ws, we, local, mark)
        input_ids, types, a_offset, b_offset = self._assemble(a, b)
        starts, ends, opens = [], [], []
        for i in group:
            if has_span:
                o, s, e = pos[i]
                opens.append(a_offset + o)
                starts.append(a_offset + s)
                ends.append(a_offset + e)
            else:  # pool over the appended mention
                opens.append(b_offset)
                starts.append(b_offset)
                ends.append(b_offset + len(b or []))
        return {
            "input_ids": input_ids,
            "token_type_ids": types,
            "target_open": opens,
            "target_start": starts,
            "target_end": ends,
            "labels": [targets[i].label for i in group],
            "target_key": [targets[i].key for i in group],
            "length": len(input_ids),
        }

    def encode(self, text: str, targets: list[TargetSpec]) -> list[dict[str, Any]]:
        """Features for one sentence: one per target, or one per group of targets."""
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        if not ids:
            ids, offsets = [self.tok.unk_token_id or 0], [(0, len(text))]
        spans = self._token_spans(offsets, targets)
        spanned = [i for i, t in enumerate(targets) if t.start >= 0]
        spanless = [[i] for i, t in enumerate(targets) if t.start < 0]
        budget = self.enc.max_length - self.n_special
        groups = [[spanned[j] for j in g] for g in self._groups([spans[i] for i in spanned], budget)]
        return [self._feature(ids, offsets, targets, g, spans) for g in groups + spanless]


def encode_sentences(builder: InputBuilder, sentences: list[SentenceTargets]) -> tuple[list[dict[str, Any]], list[int]]:
    """Features of every sentence, each with the index of the sentence it came from.

    Shared by both inference backends, so they classify identical inputs.
    """
    features, owners = [], []
    for s_idx, sentence in enumerate(sentences):
        for t_idx, target in enumerate(sentence.targets):
            target.key = t_idx
        for feature in builder.encode(sentence.text, sentence.targets):
            features.append(feature)
            owners.append(s_idx)
    return features, owners


def length_batches(features: list[dict[str, Any]], batch_size: int) -> list[list[int]]:
    """Feature indices in batches of similar length: a batch pads little (the main CPU speed-up)."""
    order = sorted(range(len(features)), key=lambda i: features[i]["length"])
    return [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]
