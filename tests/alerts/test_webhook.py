"""Webhook delivery against a real local HTTP server: delivered, retried after a 500,
refused, hanging, redirected; in order; and the URL's token never in a log or an outcome."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from studio_analytics.alerts.results import Verdict
from studio_analytics.alerts.transitions import AlertBook, Transition
from studio_analytics.alerts.webhook import DeliveryReport, WebhookSender, post_json, redact_url
from tests.alerts.alert_data import T0, evaluation, minutes, obs, spike_rule

TOKEN = "XOXB-SECRET-T0KEN"


@dataclass
class Hook:
    """What the server answers (a script of statuses, then 200) and what it received."""

    script: list[int | str] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    hook: Hook

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.hook.lock:
            self.hook.received.append((self.path, json.loads(body)))
            step = self.hook.script.pop(0) if self.hook.script else 200
        if step == "hang":
            self.hook.release.wait(10)  # the server's side waits; the test never sleeps
            return
        self.send_response(int(step))
        if step == 429:
            self.send_header("Retry-After", "0")
        if step == 302:
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ThreadingHTTPServer, Hook]]:
    hook = Hook()
    handler = type("Handler", (_Handler,), {"hook": hook})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, hook
    hook.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def hook(server: tuple[ThreadingHTTPServer, Hook]) -> Hook:
    h = server[1]
    h.script.clear()
    h.received.clear()
    h.release.clear()
    return h


@pytest.fixture
def url(server: tuple[ThreadingHTTPServer, Hook]) -> str:
    return f"http://127.0.0.1:{server[0].server_port}/services/T000/B000/{TOKEN}?x=1"


def _transition(member: str = "WebAgent") -> Transition:
    rule = spike_rule()
    [t] = AlertBook().apply(evaluation(T0, [rule], [obs(rule.id, member, Verdict.FIRING, T0)]))
    return t


FAST = {"backoff_s": 0.02, "timeout_s": 2.0}


def test_delivery_posts_the_transition_json(url: str, hook: Hook) -> None:
    t = _transition()
    outcome = post_json(url, t.to_json(), **FAST)
    assert (outcome.ok, outcome.status, outcome.attempts, outcome.error) == (True, 200, 1, None)
    [(path, body)] = hook.received
    assert path == f"/services/T000/B000/{TOKEN}?x=1"
    assert body == t.to_json() and body["text"].startswith(":red_circle: FIRED agent-failure-spike (WebAgent): ")


def test_a_500_is_retried_until_it_succeeds(url: str, hook: Hook) -> None:
    hook.script[:] = [500, 503]
    outcome = post_json(url, _transition().to_json(), **FAST)
    assert (outcome.ok, outcome.status, outcome.attempts) == (True, 200, 3)
    assert len(hook.received) == 3


def test_a_429_is_retried_and_a_404_is_not(url: str, hook: Hook) -> None:
    hook.script[:] = [429]
    assert post_json(url, {"text": "x"}, **FAST).attempts == 2
    hook.received.clear()
    hook.script[:] = [404]
    outcome = post_json(url, {"text": "x"}, **FAST)
    assert (outcome.ok, outcome.status, outcome.attempts, outcome.error) == (False, 404, 1, "HTTP 404 Not Found")
    assert len(hook.received) == 1


def test_a_redirect_is_a_failure_not_followed(url: str, hook: Hook) -> None:
    hook.script[:] = [302]
    outcome = post_json(url, {"text": "x"}, **FAST)
    assert not outcome.ok and outcome.status == 302 and "redirect not followed" in (outcome.error or "")


def test_failing_for_ever_gives_up_within_the_total_time(url: str, hook: Hook) -> None:
    hook.script[:] = [500] * 50
    outcome = post_json(url, {"text": "x"}, attempts=50, backoff_s=0.05, total_s=0.6, timeout_s=1.0)
    assert not outcome.ok and outcome.status == 500 and outcome.error == "HTTP 500 Internal Server Error"
    assert 2 <= outcome.attempts < 10 and outcome.seconds < 1.5
    assert "after" in outcome.describe() and "http://127.0.0.1:" in outcome.describe()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hook/{TOKEN}"
    with caplog.at_level(logging.DEBUG):
        outcome = post_json(url, {"text": "x"}, attempts=3, backoff_s=0.01)
    assert (outcome.ok, outcome.status, outcome.error, outcome.attempts) == (False, None, "connection refused", 3)
    assert TOKEN not in caplog.text and TOKEN not in outcome.describe() and "connection refused" in caplog.text


def test_a_hanging_server_times_out(url: str, hook: Hook) -> None:
    hook.script[:] = ["hang"]
    outcome = post_json(url, {"text": "x"}, attempts=1, timeout_s=0.3)
    hook.release.set()
    assert (outcome.ok, outcome.error) == (False, "no answer within 0.3s")
    assert outcome.seconds < 2


def test_bad_urls_are_outcomes_not_exceptions() -> None:
    for bad in ("ftp://host/x", "not a url", "http://", f"https://host:99999/{TOKEN}"):
        outcome = post_json(bad, {"text": "x"})
        assert not outcome.ok and outcome.attempts == 0 and (outcome.error or "").startswith("bad webhook URL")
        assert TOKEN not in outcome.describe()


def test_sender_delivers_in_order_and_reports_each(url: str, hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    reports: list[DeliveryReport] = []
    hook.script[:] = [500, 200, 404]  # the first is retried; the second one sent fails for good
    members = [f"agent-{i}" for i in range(5)]
    with caplog.at_level(logging.DEBUG):
        sender = WebhookSender(url, on_outcome=reports.append, backoff_s=0.02)
        for m in members:
            assert sender.send(_transition(m))
        assert sender.close(timeout_s=10) == 0
        assert sender.close() == 0  # idempotent
    assert [body["member"] for _, body in hook.received] == [members[0], members[0], members[1], members[2],
                                                             members[3], members[4]]
    assert [(r.transition.member, r.outcome.ok) for r in reports] == [
        (members[0], True), (members[1], False), (members[2], True), (members[3], True), (members[4], True)]
    assert (sender.delivered, sender.failed, sender.dropped) == (4, 1, 0)
    assert not sender.send(_transition())  # closed
    assert TOKEN not in caplog.text and TOKEN not in repr(sender) and sender.target == f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/…"


def test_sender_close_is_bounded_when_the_endpoint_hangs(url: str, hook: Hook) -> None:
    hook.script[:] = ["hang"] * 3
    sender = WebhookSender(url, timeout_s=0.5, attempts=1, max_queue=2)
    t = _transition()
    results = [sender.send(replace(t, at=T0 + minutes(i))) for i in range(4)]
    # One is being sent, two wait; the fourth finds the queue full (unless the first
    # had not been taken yet, then the third and fourth do).
    assert results[:2] == [True, True] and sender.dropped >= 1
    left = sender.close(timeout_s=0.2)
    hook.release.set()
    assert left >= 2  # the dropped and what was never sent are counted


@pytest.mark.parametrize(("url", "shown"), [
    (f"https://hooks.slack.com/services/T000/B000/{TOKEN}", "https://hooks.slack.com/…"),
    (f"https://discord.com/api/webhooks/123/{TOKEN}/slack", "https://discord.com/…"),
    (f"https://user:{TOKEN}@example.org:8443/", "https://example.org:8443/…"),
    (f"http://[::1]:9000/x?token={TOKEN}", "http://[::1]:9000/…"),
    ("https://example.org", "https://example.org"),
    (f"{TOKEN}", "<webhook URL>"),
    (f"https://host:notaport/{TOKEN}", "<webhook URL>"),
], ids=["slack", "discord", "userinfo", "ipv6-query", "bare-host", "not-a-url", "bad-port"])
def test_redact_url_keeps_only_scheme_and_host(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert TOKEN not in redact_url(url)
