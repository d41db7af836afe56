"""Every CLI failure is one line naming what was wrong: exit 2 for a bad value on the
command line, 1 for a database or file that cannot be used; never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studio_analytics.cli import run_cli

BAD_URLS = {
    "postgresql://postgres@127.0.0.1:99999/x": "port 99999 is outside 1-65535",
    "postgresql://:@/": "user name is empty",
    "sqlite://relative?bad": "a SQLite URL has no host",
    "postgresql://u:s3cret@db:abc/x": "port is not a number",
    "mysql://u@db/x": "unsupported database 'mysql'",
}
#: Every subcommand that takes --db, with its other required arguments.
COMMANDS = (
    ["report", "summary"],
    ["report", "health"],
    ["export", "executions", "-o", "OUT"],
    ["show", "session", "s1"],
    ["db", "check"],
    ["db", "upgrade"],
    ["db", "rebuild-rollups"],
    ["demo", "--executions", "5"],
)


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = run_cli(args)
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_bad_database_url_is_a_usage_error(command: list[str], url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(tmp_path / "out.csv") if a == "OUT" else a for a in command]
    code, err = _run([*args, "--db", url], capsys)
    line = _one_line(err)
    assert code == 2 and line.startswith("error: bad database URL") and BAD_URLS[url] in line
    assert "s3cret" not in line
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("value", ["inf", "1e308", "-1", "nan", "0", "-inf", "1e6", "seven"])
@pytest.mark.parametrize("command", (["report", "summary"], ["export", "executions", "-o", "x.csv"],
                                     ["demo"]), ids=lambda c: c[0])
def test_bad_days_are_rejected_by_argparse(command: list[str], value: str, sqlite_db_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli([*command, "--db", sqlite_db_url, f"--days={value}"])  # "=": "-inf" is not an option
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"argument --days: {value!r} is not" in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2026-13-01"], "'2026-13-01' is not an ISO date or time (month must be in 1..12)"),
    (["--start", "yesterday"], "'yesterday' is not an ISO date or time"),
    (["--start", "0001-01-01", "--end", "0001-01-02"], "'0001-01-01' is outside 1970-01-01 .. 9998-12-31"),
    (["--start", "2026-01-01", "--end", "9999-12-31T23:59:59"], "'9999-12-31T23:59:59' is outside"),
])
def test_bad_dates_are_rejected_by_argparse(args: list[str], message: str, sqlite_db_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["report", "summary", "--db", sqlite_db_url, *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "1970-01-02", "--end", "9000-01-01"], "longer than 36,525 days"),
    (["--start", "2026-02-01", "--end", "2026-01-01"], "start must be before its end"),
    (["--range", "7d", "--end", "2026-01-01"], "--end goes with --start or --days"),
    (["--days", "36000"], "before 1970-01-01"),
])
def test_impossible_ranges_are_usage_errors(args: list[str], message: str, sqlite_db_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["report", "summary", "--db", sqlite_db_url, *args], capsys)
    assert code == 2 and message in _one_line(err)


def test_long_ranges_and_end_with_days_work(sqlite_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["report", "summary", "--db", sqlite_db_url, "--days", "20000", "--format", "json"]) == 0
    assert run_cli(["report", "summary", "--db", sqlite_db_url, "--days", "3", "--end", "2026-01-04"]) == 0
    assert "2026-01-01" in capsys.readouterr().out


def test_demo_rejects_bad_numbers(sqlite_file_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--executions", "-5"], ["--rate", "nan"], ["--rate", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(["demo", "--db", sqlite_file_url, *args])
        assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_database_errors_are_message_and_hint_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["report", "agents", "--db", str(tmp_path / "missing.sqlite3")], capsys)
    assert code == 1
    assert _one_line(err) == (f"error: SQLite file not found: {tmp_path / 'missing.sqlite3'} "
                              "(check the path, or run `studio-analytics db upgrade` to create it)")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    code, err = _run(["db", "rebuild-rollups", "--db", str(junk)], capsys)
    assert code == 1 and _one_line(err).startswith("error: The file is not a SQLite database")


def test_filters_on_other_tables_are_usage_errors(sqlite_db_url: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["export", "sessions", "-o", str(tmp_path / "s.csv"), "--db", sqlite_db_url, "--agent", "A"],
                     capsys)
    assert code == 2 and "--agent filter executions only" in _one_line(err)
    with pytest.raises(SystemExit):
        run_cli(["export", "executions", "-o", str(tmp_path / "e.csv"), "--db", sqlite_db_url, "--status", "bogus"])


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(
        sqlite_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import studio_analytics.commands.report as report

    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(report, "run_report", broken)  # a bug in our code, not a database double
    code, err = _run(["report", "agents", "--db", sqlite_db_url], capsys)
    assert code == 1
    assert _one_line(err) == "error: unexpected KeyError: 'a bug' (run with --debug for the traceback)"
    code, err = _run(["report", "agents", "--db", sqlite_db_url, "--debug"], capsys)
    assert code == 1 and "Traceback (most recent call last)" in err and "in broken" in err
    assert err.strip().splitlines()[-1] == "error: unexpected KeyError: 'a bug'"
    code, err = _run(["--debug", "report", "agents", "--db", sqlite_db_url], capsys)
    assert code == 1 and "Traceback" in err  # --debug before the subcommand works too


def test_entry_point_prints_one_line_for_a_bad_port(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "studio_analytics", "report", "summary",
                           "--db", "postgresql://postgres@127.0.0.1:99999/x"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: bad database URL postgresql://postgres@127.0.0.1:99999/x: "
                                   "port 99999 is outside 1-65535")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_db_before_the_subcommand_is_the_one_used(command: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``studio-analytics --db X demo`` means X: the subcommand's unset --db must not
    replace it with the default database."""
    args = [str(tmp_path / "out.csv") if a == "OUT" else a for a in command]
    code, err = _run(["--db", "postgresql://u:s3cret@db:abc/x", *args], capsys)
    assert code == 2 and "port is not a number" in _one_line(err)
