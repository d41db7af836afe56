"""Model prices: what a model call cost, from a price table shipped with the package and
the user's own additions. No Qt, no database: the tracker's writer, the ingestion and the
CLI all use it.

    price = current_prices().lookup("gpt-4o-mini-2024-07-18", provider="openai")
    cost = None if price is None else price.cost(input_tokens=1200, output_tokens=300)

A model without a price has no cost (``None``), never $0: callers report it as unpriced.
The shipped table is ``prices.toml`` in this package; the user's file is ``prices.toml``
in the config folder (:func:`studio_analytics.config.prices_path`).
"""

from __future__ import annotations

from studio_analytics.pricing.current import (
    RECHECK_SECONDS,
    current_prices,
    load_prices,
    refresh_prices,
)
from studio_analytics.pricing.sources import PriceFileError
from studio_analytics.pricing.table import ModelPrice, PriceMatch, PriceTable, ProviderSource

__all__ = [
    "RECHECK_SECONDS", "ModelPrice", "PriceFileError", "PriceMatch", "PriceTable", "ProviderSource",
    "current_prices", "load_prices", "refresh_prices",
]
