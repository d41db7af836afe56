"""Posting alert transitions to a webhook (Slack, Discord's ``/slack`` endpoint, anything
that takes JSON): in order, retried with backoff, never raising, never showing the URL.

Webhook URLs are credentials — Slack's and Discord's carry their token in the path — so
only :func:`redact_url`'s ``scheme://host/…`` ever reaches a log line, a message or an
outcome, and error texts are built here rather than taken from exceptions that might
quote the URL.

:func:`post_json` makes one delivery: each request is time-bounded, failures that may
pass (no connection, a timeout, 5xx, 408, 429) are retried with exponential backoff
within a total time budget, and the result is a :class:`DeliveryOutcome`, whatever
happened. :class:`WebhookSender` queues deliveries and sends them one after the other on
its own thread, so a slow endpoint never holds up the evaluation that produced them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from studio_analytics import __version__
from studio_analytics.alerts.transitions import Transition

log = logging.getLogger(__name__)

ENV_WEBHOOK = "STUDIO_ANALYTICS_ALERT_WEBHOOK"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF_S = 1.0
DEFAULT_TOTAL_S = 60.0
MAX_QUEUE = 1000
#: answers worth asking again: the endpoint may be back in a moment
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def redact_url(url: str) -> str:
    """``url`` without what may be secret: ``https://hooks.slack.com/…`` keeps the scheme,
    host and port, and hides the user info, path, query and fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<webhook URL>"
    if not parts.scheme or not host:
        return "<webhook URL>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    hidden = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc) else ""
    return f"{parts.scheme}://{netloc}{hidden}"


def webhook_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a webhook, or None (the message never quotes it)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "it is not a URL"
    if parts.scheme not in ("http", "https"):
        return "it is not an http:// or https:// URL"
    if not parts.hostname:
        return "it names no host"
    return None


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    ok: bool
    status: int | None  # the last HTTP status, None when no answer came
    error: str | None  # why it failed, in words (never the URL)
    attempts: int
    seconds: float
    target: str  # redact_url of the endpoint

    def describe(self) -> str:
        if self.ok:
            return f"delivered to {self.target} (HTTP {self.status})"
        tries = f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        return f"not delivered to {self.target}: {self.error} ({tries}, {self.seconds:.1f}s)"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is answered as a failure: following it would either drop
    the body (301/302 become GET) or send the alert somewhere nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _attempt(url: str, body: bytes, timeout_s: float) -> tuple[int | None, str | None, bool, float | None]:
    """One POST: (status, error, worth retrying, server's Retry-After)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"studio-analytics/{__version__}",
    })
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(65_536)  # let the server finish its answer; it is not used
            return response.status, None, False, None
    except urllib.error.HTTPError as e:
        status = e.code
        retry = status in RETRY_STATUSES
        reason = (e.reason or "").strip() if isinstance(e.reason, str) else ""
        what = "redirect not followed" if 300 <= status < 400 else reason or "error"
        return status, f"HTTP {status} {what}".rstrip(), retry, _retry_after(e) if retry else None
    except urllib.error.URLError as e:
        return None, _network_error(e.reason, timeout_s), True, None
    except TimeoutError:
        return None, f"no answer within {timeout_s:g}s", True, None
    except (OSError, http.client.HTTPException) as e:
        return None, _network_error(e, timeout_s), True, None


def _network_error(reason: object, timeout_s: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, OSError):
        return reason.strerror or type(reason).__name__
    if isinstance(reason, http.client.HTTPException):
        return f"bad HTTP answer ({type(reason).__name__})"
    return type(reason).__name__ if not isinstance(reason, str) else reason


def post_json(url: str, payload: dict[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S,
              attempts: int = DEFAULT_ATTEMPTS, backoff_s: float = DEFAULT_BACKOFF_S,
              total_s: float = DEFAULT_TOTAL_S, stop: threading.Event | None = None) -> DeliveryOutcome:
    """POST ``payload`` as JSON to ``url``: up to ``attempts`` tries, waiting ``backoff_s``,
    then twice as long each time, all within ``total_s``: each try's timeout is cut to the
    time left, and no try starts with less than a quarter second left. ``stop`` ends the
    waiting early. Never raises."""
    started = time.monotonic()
    target = redact_url(url)
    status: int | None = None
    error: str | None = None
    tries = 0
    try:
        problem = webhook_url_problem(url)
        if problem:
            return DeliveryOutcome(False, None, f"bad webhook URL: {problem}", 0, 0.0, target)
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        delay = backoff_s
        while True:
            remaining = total_s - (time.monotonic() - started)
            tries += 1
            status, error, retry, retry_after = _attempt(url, body, max(0.1, min(timeout_s, remaining)))
            if error is None:
                return DeliveryOutcome(True, status, None, tries, time.monotonic() - started, target)
            wait = delay if retry_after is None else min(max(delay, retry_after), 300.0)
            remaining = total_s - (time.monotonic() - started)
            if not retry or tries >= attempts or wait + min(timeout_s, 0.25) > remaining:
                break
            log.debug("Webhook %s: %s; trying again in %.1fs", target, error, wait)
            if stop is not None and stop.wait(wait):
                error += "; stopped before the next try"
                break
            if stop is None:
                time.sleep(wait)
            delay *= 2
    except Exception as e:  # noqa: BLE001 - a delivery never raises into the caller
        error = f"unexpected {type(e).__name__}"
    return DeliveryOutcome(False, status, error, tries, time.monotonic() - started, target)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """A transition's delivery, as :class:`WebhookSender` hands it to its callback."""

    transition: Transition
    outcome: DeliveryOutcome


class WebhookSender:
    """Sends transitions to one webhook in the order they were queued, on a thread of its own.

    :meth:`send` never blocks: when :data:`MAX_QUEUE` deliveries are already waiting (the
    endpoint has been down for long), the new one is dropped and counted. Each finished
    delivery goes to ``on_outcome`` (on the sender's thread). :meth:`close` waits a bounded
    time for what is queued and says how much was left."""

    def __init__(self, url: str, *, on_outcome: Callable[[DeliveryReport], None] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, attempts: int = DEFAULT_ATTEMPTS,
                 backoff_s: float = DEFAULT_BACKOFF_S, total_s: float = DEFAULT_TOTAL_S,
                 max_queue: int = MAX_QUEUE) -> None:
        self._url = url
        self.target = redact_url(url)
        self._on_outcome = on_outcome
        self._timeout_s, self._attempts, self._backoff_s, self._total_s = timeout_s, attempts, backoff_s, total_s
        self._queue: queue.Queue[Transition | None] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._closed = False
        self.dropped = 0
        self.abandoned = 0
        self.delivered = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="alerts-webhook", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:  # never the URL, even in a debugger or a traceback's locals
        return f"WebhookSender({self.target})"

    def send(self, transition: Transition) -> bool:
        """Queue ``transition``; False if it was dropped (queue full, or closed)."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait(transition)
        except queue.Full:
            self.dropped += 1
            log.warning("Webhook %s: %d deliveries waiting; dropped the %s of %s", self.target,
                        self._queue.maxsize, transition.kind.value, transition.rule_id)
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 5.0) -> int:
        """Stop after what is queued, waiting at most ``timeout_s``; how many transitions
        were not sent (dropped when the queue was full, or left when time ran out).
        Idempotent."""
        if not self._closed:
            self._closed = True
            # When the queue is full, the thread sees _closed once it is empty.
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        self._thread.join(max(0.0, timeout_s))
        if self._thread.is_alive():
            self._stop.set()  # a retry gives up at its next wait; the rest is skipped
            self._thread.join(DEFAULT_TIMEOUT_S + 1.0)
        return self.dropped + self.abandoned + self._queue.qsize()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._closed:
                    return
                continue
            if item is None:
                return
            if self._stop.is_set():
                self.abandoned += 1  # closing in a hurry
                continue
            outcome = post_json(self._url, item.to_json(), timeout_s=self._timeout_s, attempts=self._attempts,
                                backoff_s=self._backoff_s, total_s=self._total_s, stop=self._stop)
            if outcome.ok:
                self.delivered += 1
            else:
                self.failed += 1
            if self._on_outcome is not None:
                try:
                    self._on_outcome(DeliveryReport(item, outcome))
                except Exception:  # noqa: BLE001 - the caller's bug must not stop deliveries
                    log.exception("Webhook %s: the outcome callback failed", self.target)
