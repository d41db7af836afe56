"""The bearer token: from the ``Authorization`` header, or from the session cookie that the
login page sets for browsers (which cannot add a header when they navigate).

The cookie holds an HMAC of the token, not the token: a stolen cookie works on this
server only as long as the token does, and never shows the token itself. Both are
compared in constant time. Nothing here logs a header, a cookie or a form.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from urllib.parse import parse_qs

COOKIE = "studio_analytics_session"
LOGIN_BODY_LIMIT = 4096
#: The sign-in and docs pages: their own inline style, no script, forms to this origin.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


class TokenCheck:
    def __init__(self, token: str | None) -> None:
        self.enabled = token is not None
        self._header = f"Bearer {token}".encode() if token else b""
        self._token = (token or "").encode()
        self.cookie_value = hmac.new(self._token, b"studio-analytics serve session", hashlib.sha256).hexdigest() \
            if token else ""

    def allows(self, authorization: str | None, cookie: str | None) -> bool:
        if not self.enabled:
            return True
        if authorization is not None:
            # Headers arrive decoded as latin-1: encoding them back gives the bytes sent.
            given = authorization.encode("latin-1", "replace")
            if given[:7].lower() == b"bearer ":
                given = b"Bearer " + given[7:].strip()
            if hmac.compare_digest(given, self._header):
                return True
        return cookie is not None and hmac.compare_digest(cookie.encode("latin-1", "replace"),
                                                          self.cookie_value.encode())

    def token_matches(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.encode("utf-8", "replace"), self._token)


def cookie_from_header(header: str | None) -> str | None:
    """Our session cookie's value from a ``Cookie`` header (others ignored)."""
    if not header:
        return None
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def login_form(body: bytes) -> tuple[str, str]:
    """``token`` and ``next`` of an urlencoded login form (empty when missing)."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10)
    return (fields.get("token") or [""])[0], (fields.get("next") or [""])[0]


def safe_next(value: str, default: str, prefix: str) -> str:
    """Where to go after logging in: a path of this API only (never another site)."""
    if value.startswith(prefix + "/") and "//" not in value and "\\" not in value and "\n" not in value:
        return value
    return default


def login_page(action: str, next_path: str, message: str = "") -> str:
    """A small page of our own: no script, no external URL."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>studio-analytics · sign in</title>
<style>
body {{ font: 16px system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh;
       background: #f4f5f7; color: #1d2430; }}
form {{ background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: min(22rem, 90vw); }}
h1 {{ font-size: 1.2rem; margin: 0 0 1rem; }}
label {{ display: block; margin-bottom: .4rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }}
button {{ margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; }}
.error {{ color: #b00020; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #161a20; color: #e6e9ee; }} form {{ background: #222831; }} .error {{ color: #ff7a8a; }}
}}
</style></head>
<body><form method="post" action="{html.escape(action)}">
<h1>studio-analytics</h1>{note}
<label for="token">Access token</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{html.escape(next_path)}">
<button type="submit">Sign in</button>
</form></body></html>
"""
