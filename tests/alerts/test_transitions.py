"""The alert book: FIRED and RESOLVED transitions, cooldown, silence, rules that fail,
vanish or are disabled, and the history's cap."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from studio_analytics.alerts.results import Verdict
from studio_analytics.alerts.rules import RuleProblem
from studio_analytics.alerts.transitions import AlertBook, Transition, TransitionKind
from tests.alerts.alert_data import BASELINE, T0, evaluation, minutes, obs, spike_rule, stuck_rule

FIRING, OK = Verdict.FIRING, Verdict.OK


def test_fired_then_resolved_with_everything_the_window_shows() -> None:
    rule = spike_rule()
    book = AlertBook()
    fired = book.apply(evaluation(T0, [rule], [obs(rule.id, "WebAgent", FIRING, T0),
                                               obs(rule.id, "MathAgent", OK, T0, 0.05)]))
    assert [(t.kind, t.member, t.notified) for t in fired] == [(TransitionKind.FIRED, "WebAgent", True)]
    t = fired[0]
    assert (t.rule_title, t.severity, t.value, t.baseline, t.threshold) == (rule.name, "critical", 0.42, BASELINE, None)
    assert (t.start, t.end, t.at, t.scope_kind, t.subject) == (T0 - minutes(30), T0, T0, "agent", "executions")
    assert [a.key for a in book.snapshot().firing] == [("agent-failure-spike", "WebAgent")]

    # Still firing: no transition, the alert keeps its start and takes the new figure.
    at = T0 + minutes(15)
    assert book.apply(evaluation(at, [rule], [obs(rule.id, "WebAgent", FIRING, at, 0.5)])) == []
    alert = book.snapshot().firing[0]
    assert (alert.since, alert.at, alert.value) == (T0, at, 0.5)

    at = T0 + minutes(30)
    resolved = book.apply(evaluation(at, [rule], [obs(rule.id, "WebAgent", OK, at, 0.05)]))
    assert [(t.kind, t.member, t.notified, t.value) for t in resolved] == [(TransitionKind.RESOLVED, "WebAgent", True, 0.05)]
    assert "within the usual" in resolved[0].reason
    assert book.snapshot().firing == ()
    assert [t.kind for t in book.snapshot().history] == [TransitionKind.FIRED, TransitionKind.RESOLVED]


def test_every_verdict_but_firing_resolves_and_so_does_a_missing_member() -> None:
    rule = spike_rule()
    for verdict in (Verdict.OK, Verdict.INSUFFICIENT, Verdict.LEARNING, None):
        book = AlertBook()
        book.apply(evaluation(T0, [rule], [obs(rule.id, "WebAgent", FIRING, T0)]))
        at = T0 + minutes(15)
        later = [] if verdict is None else [obs(rule.id, "WebAgent", verdict, at)]
        out = book.apply(evaluation(at, [rule], later))
        assert [(t.kind, t.member) for t in out] == [(TransitionKind.RESOLVED, "WebAgent")], verdict
        if verdict is None:
            assert "WebAgent no longer appears" in out[0].reason and out[0].end == at


def test_members_are_separate_alerts() -> None:
    rule = spike_rule()
    book = AlertBook()
    out = book.apply(evaluation(T0, [rule], [obs(rule.id, "A", FIRING, T0), obs(rule.id, "B", FIRING, T0)]))
    assert [t.member for t in out] == ["A", "B"]
    at = T0 + minutes(15)
    out = book.apply(evaluation(at, [rule], [obs(rule.id, "A", OK, at), obs(rule.id, "B", FIRING, at)]))
    assert [(t.kind, t.member) for t in out] == [(TransitionKind.RESOLVED, "A")]
    assert [a.member for a in book.firing] == ["B"]


def test_cooldown_records_a_refire_without_notifying_it() -> None:
    rule = spike_rule(cooldown_s=7200)
    book = AlertBook()
    steps = [(0, FIRING), (15, OK), (30, FIRING), (45, OK), (130, FIRING), (140, OK)]
    seen = []
    for minute, verdict in steps:
        at = T0 + minutes(minute)
        seen += [(minute, t.kind.value, t.notified)
                 for t in book.apply(evaluation(at, [rule], [obs(rule.id, "WebAgent", verdict, at)]))]
    # 30: inside 2h of the FIRED notified at 0, and its RESOLVED at 45 is quiet too;
    # 130: 2h10 after the last *notified* FIRED, so it is told again.
    assert seen == [(0, "fired", True), (15, "resolved", True), (30, "fired", False), (45, "resolved", False),
                    (130, "fired", True), (140, "resolved", True)]
    assert book.snapshot().last_notified == {("agent-failure-spike", "WebAgent"): T0 + minutes(130)}


def test_cooldown_is_per_member() -> None:
    rule = spike_rule()
    book = AlertBook()
    book.apply(evaluation(T0, [rule], [obs(rule.id, "A", FIRING, T0)]))
    at = T0 + minutes(5)
    out = book.apply(evaluation(at, [rule], [obs(rule.id, "A", FIRING, at), obs(rule.id, "B", FIRING, at)]))
    assert [(t.member, t.notified) for t in out] == [("B", True)]


def test_silenced_rule_records_without_notifying_until_the_silence_ends() -> None:
    rule, other = spike_rule(), stuck_rule()
    book = AlertBook()
    book.silence(rule.id, T0 + minutes(60))
    assert book.is_silenced(rule.id, T0) and not book.is_silenced(rule.id, T0 + minutes(60))
    assert not book.is_silenced(other.id, T0)
    out = book.apply(evaluation(T0, [rule, other], [obs(rule.id, "A", FIRING, T0), obs(other.id, None, FIRING, T0)]))
    assert [(t.rule_id, t.notified) for t in out] == [(rule.id, False), (other.id, True)]
    # Its quiet FIRED starts no cooldown: after the silence, a new FIRED is told.
    at = T0 + minutes(70)
    out = book.apply(evaluation(at, [rule, other], [obs(rule.id, "A", OK, at), obs(other.id, None, FIRING, at)]))
    assert [(t.kind.value, t.notified) for t in out] == [("resolved", False)]  # nobody heard it fire
    at = T0 + minutes(80)
    out = book.apply(evaluation(at, [rule, other], [obs(rule.id, "A", FIRING, at), obs(other.id, None, FIRING, at)]))
    assert [(t.kind.value, t.notified) for t in out] == [("fired", True)]
    assert book.snapshot().silenced_until == {}  # the expired silence is forgotten


def test_unsilence_and_a_resolution_during_silence() -> None:
    rule = spike_rule()
    book = AlertBook()
    book.apply(evaluation(T0, [rule], [obs(rule.id, "A", FIRING, T0)]))
    book.silence(rule.id, datetime(2030, 1, 1))  # naive: taken as UTC
    assert book.snapshot().silenced_until[rule.id] == datetime(2030, 1, 1, tzinfo=UTC)
    at = T0 + minutes(10)
    out = book.apply(evaluation(at, [rule], [obs(rule.id, "A", OK, at)]))
    assert [(t.kind.value, t.notified) for t in out] == [("resolved", False)]
    book.unsilence(rule.id)
    book.unsilence("never-silenced")
    assert not book.is_silenced(rule.id, at)


def test_a_rule_that_failed_keeps_its_alerts() -> None:
    rule = spike_rule()
    book = AlertBook()
    book.apply(evaluation(T0, [rule], [obs(rule.id, "A", FIRING, T0)]))
    at = T0 + minutes(15)
    problem = RuleProblem("this database has no model calls", 3, rule.id)
    assert book.apply(evaluation(at, [rule], [], [problem])) == []
    assert [a.member for a in book.firing] == ["A"]
    # A failing rule's FIRING observation (from part of it) does not fire either.
    book2 = AlertBook()
    assert book2.apply(evaluation(at, [rule], [obs(rule.id, "A", FIRING, at)], [problem])) == []


def test_a_rule_removed_or_disabled_resolves_its_alerts() -> None:
    rule, other = spike_rule(), stuck_rule()
    book = AlertBook()
    book.apply(evaluation(T0, [rule, other], [obs(rule.id, "A", FIRING, T0), obs(other.id, None, FIRING, T0)]))
    at = T0 + minutes(15)
    out = book.apply(evaluation(at, [replace(rule, enabled=False)], [obs(rule.id, "A", FIRING, at)]))
    assert sorted((t.rule_id, t.kind.value) for t in out) == [(rule.id, "resolved"), (other.id, "resolved")]
    reasons = {t.rule_id: t.reason for t in out}
    assert reasons == {rule.id: "the rule was disabled", other.id: "the rule is no longer in the rules"}
    assert book.firing == ()


def test_history_is_capped_newest_last() -> None:
    rule = spike_rule(cooldown_s=0)
    book = AlertBook(history_limit=5)
    for i in range(8):
        at = T0 + minutes(i)
        book.apply(evaluation(at, [rule], [obs(rule.id, "A", FIRING if i % 2 == 0 else OK, at)]))
    history = book.snapshot().history
    assert len(history) == 5 and history[-1].at == T0 + minutes(7) and history[0].at == T0 + minutes(3)
    # a book made from a longer history keeps its newest part
    assert len(AlertBook(book.snapshot(), history_limit=2).snapshot().history) == 2


def test_transition_json_round_trip_and_slack_text() -> None:
    rule = spike_rule()
    [t] = AlertBook().apply(evaluation(T0, [rule], [obs(rule.id, "WebAgent", FIRING, T0)]))
    data = t.to_json()
    assert data["text"] == (":red_circle: FIRED agent-failure-spike (WebAgent): failure rate 0.42 above the usual "
                            "0.03–0.12 (median 0.06)")
    assert data["kind"] == "fired" and data["at"] == "2026-11-02T09:00:00+00:00"
    assert data["baseline"] == {"median": 0.06, "low": 0.03, "high": 0.12, "mad": 0.02, "samples": 12}
    assert Transition.from_json(data) == t
    resolved = replace(t, kind=TransitionKind.RESOLVED, member=None, value=float("nan"), baseline=None)
    data = resolved.to_json()
    assert data["text"].startswith(":large_green_circle: RESOLVED agent-failure-spike: ")
    assert data["value"] is None  # JSON has no NaN
    assert Transition.from_json(data) == replace(resolved, value=None)
