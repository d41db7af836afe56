"""``studio-analytics prices path|list|check``: the price table that costs model calls.

``path`` says where the user's price file goes (and ``--init`` writes a commented one),
``list`` shows every entry, ``check MODEL`` shows which entry a model name finds and how.
A price file that cannot be used is one ``error:`` line and exit code 1, as everywhere;
the tracker, meanwhile, goes on with the shipped prices.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from studio_analytics.config import config_dir, prices_path
from studio_analytics.pricing import ModelPrice, PriceFileError, PriceMatch, PriceTable, load_prices
from studio_analytics.pricing.names import provider_key
from studio_analytics.private_files import FILE_MODE

EXIT_UNPRICED = 1

EXAMPLE_FILE = """\
# Your model prices for studio-analytics: USD per 1 million tokens.
# They override the shipped table (`studio-analytics prices list`) and add to it.
# Calls are costed when they are written; `studio-analytics db reprice` recomputes the
# stored costs after you change this file.
#
# [models."my-finetune"]
# input = 0.30                  # required: uncached input tokens
# output = 1.20                 # required: output tokens (reasoning included)
# cached_input = 0.15           # optional: cached input costs the input price without it
# provider = "openai"           # optional: without it the price applies through any provider
# aliases = ["ft:gpt-4o-mini:acme::abc123"]   # optional: other names of the same model
# source = "our contract"       # optional
# as_of = 2026-11-01            # optional: the date of the price
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prices = sub.add_parser("prices", help="the model price table: where your file goes, what it holds, "
                                           "what a model name matches")
    prices_sub = prices.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    path = prices_sub.add_parser("path", help="where your price file goes and whether it exists")
    path.add_argument("--init", action="store_true", help="write a commented example file there (never "
                                                          "overwrites one)")
    path.set_defaults(func=cmd_path)
    listing = prices_sub.add_parser("list", help="every price: the shipped table and your file")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.add_argument("--provider", metavar="P", help="only this provider's prices (openai, groq, bedrock...)")
    listing.set_defaults(func=cmd_list)
    check = prices_sub.add_parser("check", help="the price a model name finds, and how (exit code 1 when none)")
    check.add_argument("model", metavar="MODEL", help="the model name as your agent records it")
    check.add_argument("--provider", metavar="P", help="the provider the calls go through")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.set_defaults(func=cmd_check)


def _fail(error: PriceFileError) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


# -- path ---------------------------------------------------------------------------
def cmd_path(args: argparse.Namespace) -> int:
    path = prices_path()
    if args.init:
        if path.exists():
            print(f"error: {path} exists already; it was not changed", file=sys.stderr)
            return 1
        config_dir(create=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(EXAMPLE_FILE)
    print(path)
    try:
        table = load_prices(strict=True, path=path)
    except PriceFileError as e:
        print("exists: yes, but it cannot be used")
        return _fail(e)
    if table.user_file_loaded:
        print(f"exists: yes, {len(table.user)} price{'s' if len(table.user) != 1 else ''}")
    else:
        print("exists: no (create it to override or add prices; `studio-analytics prices path --init` "
              "writes a commented example)")
    return 0


# -- list ---------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    try:
        table = load_prices(strict=True)
    except PriceFileError as e:
        return _fail(e)
    wanted = provider_key(args.provider)
    entries = [p for p in table if wanted is None or p.provider in (wanted, None)]
    overridden = _overridden(table)
    if args.format == "json":
        print(json.dumps({
            "as_of": table.as_of,
            "user_file": table.user_file,
            "user_file_loaded": table.user_file_loaded,
            "sources": {k: {"name": s.name, "url": s.url, "as_of": s.as_of, "maker": s.maker, "notes": s.notes}
                        for k, s in table.sources.items() if wanted is None or k == wanted},
            "prices": [_price_json(p, overridden=id(p) in overridden) for p in entries],
        }, indent=2))
        return 0
    headers = ("MODEL", "PROVIDER", "INPUT", "OUTPUT", "CACHED", "AS OF", "FROM", "SOURCE")
    rows = [(p.model, p.provider or "any", _usd(p.input_per_mtok), _usd(p.output_per_mtok),
             "-" if p.cached_input_per_mtok is None else _usd(p.cached_input_per_mtok), p.as_of,
             "your file" if p.from_user_file else ("shipped, overridden" if id(p) in overridden else "shipped"),
             p.source) for p in entries]
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    numeric = {2, 3, 4}
    for row in (headers, *rows):
        cells = [str(c).rjust(w) if i in numeric and row is not headers else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        print("  ".join(cells).rstrip())
    print()
    print(f"{len(rows)} price{'' if len(rows) == 1 else 's'}, USD per 1M tokens; shipped table as of {table.as_of}; "
          + (f"your file {table.user_file} ({len(table.user)})" if table.user_file_loaded
             else f"no file of yours ({table.user_file})"))
    return 0


def _overridden(table: PriceTable) -> set[int]:
    """Shipped entries a user entry of the same name replaces (for the same provider, or
    for every provider when the user's names none)."""
    out: set[int] = set()
    for user in table.user:
        names = {user.model, *user.aliases}
        for shipped in table.shipped:
            if shipped.model in names and user.provider in (None, shipped.provider):
                out.add(id(shipped))
    return out


def _price_json(p: ModelPrice, *, overridden: bool = False) -> dict[str, Any]:
    return {
        "model": p.model, "provider": p.provider, "input_per_mtok": p.input_per_mtok,
        "output_per_mtok": p.output_per_mtok, "cached_input_per_mtok": p.cached_input_per_mtok,
        "aliases": list(p.aliases), "source": p.source, "as_of": p.as_of,
        "from_user_file": p.from_user_file, "overridden": overridden,
    }


# -- check --------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    try:
        table = load_prices(strict=True)
    except PriceFileError as e:
        return _fail(e)
    found = table.match(args.model, args.provider)
    if args.format == "json":
        print(json.dumps({
            "model": args.model, "provider": args.provider, "priced": found is not None,
            "match": None if found is None else {
                "how": found.how, "name": found.matched_name, "steps": list(found.steps),
                "provider_fallback": found.provider_fallback},
            "price": None if found is None else _price_json(found.price),
        }, indent=2))
        return 0 if found is not None else EXIT_UNPRICED
    through = f" through {args.provider}" if args.provider else ""
    if found is None:
        print(f"{args.model}{through}: no price: calls to it are recorded with no cost and reported as unpriced")
        print(f"(add it to {table.user_file} to price it; `studio-analytics prices path --init` writes an example)")
        return EXIT_UNPRICED
    for label, text in _check_lines(args.model, args.provider, found):
        print(f"{label:9} {text}")
    return 0


def _check_lines(model: str, provider: str | None, found: PriceMatch) -> list[tuple[str, str]]:
    p = found.price
    how = {"exact": "its exact name", "alias": f"an alias of {p.model}"}.get(
        found.how, f"{found.matched_name} after normalisation ({'; '.join(found.steps)})")
    lines = [
        ("model", model + (f" (provider {provider})" if provider else "")),
        ("matches", f"{p.model} [{p.provider or 'any provider'}], by {how}"),
    ]
    if found.provider_fallback:
        lines.append(("note", f"{provider} has no price of its own for it: the price of its maker, "
                              f"{p.provider}, applies"))
    cached = "" if p.cached_input_per_mtok is None else f", cached input {_usd(p.cached_input_per_mtok)}"
    lines.append(("price", f"input {_usd(p.input_per_mtok)}, output {_usd(p.output_per_mtok)}{cached} "
                           "per 1M tokens" + ("" if p.cached_input_per_mtok is not None
                                              else " (cached input costs the input price)")))
    origin = "your file" if p.from_user_file else "the shipped table"
    lines.append(("source", f"{p.source}, as of {p.as_of} ({origin})"))
    example = p.cost(1000, 1000)
    lines.append(("example", f"1,000 input + 1,000 output tokens cost ${example:.6f}"))
    return lines


def _usd(value: float) -> str:
    """Dollars with at least two decimals and at most four: $2.50, $0.075, $0.003."""
    whole, frac = f"{value:,.4f}".split(".")
    return f"${whole}.{frac.rstrip('0').ljust(2, '0')}"


__all__ = ["register"]
