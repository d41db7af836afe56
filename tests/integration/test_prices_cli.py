"""``studio-analytics prices path|list|check`` against the real shipped table and a real
user file in the test's own STUDIO_ANALYTICS_HOME."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from studio_analytics import config
from studio_analytics.cli import run_cli

USER_FILE = """
[models."acme-llm"]
input = 1.0
output = 2.0
aliases = ["acme/llm-v2"]

[models."gpt-4o-mini"]
input = 0.30
output = 1.20
"""


def _user_file(text: str) -> Path:
    config.config_dir(create=True)
    path = config.prices_path()
    path.write_text(text, encoding="utf-8")
    return path


def test_path_names_the_file_and_creates_nothing(isolated_home: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["prices", "path"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(Path(isolated_home) / "config" / "prices.toml")
    assert out[1].startswith("exists: no")
    assert not (Path(isolated_home) / "config").exists()


def test_path_init_writes_a_private_example_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["prices", "path", "--init"]) == 0
    path = config.prices_path()
    assert "exists: yes, 0 prices" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert '[models."my-finetune"]' in path.read_text(encoding="utf-8")
    path.write_text(USER_FILE, encoding="utf-8")
    assert run_cli(["prices", "path", "--init"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == USER_FILE
    assert run_cli(["prices", "path"]) == 0
    assert "exists: yes, 2 prices" in capsys.readouterr().out


def test_list_shows_every_price_with_its_origin(capsys: pytest.CaptureFixture[str]) -> None:
    _user_file(USER_FILE)
    assert run_cli(["prices", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "PROVIDER", "INPUT", "OUTPUT", "CACHED", "AS", "OF", "FROM", "SOURCE"]
    rows = {tuple(line.split()[:2]): line for line in lines[1:] if line.strip()}
    assert "your file" in rows[("acme-llm", "any")]
    assert "shipped, overridden" in rows[("gpt-4o-mini", "openai")]
    assert "$2.50" in rows[("gpt-4o", "openai")] and "https://developers.openai.com" in rows[("gpt-4o", "openai")]
    assert "your file" in lines[-1]


def test_list_json_and_provider_filter(capsys: pytest.CaptureFixture[str]) -> None:
    _user_file(USER_FILE)
    assert run_cli(["prices", "list", "--format", "json", "--provider", "groq"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["sources"]) == {"groq"} and data["sources"]["groq"]["url"].startswith("https://")
    providers = {p["provider"] for p in data["prices"]}
    assert providers == {"groq", None}  # groq's, and the user's for any provider
    llama = next(p for p in data["prices"] if p["model"] == "llama-3.3-70b-versatile")
    assert llama["input_per_mtok"] == 0.59 and llama["as_of"] and not llama["from_user_file"]
    assert "Llama-3.3-70B-Instruct" in llama["aliases"]
    acme = next(p for p in data["prices"] if p["model"] == "acme-llm")
    assert acme["from_user_file"] and acme["aliases"] == ["acme/llm-v2"]


def test_check_says_which_entry_and_how(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["prices", "check", "openai/gpt-4o-2024-08-06", "--provider", "azure"]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o [openai]" in out and "after normalisation" in out and "date '-2024-08-06' dropped" in out
    assert "the price of its maker, openai, applies" in out
    assert "input $2.50, output $10.00, cached input $1.25 per 1M tokens" in out
    _user_file(USER_FILE)
    assert run_cli(["prices", "check", "acme/llm-v2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["priced"] and data["match"]["how"] == "alias" and data["price"]["from_user_file"]


def test_check_of_a_model_without_a_price_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["prices", "check", "llama-3.3-70b-versatile", "--provider", "together"]) == 1
    out = capsys.readouterr().out
    assert "no price: calls to it are recorded with no cost and reported as unpriced" in out
    assert run_cli(["prices", "check", "my-local-model", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"model": "my-local-model", "provider": None, "priced": False,
                                                   "match": None, "price": None}


@pytest.mark.parametrize("argv", [["prices", "list"], ["prices", "check", "gpt-4o"], ["prices", "path"]])
def test_a_broken_file_is_one_error_line_and_exit_1(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    path = _user_file('[models."acme-llm"]\ninput = 1\noutput = "two"\n')
    assert run_cli(argv) == 1
    err = capsys.readouterr().err
    assert err == f'error: {path}: [models."acme-llm"] output: must be a number of USD per million tokens, ' \
                  "at least 0; got 'two'\n"


def test_the_entry_point_runs_prices_check(isolated_home: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "studio_analytics", "prices", "check", "claude-3-5-haiku-20241022"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "claude-3-5-haiku [anthropic]" in proc.stdout and "input $0.80, output $4.00" in proc.stdout
