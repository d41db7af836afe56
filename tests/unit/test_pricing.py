"""The price table: cost arithmetic, how names and providers find a price, the user's
file over the shipped table, and what a broken file does (shipped prices + one warning)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from studio_analytics import config
from studio_analytics.pricing import (
    ModelPrice,
    PriceFileError,
    current_prices,
    load_prices,
    refresh_prices,
)
from studio_analytics.pricing import current as current_module
from studio_analytics.pricing.names import model_keys, provider_key
from studio_analytics.pricing.table import LOOKUP_CACHE_SIZE

SHIPPED = load_prices(path=Path("/nonexistent/prices.toml"))


@pytest.fixture(autouse=True)
def _current_prices_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests put user files in force; the table in force goes back to what it was
    after each, so no other test's tracker costs with them."""
    monkeypatch.setattr(current_module, "_current", None)


def _write_user_file(text: str | bytes) -> Path:
    path = config.prices_path()
    config.config_dir(create=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# -- cost arithmetic ----------------------------------------------------------------
def test_cached_input_tokens_are_part_of_input_and_cost_the_cached_price() -> None:
    price = ModelPrice("m", 2.0, 8.0, 0.5)
    # 1,000 input of which 200 cached, 500 output
    assert price.cost(1000, 500, 200) == pytest.approx((800 * 2.0 + 200 * 0.5 + 500 * 8.0) / 1e6, rel=1e-15)


def test_cached_tokens_cost_the_input_price_when_the_model_has_no_cached_price() -> None:
    price = ModelPrice("m", 2.0, 8.0)
    assert price.cost(1000, 500, 200) == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6, rel=1e-15)


def test_no_count_is_no_cost_never_zero() -> None:
    price = ModelPrice("m", 2.0, 8.0, 0.5)
    assert price.cost(None, None) is None
    assert price.cost(None, None, 100) is None
    assert price.cost(0, 0) == 0.0  # known counts of zero do cost $0


def test_one_known_side_is_costed_alone() -> None:
    price = ModelPrice("m", 2.0, 8.0, 0.5)
    assert price.cost(1_000_000, None) == pytest.approx(2.0)  # an embedding call
    assert price.cost(None, 1_000_000) == pytest.approx(8.0)
    assert price.cost(1000, 0, None) == pytest.approx(0.002)


def test_more_cached_than_input_is_capped_at_the_input() -> None:
    price = ModelPrice("m", 2.0, 8.0, 0.5)
    assert price.cost(100, 0, 500) == pytest.approx(100 * 0.5 / 1e6)


# -- normalisation ------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected", "step"), [
    ("openai/gpt-4o-mini", "gpt-4o-mini", "prefix 'openai/' dropped"),
    ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", "prefix 'anthropic/' dropped"),
    ("models/gemini-2.5-pro", "gemini-2.5-pro", "prefix 'models/' dropped"),
    ("fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct",
     "accounts/fireworks/models/llama-v3p1-8b-instruct", "prefix 'fireworks_ai/accounts/fireworks/models/' dropped"),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
     "prefix 'together_ai/meta-llama/' dropped"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet", "Bedrock prefix 'anthropic.' dropped"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku", "Bedrock prefix 'us.' dropped"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5", "Bedrock version '-v1:0' dropped"),
    ("anthropic.claude-3-haiku-20240307-v1:0:200k", "claude-3-haiku", "Bedrock version '-v1:0:200k' dropped"),
    ("us.meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0", "Bedrock prefix 'meta.' dropped"),
    ("gpt-4o-2024-08-06", "gpt-4o", "date '-2024-08-06' dropped"),
    ("claude-3-5-haiku-20241022", "claude-3-5-haiku", "date '-20241022' dropped"),
    ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet", "'@20240620' dropped"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet", "suffix '-latest' dropped"),
    ("mistral-small-latest", "mistral-small-2603", "suffix '-latest' dropped"),
    ("gpt-4-0613", "gpt-4", "dated version '-0613' dropped"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash", "version number '-001' dropped"),
    ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", "preview date '-preview-06-05' dropped"),
    ("GPT-4o-Mini", "gpt-4o-mini", "case ignored"),
    ("claude-3.5-sonnet", "claude-3-5-sonnet", "separators ignored"),
    ("gpt-35-turbo", "gpt-3.5-turbo", "separators ignored"),
    ("claude-opus-4-20250514", "claude-opus-4-0", "date '-20250514' dropped"),
])
def test_each_normalisation_rule_finds_the_entry(name: str, expected: str, step: str) -> None:
    found = SHIPPED.match(name)
    assert found is not None, name
    assert found.price.model == expected
    assert found.how == "normalised"
    assert step in found.steps


def test_meta_prefix_before_llama_is_dropped() -> None:
    found = SHIPPED.match("Meta-Llama-3.1-8B-Instruct-Turbo", "together")
    assert found is not None and found.price.model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
    assert "'meta-' before 'llama' dropped" in found.steps


def test_a_model_named_v3_keeps_its_version() -> None:
    # "-v1:0" is a Bedrock version; "-v3" of deepseek-v3 is part of the name
    assert model_keys("deepseek-v3").base == "deepseekv3"
    assert model_keys("meta.llama3-8b-instruct-v1").base == "llama38binstruct"


def test_an_exact_dated_entry_beats_its_family() -> None:
    assert SHIPPED.lookup("gpt-4o-2024-05-13").input_per_mtok == 5.0  # the May 2024 snapshot's own price
    assert SHIPPED.lookup("gpt-4o-2024-08-06").input_per_mtok == 2.5
    assert SHIPPED.match("gpt-4o-mini").how == "exact"
    assert SHIPPED.match("deepseek-chat").how == "alias"
    assert SHIPPED.match("deepseek-chat").price.model == "deepseek-flash"


@pytest.mark.parametrize("name", ["", None, "no-such-model", "my-local-llm:7b"])
def test_unknown_names_have_no_price(name: str | None) -> None:
    assert SHIPPED.lookup(name) is None


# -- providers ----------------------------------------------------------------------
def test_the_same_llama_costs_what_each_host_charges() -> None:
    prices = {host: SHIPPED.lookup("meta-llama/Llama-3.3-70B-Instruct", host)
              for host in ("groq", "together", "fireworks", "bedrock")}
    assert {host: p.provider for host, p in prices.items() if p} == {h: h for h in prices}
    assert len({(p.input_per_mtok, p.output_per_mtok) for p in prices.values()}) == 4


def test_a_host_price_is_never_used_for_another_host() -> None:
    assert SHIPPED.lookup("llama-3.3-70b-versatile", "together") is None
    assert SHIPPED.lookup("meta-llama/Llama-3.3-70B-Instruct", "ollama") is None


def test_a_host_without_its_own_price_gets_the_makers_price() -> None:
    found = SHIPPED.match("anthropic.claude-sonnet-4-5-20250929-v1:0", "aws.bedrock")
    assert found is not None and found.provider_fallback
    assert found.price.provider == "anthropic" and found.price.input_per_mtok == 3.0
    found = SHIPPED.match("gpt-4.1-mini", "azure.ai.openai")
    assert found is not None and found.provider_fallback and found.price.provider == "openai"


def test_without_a_provider_a_hosts_own_id_finds_that_host() -> None:
    assert SHIPPED.lookup("us.meta.llama3-3-70b-instruct-v1:0").provider == "bedrock"
    assert SHIPPED.lookup("llama-3.3-70b-versatile").provider == "groq"


@pytest.mark.parametrize(("spelling", "key"), [
    ("together_ai", "together"), ("TogetherAI", "together"), ("aws.bedrock", "bedrock"), ("gcp.gemini", "google"),
    ("gcp.vertex_ai", "vertex"), ("mistral_ai", "mistral"), ("fireworks-ai", "fireworks"), ("OpenAI", "openai"),
    ("my-host", "myhost"), ("", None), (None, None),
])
def test_provider_spellings(spelling: str | None, key: str | None) -> None:
    assert provider_key(spelling) == key


# -- the user's file ----------------------------------------------------------------
USER_FILE = """
[models."gpt-4o-mini"]
input = 0.30
output = 1.20

[models."acme-llm"]
input = 1.0
output = 2.0
cached_input = 0.25
aliases = ["acme/llm-v2"]
source = "our contract"
as_of = 2026-10-01

[models."Llama-3.3-70B-Instruct"]
provider = "groq"
input = 0.50
output = 0.60
"""


def test_the_users_entries_override_and_extend_the_shipped_table() -> None:
    path = _write_user_file(USER_FILE)
    table = load_prices(strict=True)
    assert table.user_file == str(path) and table.user_file_loaded
    mini = table.match("openai/gpt-4o-mini-2024-07-18", "openai")
    assert mini is not None and mini.price.from_user_file and mini.price.input_per_mtok == 0.30
    assert mini.price.cached_input_per_mtok is None  # no cached price of the user's: not the shipped one
    acme = table.match("acme/llm-v2")
    assert acme is not None and acme.price.model == "acme-llm" and acme.price.source == "our contract"
    assert acme.price.as_of == "2026-10-01"
    assert table.lookup("acme-llm", "any-provider-at-all").input_per_mtok == 1.0
    # a provider's own price of the user's, for that provider only
    assert table.lookup("Llama-3.3-70B-Instruct", "groq").input_per_mtok == 0.50
    assert table.lookup("Llama-3.3-70B-Instruct", "together").input_per_mtok == 0.88
    assert not table.lookup("gpt-4o", "openai").from_user_file


def test_a_user_entry_without_a_date_takes_the_files_date() -> None:
    path = _write_user_file('[models."x"]\ninput = 1\noutput = 2\n')
    os.utime(path, (1_780_000_000, 1_780_000_000))  # 2026-05-28 UTC
    price = load_prices(strict=True).lookup("x")
    assert price.as_of == "2026-05-28" and str(path) in price.source


BROKEN_FILES = [
    ('[models."x"\ninput = 1\n', "not valid TOML", None),
    ('[models."x"]\ninput = "cheap"\noutput = 1\n', "input: must be a number", "x"),
    ('[models."x"]\ninput = -1\noutput = 1\n', "at least 0; got -1", "x"),
    ('[models."x"]\ninput = true\noutput = 1\n', "input: must be a number", "x"),
    ('[models."x"]\ninput = nan\noutput = 1\n', "input: must be a number", "x"),
    ('[models."x"]\ninput = 1\n', "output: missing", "x"),
    ('[models."x"]\ninput = 1\nouput = 2\n', "unknown field 'ouput'", "x"),
    ('[gpt-4o]\ninput = 1\noutput = 2\n', "unknown key 'gpt-4o' at the top", None),
    ('[models."x"]\ninput = 1\noutput = 2\naliases = "y"\n', "aliases: must be a list", "x"),
    ('[models."x"]\ninput = 1\noutput = 2\nas_of = "last week"\n', "as_of: must be a date", "x"),
    ('[models."x"]\ninput = 1\noutput = 2\nprovider = 3\n', "provider: must be a provider name", "x"),
    ('models = 3\n', "'models' must be a table", None),
    ('[models.gpt-4.1]\ninput = 1\noutput = 2\n', 'a name with dots needs quotes: write [models."gpt-4.1"]', "gpt-4"),
    (b'[models."x"]\ninput = 1\noutput = 2\n# \xff\xfe\n', "is not UTF-8", None),
]


@pytest.mark.parametrize(("text", "problem", "entry"), BROKEN_FILES)
def test_a_broken_file_is_reported_with_file_entry_and_problem(text: str | bytes, problem: str,
                                                               entry: str | None) -> None:
    path = _write_user_file(text)
    with pytest.raises(PriceFileError) as caught:
        load_prices(strict=True)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message
    if entry is not None:
        assert f'[models."{entry}"]' in message


@pytest.mark.parametrize(("text", "problem", "entry"), BROKEN_FILES)
def test_a_broken_file_never_breaks_the_tracker_shipped_prices_and_one_warning(
        text: str | bytes, problem: str, entry: str | None, caplog: pytest.LogCaptureFixture) -> None:
    path = _write_user_file(text)
    with caplog.at_level(logging.WARNING, logger="studio_analytics.pricing"):
        table = refresh_prices()
        again = current_prices()
        refresh_prices()  # the same broken file again: no second warning
    assert table.user == [] and table.user_file_problem is not None and again.user == []
    assert table.lookup("gpt-4o-mini").input_per_mtok == 0.15  # the shipped price
    warnings = [r for r in caplog.records if r.name == "studio_analytics.pricing"]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage() and problem in warnings[0].getMessage()


def test_a_folder_where_the_file_goes_is_reported() -> None:
    config.prices_path().mkdir(parents=True)
    with pytest.raises(PriceFileError, match="is a folder"):
        load_prices(strict=True)
    assert refresh_prices().user_file_problem is not None


# -- the table in force -------------------------------------------------------------
def test_current_prices_is_kept_and_picks_up_an_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    first = refresh_prices()
    assert current_prices() is first  # kept: no file read per call
    assert first.lookup("acme-llm") is None
    _write_user_file('[models."acme-llm"]\ninput = 1\noutput = 2\n')
    assert current_prices() is first  # within RECHECK_SECONDS the file is not looked at
    monkeypatch.setattr(current_module, "RECHECK_SECONDS", 0.0)
    assert current_prices().lookup("acme-llm").input_per_mtok == 1.0
    _write_user_file('[models."acme-llm"]\ninput = 3.5\noutput = 2\n')
    assert current_prices().lookup("acme-llm").input_per_mtok == 3.5
    config.prices_path().unlink()
    assert current_prices().lookup("acme-llm") is None


def test_current_prices_follows_the_home_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _write_user_file('[models."acme-llm"]\ninput = 1\noutput = 2\n')
    assert refresh_prices().lookup("acme-llm") is not None
    monkeypatch.setenv(config.ENV_HOME, str(tmp_path / "other-home"))
    monkeypatch.setattr(current_module, "RECHECK_SECONDS", 0.0)
    assert current_prices().lookup("acme-llm") is None  # another home, another file: not the cached table


def test_lookups_are_remembered_in_a_bounded_cache() -> None:
    table = load_prices()
    for i in range(LOOKUP_CACHE_SIZE + 10):
        table.lookup(f"unknown-model-{i}", "openai")
    assert 0 < len(table._memo) <= LOOKUP_CACHE_SIZE
    assert table.lookup("gpt-4o-mini", "openai") is table.lookup("gpt-4o-mini", "openai")


def test_reading_prices_never_creates_the_config_folder() -> None:
    refresh_prices()
    load_prices()
    assert not config.config_dir().exists()
    created = config.config_dir(create=True)
    assert created.is_dir() and stat.S_IMODE(created.stat().st_mode) == 0o700


# -- the shipped file ---------------------------------------------------------------
def test_every_shipped_entry_has_prices_provider_source_and_date() -> None:
    assert SHIPPED.as_of >= "2026-01-01"
    assert {"openai", "anthropic", "google", "mistral", "deepseek", "groq", "together", "fireworks",
            "bedrock"} <= set(SHIPPED.sources)
    for source in SHIPPED.sources.values():
        assert source.url.startswith("https://") and source.as_of
    for price in SHIPPED.shipped:
        assert price.provider in SHIPPED.sources, price
        assert price.source == SHIPPED.sources[price.provider].url
        assert price.as_of
        assert price.input_per_mtok >= 0 and price.output_per_mtok >= 0
        assert price.input_per_mtok > 0 or price.output_per_mtok > 0, price
        if price.cached_input_per_mtok is not None:
            assert 0 <= price.cached_input_per_mtok <= price.input_per_mtok, price


def test_every_shipped_name_finds_its_own_entry() -> None:
    """No entry or alias is shadowed by another one (through its own provider)."""
    for price in SHIPPED.shipped:
        for name in (price.model, *price.aliases):
            assert SHIPPED.lookup(name, price.provider) is price, (name, price.provider)


@pytest.mark.parametrize(("model", "provider"), [
    ("gpt-5", None), ("gpt-5-mini", None), ("gpt-5-nano", None), ("gpt-4.1", None), ("gpt-4.1-mini", None),
    ("gpt-4.1-nano", None), ("gpt-4o", None), ("gpt-4o-mini", None), ("o1", None), ("o3", None),
    ("o4-mini", None), ("text-embedding-3-small", None), ("text-embedding-3-large", None),
    ("claude-opus-4-5", None), ("claude-opus-4-1", None), ("claude-sonnet-4-5", None), ("claude-sonnet-4", None),
    ("claude-haiku-4-5", None), ("claude-3-7-sonnet", None), ("claude-3-5-haiku", None), ("claude-3-haiku", None),
    ("gemini-2.5-pro", None), ("gemini-2.5-flash", None), ("gemini-2.5-flash-lite", None),
    ("gemini-2.0-flash", None), ("mistral-large-latest", None), ("mistral-medium-latest", None),
    ("mistral-small-latest", None), ("codestral-latest", None), ("ministral-8b-latest", None),
    ("Llama-3.3-70B-Instruct", "groq"), ("Llama-3.1-8B-Instruct", "together"),
    ("Llama-4-Maverick-17B-128E-Instruct", "fireworks"), ("Llama-4-Scout-17B-16E-Instruct", "bedrock"),
    ("deepseek-chat", None), ("deepseek-reasoner", None),
])
def test_the_shipped_table_covers_the_current_models(model: str, provider: str | None) -> None:
    assert SHIPPED.lookup(model, provider) is not None
