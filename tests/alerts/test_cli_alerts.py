"""`studio-analytics alerts`: exit codes, text and JSON, rule problems naming the line
while the other rules run, backtests, silences, and `watch` posting to a real local
webhook, surviving a restart, a database that is not there, and SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from studio_analytics.alerts.rules import DEFAULT_RULES_TEXT, rules_path
from studio_analytics.alerts.state_file import alerts_state_path, load_state
from studio_analytics.cli import run_cli
from studio_analytics.commands.alerts import SCHEMA
from tests.alerts.alert_data import BURST_RULES
from tests.integration.test_agent_studio_compat import agent_studio_url as agent_studio_url  # noqa: F401 - a fixture

TOKEN = "T0KEN-IN-THE-PATH"
#: A rule that always fires (fewer than a million runs in the last hour) and one with a mistake.
EXTRA_RULES = '''
[[rule]]
id = "always"
metric = "executions"
when = "below"
threshold = 1000000
severity = "info"

[[rule]]
id = "broken"
metric = "failure_rate"
when = "sideways"
'''


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(BURST_RULES + EXTRA_RULES, encoding="utf-8")
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run_cli(args)
    out, err = capsys.readouterr()
    return code, out, err


BROKEN_LINE = (BURST_RULES + EXTRA_RULES).splitlines().index('id = "broken"')  # its header's line (1-based)


def test_check_exits_1_when_something_fires(burst_db: tuple[str, datetime], rules_file: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url, base = burst_db
    at = (base + timedelta(minutes=30)).isoformat()
    code, out, err = _run(["alerts", "check", "--db", url, "--rules", str(rules_file), "--at", at], capsys)
    assert code == 1, err
    assert "FIRING  critical  flaky-failures (flaky): failures 6 above 2" in out
    assert "FIRING  info      always: runs 9 below 1,000,000" in out  # 3 steady + 6 flaky
    # The broken rule is named with its file and line on stderr; the others ran.
    assert f"problem: {rules_file}, line {BROKEN_LINE} (rule 'broken'): when = 'sideways' is not one of" in err
    assert "Traceback" not in err


def test_check_exits_0_when_nothing_fires(burst_db: tuple[str, datetime], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url, base = burst_db
    rules = tmp_path / "rules.toml"
    rules.write_text(BURST_RULES, encoding="utf-8")
    at = (base + timedelta(hours=3, minutes=30)).isoformat()
    code, out, err = _run(["alerts", "check", "--db", url, "--rules", str(rules), "--at", at], capsys)
    assert (code, err) == (0, "")
    assert "0 firing" in out and "nothing firing (" in out


def test_check_json(burst_db: tuple[str, datetime], rules_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, base = burst_db
    at = base + timedelta(minutes=30)
    code, out, err = _run(["alerts", "check", "--db", url, "--rules", str(rules_file), "--at", at.isoformat(),
                           "--format", "json"], capsys)
    assert code == 1
    payload = json.loads(out)
    assert payload["schema"] == SCHEMA and payload["at"] == at.isoformat()
    assert set(payload) == {"schema", "at", "rules", "firing", "observations", "problems"}
    firing = {(f["rule_id"], f["member"]): f for f in payload["firing"]}
    assert set(firing) == {("flaky-failures", "flaky"), ("always", None)}
    flaky = firing["flaky-failures", "flaky"]
    assert (flaky["value"], flaky["sample"], flaky["threshold"], flaky["severity"], flaky["verdict"]) == (6.0, 6, 2.0, "critical", "firing")
    assert flaky["start"] == (at - timedelta(hours=1)).isoformat() and flaky["end"] == at.isoformat()
    steady = [o for o in payload["observations"] if o["member"] == "steady"]
    assert steady and steady[0]["verdict"] == "ok"
    [problem] = payload["problems"]
    assert (problem["rule_id"], problem["line"], problem["source"]) == ("broken", BROKEN_LINE, str(rules_file))


def test_check_usage_and_database_errors_exit_2(tmp_path: Path, rules_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["alerts", "check", "--db", str(tmp_path / "missing.sqlite3")], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: SQLite file not found")
    code, _, err = _run(["alerts", "check", "--db", "postgresql://x@127.0.0.1:1/db", "--rules", str(rules_file)], capsys)
    assert code == 2 and "Cannot reach" in err
    code, _, err = _run(["alerts", "check", "--rules", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "rules file" in err and "not found" in err
    code, _, err = _run(["alerts", "check", "--db", "mysql://u@db/x"], capsys)
    assert code == 2 and "unsupported database" in err
    with pytest.raises(SystemExit) as info:
        run_cli(["alerts", "check", "--at", "yesterday-ish"])
    assert info.value.code == 2


def test_check_with_no_usable_rule_exits_2(burst_db: tuple[str, datetime], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nid = \"x\"\nmetric = \"nope\"\n", encoding="utf-8")
    code, _, err = _run(["alerts", "check", "--db", burst_db[0], "--rules", str(rules)], capsys)
    assert code == 2 and "line 1 (rule 'x')" in err and "no rule could be used" in err


def test_rules_init_and_listing(capsys: pytest.CaptureFixture[str], rules_file: Path) -> None:
    code, out, _ = _run(["alerts", "rules"], capsys)
    assert code == 0 and "8 rules from default rules" in out
    assert "agent-failure-spike  critical  failure rate of each agent over 30m is anomalous (up)" in out
    code, out, _ = _run(["alerts", "init"], capsys)
    assert code == 0 and out.strip() == str(rules_path())
    assert rules_path().read_text(encoding="utf-8") == DEFAULT_RULES_TEXT
    code, out, _ = _run(["alerts", "init"], capsys)
    assert "already there" in out
    code, out, err = _run(["alerts", "rules", "--rules", str(rules_file)], capsys)
    assert code == 0 and "2 rules from" in out and "flaky-failures" in out and f"line {BROKEN_LINE}" in err


def test_backtest_command(burst_db: tuple[str, datetime], rules_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, base = burst_db
    code, out, err = _run(["alerts", "test", "flaky-failures", "--db", url, "--rules", str(rules_file), "--days", "2"],
                          capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("flaky-failures would have fired 1 time over the last 2 days (evaluated every 15m")
    assert re.search(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  flaky: failures [3-6] above 2$", lines[1])
    assert "and 1 more inside its cooldown of 3h" in out
    code, _, err = _run(["alerts", "test", "nope", "--db", url, "--rules", str(rules_file)], capsys)
    assert code == 2 and "no rule 'nope'" in err and "flaky-failures, always" in err
    code, _, err = _run(["alerts", "test", "broken", "--db", url, "--rules", str(rules_file)], capsys)
    assert code == 2 and "rule 'broken' cannot be used" in err and f"line {BROKEN_LINE}" in err


def test_silence_and_unsilence_edit_the_windows_state(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["alerts", "silence", "traffic-drop", "--for", "2h"], capsys)
    assert code == 0 and "traffic-drop silenced until" in out and "(2h)" in out
    until = load_state(alerts_state_path()).silenced_until["traffic-drop"]
    assert timedelta(minutes=119) < until - datetime.now(until.tzinfo) <= timedelta(hours=2)
    code, out, _ = _run(["alerts", "rules"], capsys)
    assert "[silenced until" in out
    code, out, _ = _run(["alerts", "unsilence", "traffic-drop"], capsys)
    assert code == 0 and "no longer silenced" in out and load_state(alerts_state_path()).silenced_until == {}
    code, out, _ = _run(["alerts", "unsilence", "traffic-drop"], capsys)
    assert "was not silenced" in out
    code, _, err = _run(["alerts", "silence", "no-such-rule", "--for", "1h"], capsys)
    assert code == 2 and "no rule 'no-such-rule'" in err
    with pytest.raises(SystemExit):
        run_cli(["alerts", "silence", "traffic-drop", "--for", "soon"])


# -- watch -------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Hook", (_Hook,), {"received": received}))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/hooks/{TOKEN}", received
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_watch_posts_transitions_and_survives_a_restart(burst_db: tuple[str, datetime], rules_file: Path,
                                                        webhook: tuple[str, list[dict[str, Any]]],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = burst_db
    hook_url, received = webhook
    state = tmp_path / "watch-state.json"
    args = ["alerts", "watch", "--db", url, "--rules", str(rules_file), "--interval", "0.1", "--count", "2",
            "--state", str(state)]
    code, out, err = _run([*args, "--webhook", hook_url], capsys)
    assert code == 0, err
    fired = [line for line in out.splitlines() if "FIRED" in line]
    assert len(fired) == 1 and "always: runs" in fired[0]  # once, though evaluated twice
    assert [(r["kind"], r["rule_id"]) for r in received] == [("fired", "always")]
    assert received[0]["text"].startswith(":red_circle: FIRED always: runs ")
    assert "webhook: fired always delivered to http://127.0.0.1:" in out
    assert f"line {BROKEN_LINE}" in err and err.count("(rule 'broken')") == 1
    assert TOKEN not in out + err
    assert [a.rule_id for a in load_state(state).firing] == ["always"]

    # Restarted with the webhook from the environment: still firing, so nothing new.
    monkeypatch.setenv("STUDIO_ANALYTICS_ALERT_WEBHOOK", hook_url)
    code, out, err = _run(args, capsys)
    assert code == 0 and "FIRED" not in out and len(received) == 1
    assert "webhook http://127.0.0.1:" in out and TOKEN not in out + err

    # The rule taken out of the file: resolved, and told.
    rules_file.write_text(BURST_RULES, encoding="utf-8")
    code, out, err = _run(args, capsys)
    assert code == 0 and "RESOLVED  info      always: the rule is no longer in the rules" in out
    assert [(r["kind"], r["rule_id"]) for r in received] == [("fired", "always"), ("resolved", "always")]
    assert load_state(state).firing == ()
    assert not alerts_state_path().exists()  # the window's state file is left alone


def test_watch_keeps_trying_a_database_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    code, out, err = _run(["alerts", "watch", "--db", str(tmp_path / "gone.sqlite3"), "--interval", "0.1",
                           "--count", "3", "--state", str(state)], capsys)
    assert code == 0
    assert err.count("database unavailable") == 1 and "SQLite file not found" in err
    assert load_state(state).firing == ()


def test_watch_rejects_a_bad_webhook_without_showing_it(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _run(["alerts", "watch", "--webhook", f"ftp://host/{TOKEN}", "--count", "1"], capsys)
    assert code == 2 and "bad webhook URL in --webhook (ftp://host/…)" in err and TOKEN not in err
    monkeypatch.setenv("STUDIO_ANALYTICS_ALERT_WEBHOOK", f"nonsense-{TOKEN}")
    code, _, err = _run(["alerts", "watch", "--count", "1"], capsys)
    assert code == 2 and "$STUDIO_ANALYTICS_ALERT_WEBHOOK" in err and TOKEN not in err


def _read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while not any(text in line for line in lines):
        line = proc.stdout.readline()
        assert line, f"the watch ended before printing {text!r}: {proc.stderr.read() if proc.stderr else ''}"
        lines.append(line)
    return lines


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_watch_rereads_its_rules_takes_silences_and_stops_on_sigterm(
        burst_db: tuple[str, datetime], rules_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = burst_db
    state = tmp_path / "state.json"
    exe = Path(sys.executable).with_name("studio-analytics")
    proc = subprocess.Popen([str(exe), "alerts", "watch", "--db", url, "--rules", str(rules_file), "--interval", "0.2",
                             "--state", str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _read_until(proc, "FIRED")
        # Silenced in the watch's own state file while it runs, then the rule taken out:
        # it resolves, quietly.
        assert run_cli(["alerts", "silence", "always", "--for", "1h", "--rules", str(rules_file),
                        "--state", str(state)]) == 0
        rules_file.write_text(BURST_RULES, encoding="utf-8")
        lines = _read_until(proc, "RESOLVED")
        assert any(line.startswith("rules: 1 enabled of 1 from") for line in lines)
        assert "always: the rule is no longer in the rules  [not notified" in lines[-1]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    saved = load_state(state)
    assert saved.firing == () and "always" in saved.silenced_until
    assert [(t.kind.value, t.notified) for t in saved.history] == [("fired", True), ("resolved", False)]


@pytest.mark.postgres
def test_check_on_an_agent_studio_database(agent_studio_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Rules that need tables Agent Studio lacks are problems naming the rule; the others run."""
    code, out, err = _run(["alerts", "check", "--db", agent_studio_url, "--format", "json"], capsys)
    assert code in (0, 1), err
    payload = json.loads(out)
    unusable = {p["rule_id"] for p in payload["problems"]}
    assert {"model-errors", "cost-spike"} <= unusable
    assert "problem: default rules (no rules file yet), line " in err and "(rule 'model-errors'): this database has no model calls" in err
    measured = {o["rule_id"] for o in payload["observations"]}
    assert {"failure-rate-high", "traffic-drop", "stuck-runs"} <= measured and not measured & unusable
