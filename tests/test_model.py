"""Input encodings: markers, windows around long sentences, per-sentence grouping."""

from __future__ import annotations

import pytest
import torch

from stance.config import ConfigError, ModelConfig, TrainJob
from stance.labels import LabelSet
from stance.model import Encoding, InputBuilder, TargetSpec, build_model, collate
from stance.schemas import to_dataclass

from .conftest import compose_config


def tiny_model_config(**overrides) -> ModelConfig:
    cfg = compose_config("train", ["debug=tiny", *[f"model.{k}={v}" for k, v in overrides.items()]])
    return to_dataclass(cfg, TrainJob).model


@pytest.fixture(scope="module")
def tokenizer():
    _, tok = build_model(tiny_model_config(), LabelSet())
    return tok


def tokens(tok, feature) -> list[str]:
    return tok.convert_ids_to_tokens(feature["input_ids"])


def test_markers_are_single_tokens_around_the_mention(tokenizer):
    builder = InputBuilder(tokenizer, Encoding("marker", "span", False, ("[unused0]", "[unused1]"), 64))
    text = "Poland sided with Kyiv in the vote."
    (feature,) = builder.encode(text, [TargetSpec(18, 22, "Kyiv", 0)])
    toks = tokens(tokenizer, feature)
    o, s, e = feature["target_open"][0], feature["target_start"][0], feature["target_end"][0]
    assert toks[o] == "[unused0]" and toks[s:e] == ["kyiv"] and toks[e] == "[unused1]"
    assert toks.count("[unused0]") == 1 and toks[0] == "[CLS]" and toks[-1] == "[SEP]"


def test_a_mention_deep_in_a_long_sentence_is_never_cut_off(tokenizer):
    filler = "the delegates talked at length about procedure and agenda items " * 120  # over 6,000 characters
    text = filler + "and then Hungary distanced itself from Brussels. " + filler
    start = text.index("Brussels")
    for input_ in ("marker", "pair", "marker_pair"):
        builder = InputBuilder(tokenizer, Encoding(input_, "span", False, ("[unused0]", "[unused1]"), 64))
        (feature,) = builder.encode(text, [TargetSpec(start, start + 8, "Brussels", 1)])
        assert len(feature["input_ids"]) <= 64
        toks = tokens(tokenizer, feature)
        span = toks[feature["target_start"][0]:feature["target_end"][0]]
        assert span == ["brussels"], (input_, span)
        assert "hungary" in toks  # the window is centred on the mention, so context survives


def test_per_sentence_marks_all_targets_in_one_input(tokenizer):
    builder = InputBuilder(tokenizer, Encoding("marker", "span", True, ("[unused0]", "[unused1]"), 64))
    text = "Brazil welcomed the ceasefire brokered by Qatar."
    specs = [TargetSpec(0, 6, "Brazil", 2, 0), TargetSpec(42, 47, "Qatar", 0, 1)]
    (feature,) = builder.encode(text, specs)
    toks = tokens(tokenizer, feature)
    assert toks.count("[unused0]") == 2
    assert [toks[s:e] for s, e in zip(feature["target_start"], feature["target_end"], strict=True)] == [
        ["brazil"], ["qatar"]]
    assert feature["labels"] == [2, 0]


def test_per_sentence_splits_targets_that_do_not_fit_one_window(tokenizer):
    builder = InputBuilder(tokenizer, Encoding("marker", "span", True, ("[unused0]", "[unused1]"), 32))
    text = "Brazil spoke first. " + "Then the talks went on for hours. " * 20 + "Qatar spoke last."
    specs = [TargetSpec(0, 6, "Brazil", 2), TargetSpec(text.index("Qatar"), text.index("Qatar") + 5, "Qatar", 0)]
    features = builder.encode(text, specs)
    assert len(features) == 2
    assert all(len(f["input_ids"]) <= 32 for f in features)


def test_a_topic_without_span_is_encoded_as_a_pair(tokenizer):
    builder = InputBuilder(tokenizer, Encoding("marker", "span", False, ("[unused0]", "[unused1]"), 64))
    (feature,) = builder.encode("Lawmakers voted to ease the ban.", [TargetSpec(-1, -1, "Legalization of Abortion", 0)])
    toks = tokens(tokenizer, feature)
    assert "[unused0]" not in toks
    pooled = toks[feature["target_start"][0]:feature["target_end"][0]]
    assert pooled == tokenizer.tokenize("Legalization of Abortion")
    assert feature["token_type_ids"][feature["target_start"][0]] == 1


@pytest.mark.parametrize("pooling", ["cls", "marker", "span", "cls_span"])
def test_every_pooling_gives_one_logit_row_per_target(pooling):
    cfg = tiny_model_config(pooling=pooling, per_sentence=pooling != "cls")
    model, tok = build_model(cfg, LabelSet())
    builder = InputBuilder(tok, Encoding.from_model_config(cfg))
    feats = builder.encode("Brazil welcomed the ceasefire brokered by Qatar.",
                           [TargetSpec(0, 6, "Brazil", 2), TargetSpec(42, 47, "Qatar", 0)])
    out = model(**collate(feats))
    assert out.logits.shape[-1] == 3 and out.logits.shape[:2].numel() >= 2
    assert torch.isfinite(out.loss)


def test_bad_encoding_settings_are_config_errors():
    with pytest.raises(ConfigError, match="model.pooling='mean'"):
        Encoding("marker", "mean", False, ("[unused0]", "[unused1]"), 64)
    with pytest.raises(ConfigError, match="per_sentence"):
        Encoding("pair", "cls", True, ("[unused0]", "[unused1]"), 64)
