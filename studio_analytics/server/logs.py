"""The server's log lines on stderr, with secrets taken out before anything is written.

Uvicorn's access log prints each request's path with its query string; a client that
puts a token there (``?token=...``) must not get it into the log. So every record of
Uvicorn and of this package passes :class:`RedactingFilter` on the way out: query values
of parameters the API does not take become ``***``, and the token itself is masked
wherever it appears (raw or percent-encoded).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

#: Query parameters whose values are shown in the access log.
SHOWN_PARAMS = frozenset({"start_date", "end_date", "days", "limit", "by", "user", "at", "range", "refresh"})
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "studio_analytics")
_QUERY_PAIR = re.compile(r"([?&])([^=&\s\"]*)=([^&\s\"]*)")


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update({secret, quote(secret, safe=""), quote_plus(secret)})
        # Longest first: a form that contains another is masked whole.
        self._secrets = sorted(forms, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is dropped, not leaked
            return False
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg, record.args = clean, None
        return True

    def redact(self, text: str) -> str:
        text = _QUERY_PAIR.sub(lambda m: m.group(0) if m.group(2) in SHOWN_PARAMS else f"{m.group(1)}{m.group(2)}=***",
                               text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def log_to_stderr(secrets: Iterable[str], level: int = logging.INFO) -> logging.Handler:
    """One stderr handler for Uvicorn's and the package's loggers, redacting; returns it
    so the caller can remove it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    for name in ("uvicorn.error", "uvicorn.access", "studio_analytics"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return handler


def stop_logging(handler: logging.Handler) -> None:
    for name in ("uvicorn.error", "uvicorn.access", "studio_analytics"):
        logging.getLogger(name).removeHandler(handler)
