"""The alert state survives a restart: firing alerts, cooldowns, silences and history are
saved atomically and privately, and a corrupt file is set aside instead of stopping alerts."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from studio_analytics.alerts.results import Verdict
from studio_analytics.alerts.state_file import (
    StateFile,
    alerts_state_path,
    load_state,
    save_state,
    silence_rule,
    unsilence_rule,
)
from studio_analytics.alerts.transitions import AlertBook, AlertState
from tests.alerts.alert_data import T0, evaluation, minutes, obs, spike_rule, stuck_rule

FIRING, OK = Verdict.FIRING, Verdict.OK


def _book_with_history() -> AlertBook:
    rule, stuck = spike_rule(), stuck_rule()
    book = AlertBook()
    book.apply(evaluation(T0, [rule, stuck], [obs(rule.id, "WebAgent", FIRING, T0), obs(rule.id, "MathAgent", FIRING, T0),
                                              obs(stuck.id, None, FIRING, T0, 3.0)]))
    at = T0 + minutes(15)
    book.apply(evaluation(at, [rule, stuck], [obs(rule.id, "WebAgent", FIRING, at), obs(rule.id, "MathAgent", OK, at),
                                              obs(stuck.id, None, FIRING, at, 2.0)]))
    book.silence(stuck.id, T0 + minutes(600))
    return book


def test_default_path_is_in_the_data_folder(isolated_home: str) -> None:
    data = Path(isolated_home) / "data"
    assert alerts_state_path() == data / "alerts-state.json"
    assert alerts_state_path(watch=True) == data / "alerts-watch-state.json"
    assert alerts_state_path(str(data / "metrics.sqlite3")) == data / "alerts-state.json"  # the default database


def test_each_database_has_its_own_state(isolated_home: str, tmp_path: Path) -> None:
    """Switching the window to another database neither resolves nor mixes alerts."""
    a, b = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    paths = {alerts_state_path(f"sqlite:///{a}"), alerts_state_path(str(b)), alerts_state_path(),
             alerts_state_path("postgresql://me:secret@db.example:5432/metrics"),
             alerts_state_path("postgresql://me@db.example:5432/other")}
    assert len(paths) == 5
    assert alerts_state_path(f"sqlite:///{a}") == alerts_state_path(str(a))  # the same file, however named
    # the password is not what names a database (and never lands in a file name)
    assert alerts_state_path("postgresql://me:secret@db.example:5432/metrics") == \
        alerts_state_path("postgresql://me:other@db.example:5432/metrics")
    assert all("secret" not in p.name for p in paths)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    book = _book_with_history()
    path = tmp_path / "sub" / "alerts-state.json"
    save_state(path, book.snapshot())
    assert load_state(path) == book.snapshot()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "studio-analytics/alerts-state" and data["version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["alerts-state.json"]  # no temporary file left


def test_cooldown_and_silence_are_honoured_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alerts-state.json"
    rule, stuck = spike_rule(), stuck_rule()
    save_state(path, _book_with_history().snapshot())

    restarted = AlertBook(load_state(path))
    at = T0 + minutes(30)
    # WebAgent was firing before the restart: no repeat. MathAgent fires again inside the
    # cooldown of its FIRED at T0: recorded, not notified. The stuck runs' rule is still
    # silenced: its resolution is quiet.
    out = restarted.apply(evaluation(at, [rule, stuck], [obs(rule.id, "WebAgent", FIRING, at),
                                                          obs(rule.id, "MathAgent", FIRING, at),
                                                          obs(stuck.id, None, OK, at, 0.0)]))
    assert [(t.kind.value, t.rule_id, t.member, t.notified) for t in out] == [
        ("resolved", stuck.id, None, False), ("fired", rule.id, "MathAgent", False)]
    assert restarted.is_silenced(stuck.id, at)
    assert len(restarted.snapshot().history) == len(load_state(path).history) + 2


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "none.json") == AlertState()
    assert not (tmp_path / "none.json").exists()


@pytest.mark.parametrize("content", [b"{not json", b'{"format": "other"}', b"\xff\xfe",
                                     b'{"format": "studio-analytics/alerts-state", "version": 99}',
                                     b'{"format": "studio-analytics/alerts-state", "version": 1, "firing": [{}]}'],
                         ids=["syntax", "other-file", "not-utf8", "newer-version", "bad-alert"])
def test_corrupt_file_is_set_aside_with_a_warning(content: bytes, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "alerts-state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="studio_analytics"):
        assert load_state(path, set_aside=False) == AlertState()  # a reader leaves it
        assert path.read_bytes() == content
        assert load_state(path) == AlertState()
    assert not path.exists() and (tmp_path / "alerts-state.json.bad").read_bytes() == content
    assert "moved it to alerts-state.json.bad" in caplog.text
    save_state(path, _book_with_history().snapshot())  # and the next save starts afresh
    assert load_state(path).firing


def test_a_failed_save_names_the_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()  # a folder where the file should go: the rename fails, even for root
    with pytest.raises(OSError) as info:
        save_state(taken, _book_with_history().snapshot())
    assert info.value.filename == str(taken)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and not any(taken.iterdir())


def test_a_failed_save_leaves_the_previous_state(tmp_path: Path) -> None:
    path = tmp_path / "alerts-state.json"
    save_state(path, AlertState())
    before = path.read_bytes()
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OSError) as info:
            save_state(path, _book_with_history().snapshot())
        assert info.value.filename == str(path)
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_bytes() == before


def test_silence_and_unsilence_edit_the_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts-state.json"
    save_state(path, _book_with_history().snapshot())
    firing = load_state(path).firing
    silence_rule(path, "agent-failure-spike", T0 + minutes(120))
    state = load_state(path)
    assert state.silenced_until["agent-failure-spike"] == T0 + minutes(120) and state.firing == firing
    assert AlertBook(state).is_silenced("agent-failure-spike", T0 + minutes(60))
    state, had = unsilence_rule(path, "agent-failure-spike")
    assert had and "agent-failure-spike" not in load_state(path).silenced_until
    assert unsilence_rule(path, "agent-failure-spike")[1] is False


def test_state_file_keeps_silences_written_by_another_program(tmp_path: Path) -> None:
    path = tmp_path / "alerts-state.json"
    mine = StateFile(path)
    book = _book_with_history()
    book.unsilence("stuck-runs")
    assert mine.load() == AlertState() and not mine.changed_by_others()
    mine.save(book)
    assert not mine.changed_by_others()
    silence_rule(path, "agent-failure-spike", T0 + minutes(90))  # `alerts silence` meanwhile
    assert mine.changed_by_others()
    mine.save(book)  # takes the silence instead of writing over it
    assert book.is_silenced("agent-failure-spike", T0) and not book.is_silenced("stuck-runs", T0)
    assert load_state(path).silenced_until == {"agent-failure-spike": T0 + minutes(90)}
    assert load_state(path).firing == book.snapshot().firing
    unsilence_rule(path, "agent-failure-spike")
    assert mine.take_silences(book) and not book.is_silenced("agent-failure-spike", T0)
    assert not mine.take_silences(book)
