"""Reading prices: the table shipped inside the package (``prices.toml`` next to this
module) and the user's own file, ``prices.toml`` in the config folder.

The user's file (USD per million tokens)::

    [models."my-finetune"]
    input = 0.30                 # required
    output = 1.20                # required
    cached_input = 0.15          # optional: cached input tokens cost the input price without it
    provider = "openai"          # optional: without it the price applies through any provider
    aliases = ["ft:gpt-4o-mini:acme::abc123"]   # optional: other names of the model
    source = "our contract"      # optional
    as_of = 2026-11-01           # optional (default: the file's modification date)

Anything else in the file is a mistake and is reported with the file, the entry and what
is wrong (:class:`PriceFileError`), never guessed at.
"""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from studio_analytics.pricing.names import provider_key
from studio_analytics.pricing.table import ModelPrice, ProviderSource

SHIPPED_RESOURCE = "prices.toml"
_PRICE_FIELDS = ("input", "output", "cached_input")
_SHIPPED_ENTRY_FIELDS = frozenset((*_PRICE_FIELDS, "aliases"))
_USER_ENTRY_FIELDS = frozenset((*_PRICE_FIELDS, "aliases", "provider", "source", "as_of"))
_PROVIDER_FIELDS = frozenset(("name", "maker", "source", "as_of", "notes", "models"))


class PriceFileError(ValueError):
    """A price file that cannot be used: which file, which entry, what is wrong."""

    def __init__(self, path: str, problem: str, entry: str | None = None) -> None:
        self.path = path
        self.entry = entry
        self.problem = problem
        where = f"{path}: " + (f"[models.{_quoted(entry)}] " if entry is not None else "")
        super().__init__(where + problem)


# -- the shipped table --------------------------------------------------------------
def read_shipped() -> tuple[str, dict[str, ProviderSource], list[ModelPrice]]:
    """The shipped table's date, each provider's source, and every entry in file order.
    A problem here is a bug of the package, raised as :class:`PriceFileError`."""
    resource = resources.files("studio_analytics.pricing").joinpath(SHIPPED_RESOURCE)
    where = f"shipped {SHIPPED_RESOURCE}"
    try:
        data = tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise PriceFileError(where, f"not valid TOML: {e}") from None
    table = _table(data.get("table"), where, "[table]")
    as_of = _date_text(table.get("as_of"), where, "[table] as_of")
    providers = _table(data.get("providers"), where, "[providers]")
    sources: dict[str, ProviderSource] = {}
    entries: list[ModelPrice] = []
    for key, raw in providers.items():
        section = f"[providers.{key}]"
        spec = _table(raw, where, section)
        unknown = sorted(set(spec) - _PROVIDER_FIELDS)
        if unknown:
            raise PriceFileError(where, f"{section}: unknown field {unknown[0]!r}")
        provider = provider_key(key) or key
        url = spec.get("source")
        if not isinstance(url, str) or not url:
            raise PriceFileError(where, f"{section}: 'source' must name where the prices were read")
        maker = spec.get("maker", False)
        if not isinstance(maker, bool):
            raise PriceFileError(where, f"{section}: 'maker' must be true or false")
        source = ProviderSource(provider, str(spec.get("name", key)), url,
                                _date_text(spec.get("as_of"), where, f"{section} as_of"), maker,
                                str(spec.get("notes", "")))
        sources[provider] = source
        for name, entry in _table(spec.get("models"), where, f"{section}.models").items():
            prices = _entry(entry, where, name, _SHIPPED_ENTRY_FIELDS)
            entries.append(ModelPrice(name, prices["input"], prices["output"], prices.get("cached_input"),
                                      source=url, provider=provider, as_of=source.as_of,
                                      aliases=prices["aliases"], maker=maker))
    return as_of, sources, entries


# -- the user's file ----------------------------------------------------------------
def read_user_file(path: Path) -> list[ModelPrice]:
    """The entries of the user's price file ([] when there is none); raises
    :class:`PriceFileError` when it cannot be read or is not right."""
    where = str(path)
    try:
        raw = path.read_bytes()
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
    except FileNotFoundError:
        return []
    except IsADirectoryError:
        raise PriceFileError(where, "is a folder, not a file") from None
    except OSError as e:
        raise PriceFileError(where, f"cannot be read ({e.strerror or e})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PriceFileError(where, f"is not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise PriceFileError(where, f"not valid TOML: {e}") from None
    extra = sorted(set(data) - {"models"})
    if extra:
        raise PriceFileError(where, f"unknown key {extra[0]!r} at the top: entries go under "
                                    f"[models.\"MODEL NAME\"]")
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise PriceFileError(where, "'models' must be a table: [models.\"MODEL NAME\"]")
    entries: list[ModelPrice] = []
    for name, entry in models.items():
        if not name.strip():
            raise PriceFileError(where, "the model name is empty", entry=name)
        fields = _entry(entry, where, name, _USER_ENTRY_FIELDS)
        provider = entry.get("provider")
        if provider is not None and (not isinstance(provider, str) or not provider.strip()):
            raise PriceFileError(where, "provider: must be a provider name such as \"openai\"", entry=name)
        source = entry.get("source", f"your file {where}")
        if not isinstance(source, str):
            raise PriceFileError(where, "source: must be text", entry=name)
        as_of = (modified if "as_of" not in entry
                 else _date_text(entry["as_of"], where, "as_of", entry=name))
        entries.append(ModelPrice(name, fields["input"], fields["output"], fields.get("cached_input"),
                                  source=source, provider=provider_key(provider), as_of=as_of,
                                  aliases=fields["aliases"], maker=False, from_user_file=True))
    return entries


# -- fields -------------------------------------------------------------------------
def _entry(entry: Any, where: str, name: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise PriceFileError(where, "must be a table with input and output prices", entry=name)
    unknown = sorted(set(entry) - allowed)
    nested = [key for key in unknown if isinstance(entry[key], dict)]
    if nested:  # [models.gpt-4.1] is the table "gpt-4" holding "1": the name needs quotes
        raise PriceFileError(where, f"a name with dots needs quotes: write [models.\"{name}.{nested[0]}\"]",
                             entry=name)
    if unknown:
        raise PriceFileError(where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})",
                             entry=name)
    out: dict[str, Any] = {}
    for field in _PRICE_FIELDS:
        if field not in entry:
            if field != "cached_input":
                raise PriceFileError(where, f"{field}: missing (USD per million {field} tokens)", entry=name)
            continue
        value = entry[field]
        # bool is an int in Python; "true" is no price
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise PriceFileError(where, f"{field}: must be a number of USD per million tokens, at least 0; "
                                        f"got {value!r}", entry=name)
        out[field] = float(value)
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise PriceFileError(where, "aliases: must be a list of model names", entry=name)
    out["aliases"] = tuple(aliases)
    return out


def _table(value: Any, where: str, section: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PriceFileError(where, f"{section} is missing or not a table")
    return value


def _date_text(value: Any, where: str, field: str, entry: str | None = None) -> str:
    """A TOML date (or an ISO date string) as ISO text."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise PriceFileError(where, f"{field}: must be a date such as 2026-11-01; got {value!r}", entry=entry)


def _quoted(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


__all__ = ["PriceFileError", "read_shipped", "read_user_file"]
