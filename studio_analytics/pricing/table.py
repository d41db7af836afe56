"""The price table: model prices in USD per million tokens, and how a call's model name
and provider find theirs (see :mod:`studio_analytics.pricing.names` for the rules).

Lookup order: the user's file before the shipped table, whatever stage matches; within
each, the exact name, then the plain key, then the base key. Among entries that share
a name, the call's provider picks:

1. an entry of that provider (Groq's Llama for a call through Groq);
2. an entry of the user's file that names no provider (it applies to every provider);
3. the price of the model's maker (OpenAI, Anthropic, Google, Mistral, DeepSeek): a
   Claude called through Bedrock or a GPT through Azure costs the list price unless the
   table has a price of that host;
4. otherwise nothing: a host's price is never used for another host's calls.

A call without a provider takes the first entry whose own name (not an alias) matched,
else the first entry listed (makers come first in the shipped file, then Groq,
Together, Fireworks, Bedrock).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from studio_analytics.pricing.names import model_keys, provider_key

#: remembered (model, provider) answers per table; the table starts over when full
LOOKUP_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's price, USD per million tokens."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    #: where the price was read: a URL for the shipped table, the file for the user's
    source: str = ""
    #: the provider serving the model at this price (None: any provider, user file only)
    provider: str | None = None
    #: the date the price was taken (ISO)
    as_of: str = ""
    aliases: tuple[str, ...] = ()
    #: True when the provider makes the model: its price also stands for hosts without one
    maker: bool = False
    from_user_file: bool = False

    def cost(self, input_tokens: int | None, output_tokens: int | None,
             cached_input_tokens: int | None = None) -> float | None:
        """USD for these counts; None when neither input nor output is known.

        ``input_tokens`` include the cached ones, which cost the cached price (the input
        price when the model has none); reasoning tokens are part of ``output_tokens``.
        ``db reprice`` does the same arithmetic in SQL, in the same order.
        """
        if input_tokens is None and output_tokens is None:
            return None
        n_in = max(input_tokens or 0, 0)
        n_out = max(output_tokens or 0, 0)
        cached = min(max(cached_input_tokens or 0, 0), n_in)
        return ((n_in - cached) * self.input_per_mtok + cached * self.cached_price
                + n_out * self.output_per_mtok) / 1e6

    @property
    def cached_price(self) -> float:
        return self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok


@dataclass(frozen=True, slots=True)
class PriceMatch:
    """The entry a lookup found, and how."""

    price: ModelPrice
    #: "exact" (the entry's name), "alias" (one of its aliases) or "normalised"
    how: str
    #: the entry's name or alias that matched
    matched_name: str
    #: for "normalised": what was done to the name ("prefix 'openai/' dropped", ...)
    steps: tuple[str, ...] = ()
    #: the call's provider has no price of its own: the model maker's price applies
    provider_fallback: bool = False


@dataclass(frozen=True, slots=True)
class ProviderSource:
    """Where a provider's shipped prices come from."""

    provider: str
    name: str
    url: str
    as_of: str
    maker: bool
    notes: str = ""


_Candidate = tuple[ModelPrice, str]  # entry, the name of it that matched


class _Index:
    """Entries by exact name, plain key and base key, in the order they were given."""

    def __init__(self, entries: Iterable[ModelPrice]) -> None:
        self.exact: dict[str, list[_Candidate]] = {}
        self.plain: dict[str, list[_Candidate]] = {}
        self.base: dict[str, list[_Candidate]] = {}
        for entry in entries:
            for name in dict.fromkeys((entry.model, *entry.aliases)):
                keys = model_keys(name)
                for index, key in ((self.exact, name), (self.plain, keys.plain), (self.base, keys.base)):
                    candidates = index.setdefault(key, [])
                    if all(e is not entry for e, _ in candidates):
                        candidates.append((entry, name))

    def find(self, model: str, provider: str | None) -> PriceMatch | None:
        found = self.exact.get(model)
        chosen = _choose(found, provider) if found else None
        if chosen is not None:
            (entry, name), fallback = chosen
            return PriceMatch(entry, "exact" if name == entry.model else "alias", name, (), fallback)
        keys = model_keys(model)
        for index, key, steps in ((self.plain, keys.plain, keys.plain_steps),
                                  (self.base, keys.base, keys.base_steps)):
            found = index.get(key)
            chosen = _choose(found, provider) if found else None
            if chosen is not None:
                (entry, name), fallback = chosen
                return PriceMatch(entry, "normalised", name, steps, fallback)
        return None


def _choose(candidates: list[_Candidate], provider: str | None) -> tuple[_Candidate, bool] | None:
    """The candidate for this provider (see the module's docstring), and whether it is
    the maker's price standing in for a host without one."""
    if provider is None:
        # a host's own id (a Bedrock ARN-style name) before names shared by every host
        for candidate in candidates:
            if candidate[1] == candidate[0].model:
                return candidate, False
        return candidates[0], False
    for candidate in candidates:
        if candidate[0].provider == provider:
            return candidate, False
    for candidate in candidates:
        if candidate[0].provider is None:
            return candidate, False
    for candidate in candidates:
        if candidate[0].maker:
            return candidate, True
    return None


@dataclass
class PriceTable:
    """The shipped prices and the user's, looked up by model name and provider."""

    shipped: list[ModelPrice]
    user: list[ModelPrice] = field(default_factory=list)
    #: the shipped table's date and where each provider's prices come from
    as_of: str = ""
    sources: dict[str, ProviderSource] = field(default_factory=dict)
    #: the user's price file, whether it was read, and why it was not (invalid)
    user_file: str = ""
    user_file_loaded: bool = False
    user_file_problem: str | None = None

    def __post_init__(self) -> None:
        self._user = _Index(self.user)
        self._shipped = _Index(self.shipped)
        self._memo: dict[tuple[str, str | None], PriceMatch | None] = {}

    def __iter__(self) -> Iterator[ModelPrice]:
        """The user's entries, then the shipped ones, in file order."""
        yield from self.user
        yield from self.shipped

    def __len__(self) -> int:
        return len(self.user) + len(self.shipped)

    def lookup(self, model: str | None, provider: str | None = None) -> ModelPrice | None:
        """The price of ``model`` called through ``provider``; None when it has none
        (its calls are then unpriced, never $0)."""
        found = self.match(model, provider)
        return None if found is None else found.price

    def match(self, model: str | None, provider: str | None = None) -> PriceMatch | None:
        """Like :meth:`lookup`, saying which entry matched and how."""
        if not model:
            return None
        memo_key = (model, provider)
        memo = self._memo
        if memo_key in memo:
            return memo[memo_key]
        wanted = provider_key(provider)
        found = self._user.find(model, wanted) or self._shipped.find(model, wanted)
        if len(memo) >= LOOKUP_CACHE_SIZE:
            memo.clear()  # bounded: agents with endless distinct names cannot grow it
        memo[memo_key] = found
        return found


__all__ = ["LOOKUP_CACHE_SIZE", "ModelPrice", "PriceMatch", "PriceTable", "ProviderSource"]
