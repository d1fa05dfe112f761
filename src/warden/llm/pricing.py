"""What a call costs: a per-model price table in USD per million tokens, and estimates.

Prices drift; the built-in table is a sane default, and the config file overrides it
(``llm.prices``). A model missing from the table (a local Ollama model, a new release) is
priced at the table's ``default`` entry, which is deliberately high so that an unknown model
errs on the side of stopping early; price local models at 0 in the config when they are free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from warden.schemas._base import StrictModel

__all__ = [
    "DEFAULT_PRICES",
    "UNKNOWN_MODEL",
    "Price",
    "PriceTable",
    "estimate_prompt_tokens",
]

UNKNOWN_MODEL = "default"
"""Key of the price used for models the table does not list."""


class Price(StrictModel):
    """USD per million tokens, in and out."""

    input: float = Field(ge=0, description="USD per 1M prompt tokens.")
    output: float = Field(ge=0, description="USD per 1M completion tokens.")

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4.1": Price(input=2.00, output=8.00),
    "gpt-4.1-mini": Price(input=0.40, output=1.60),
    "gpt-4.1-nano": Price(input=0.10, output=0.40),
    UNKNOWN_MODEL: Price(input=10.00, output=30.00),
}


class PriceTable:
    """Model name -> price. Exact name first, then the longest listed prefix (dated
    snapshots such as ``gpt-4o-mini-2024-07-18``), then ``default``."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        self.prices.update(prices or {})

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> PriceTable:
        return cls({name: Price.model_validate(value) for name, value in (data or {}).items()})

    def price_for(self, model: str) -> tuple[str, Price]:
        """(the table key used, its price)."""
        if model in self.prices:
            return model, self.prices[model]
        prefixes = [k for k in self.prices if k != UNKNOWN_MODEL and model.startswith(k)]
        if prefixes:
            key = max(prefixes, key=len)
            return key, self.prices[key]
        return UNKNOWN_MODEL, self.prices[UNKNOWN_MODEL]

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        return self.price_for(model)[1].cost(tokens_in, tokens_out)


def estimate_prompt_tokens(texts: Iterable[str]) -> int:
    """A deliberately high estimate, with no tokenizer download: one token per three characters
    plus a few per message. Real tokenizers average about four characters per token in English."""
    return sum(math.ceil(len(t) / 3) + 4 for t in texts)
