"""Stage 4: the model card of a version, rendered from its manifest (card.py, templates/model_card.md)."""

from stance.card.card import CARD, TEMPLATE, CardInfo, SplitScores, collect, release_card, render, write_card

__all__ = ["CARD", "TEMPLATE", "CardInfo", "SplitScores", "collect", "release_card", "render", "write_card"]
