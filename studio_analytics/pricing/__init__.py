"""Model prices: what a model call cost, from a price table shipped with the package and
the user's own additions. No Qt, no database: the tracker's writer, the ingestion and the
CLI all use it.

    price = current_prices().lookup("gpt-4o-mini-2024-07-18", provider="openai")
    cost = None if price is None else price.cost(input_tokens=1200, output_tokens=300)

A model without a price has no cost (``None``), never $0: callers report it as unpriced.
"""

from __future__ import annotations

from studio_analytics.pricing.table import ModelPrice, PriceTable, current_prices, load_prices

__all__ = ["ModelPrice", "PriceTable", "current_prices", "load_prices"]
