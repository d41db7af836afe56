"""Secret redaction: by key name and by value shape, in the writer thread.

Two kinds of rule, both applied to every text the tracker stores (query, response,
error message, JSON payload strings, names, ids, user agent...):

* **By key name.** A value held under a sensitive key (``SENSITIVE_KEYS``; keys are
  compared lower-cased with ``-``, ``_``, ``.`` and spaces removed, so ``API-Key``,
  ``api_key`` and ``apiKey`` are one name; a key *ending* in one of ``SENSITIVE_SUFFIXES``
  counts too, e.g. ``db_password``, ``github_token``) is replaced by ``"[REDACTED]"``
  whatever its type, in dicts at any depth. The same names are found in text:
  ``password=…``, ``"api_key": "…"`` (JSON inside a string), ``Authorization: Basic …``,
  ``?access_token=…&``.
* **By value shape.** The regexes of the `detect-secrets <https://github.com/Yelp/detect-secrets>`_
  plugins (Yelp; each plugin class's ``denylist``), read from the installed package, so
  upgrading the package (pinned to a minor range in ``pyproject.toml``) brings its new
  shapes; ``OWN_RULES`` adds the shapes it lacks or matches only in part (PEM blocks to
  their END line, credentials in URLs, fine-grained GitHub PATs, npm, Stripe keys of any
  length, bearer tokens...). Fixed-length detect-secrets patterns are extended to the end
  of the token so no tail of a longer key is left. ``tests/tracker/test_secrets.py``
  fails when an upgrade drops a plugin or a shape we rely on.

Cost: each rule carries the literal strings one of which any match must contain
(derived from the regex itself); a text is searched by a rule's regex only when one of
its literals occurs in it, and texts shorter than ``_MIN_LEN`` are not searched at
all, so the usual text costs a few substring tests. The rules are compiled once per
configuration, lazily, in the writer thread (importing detect-secrets takes ~0.2 s).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

log = logging.getLogger("studio_analytics.tracker")

REDACTED = "[REDACTED]"

#: Key names whose value is always redacted (normalised: lower case, no ``-_. ``).
SENSITIVE_KEYS: frozenset[str] = frozenset({
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "secrets", "token", "apikey", "apitoken",
    "accesstoken", "refreshtoken", "idtoken", "authtoken", "bearertoken", "sessiontoken", "securitytoken",
    "clientsecret", "secretkey", "privatekey", "accesskey", "secretaccesskey", "accesskeyid", "sessionkey",
    "authorization", "proxyauthorization", "auth", "cookie", "setcookie", "credential", "credentials",
    "connectionstring", "dsn", "signature", "sig", "xapikey", "xauthtoken", "accountkey", "sharedaccesskey",
    "webhookurl", "privatekeyid", "encryptionkey", "signingkey", "masterkey", "otp", "pin",
})
#: A key ending in one of these is sensitive as well (``db_password``, ``github_token``).
SENSITIVE_SUFFIXES: tuple[str, ...] = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "secretkey", "privatekey",
    "accountkey", "credentials", "credential", "authorization", "connectionstring", "signingkey",
)
#: detect-secrets plugins not used: a public IP is data here (``ip_address``), not a secret.
EXCLUDED_PLUGINS: frozenset[str] = frozenset({"IPPublicDetector"})
#: The plugins whose shapes the tests rely on (an upgrade that drops one fails them).
EXPECTED_PLUGINS: frozenset[str] = frozenset({
    "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "DiscordBotTokenDetector",
    "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector",
    "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector",
    "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector", "TwilioKeyDetector",
})

_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|(?:access|refresh|auth|id|api|session|security|bearer)?[-_]?token"
    r"|api[-_]?key|access[-_]?key(?:[-_]?id)?|secret[-_]?(?:access[-_]?)?key|private[-_]?key|client[-_]?secret"
    r"|authorization|credentials?|cookie|account[-_]?key|signature|sig|dsn|connection[-_]?string"
)
# key (optionally quoted, JSON-escaped quotes too) + separator + the value: a quoted
# string, or an optional auth scheme and one token.
_KEY_VALUE = (
    rf"(?i:(?<![a-z0-9])(?:{_KEY_WORDS})\\?[\"']?[ \t]*(?:=>|:=|=|:)[ \t]*)(?!\[REDACTED\])"
    r"(?P<secret>\"(?:[^\"\\\n]|\\.)*\"|\\\"(?:[^\"\\\n]|\\[^\"])*\\\"|'[^'\n]*'"
    r"|(?i:(?:basic|bearer|digest|token|negotiate|apikey|sharedaccesssignature)[ \t]+)?[^\s\"',;&}\]<>\\]+)"
)

#: Our own rules: (name, regex, group to redact or None for the whole match). Run
#: before detect-secrets' so a key's name stays readable (``password=[REDACTED]``).
OWN_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("pem-private-key-block",
     r"(?s:-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
     r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z))", None),
    ("putty-private-key", r"(?s:PuTTY-User-Key-File-\d:.*?(?:Private-MAC: *[0-9a-f]+|\Z))", None),
    # the whole user:password part (a scanner still flags "user:[REDACTED]@")
    ("url-credentials", r"(?i:\b[a-z][a-z0-9+.-]{1,20}://)(?P<secret>[^\s/?#@:'\"]+:[^\s/?#@'\"]*)@", "secret"),
    # headers whose whole value is secret: to the end of the line (or of the quoted value)
    ("auth-header",
     r"(?i:(?<![a-z0-9])(?:proxy-)?(?:authorization|set-cookie|cookie)\\?[\"']?[ \t]*[:=][ \t]*)"
     r"(?!\[REDACTED\]\s*$)(?P<secret>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s\"'\\][^\n]*)", "secret"),
    ("key-value", _KEY_VALUE, "secret"),
    ("bearer", r"(?i:\b(?:bearer|basic)[ \t]+[A-Za-z0-9._~+/\-]{12,}=*)", None),
    ("openai-anthropic", r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}", None),
    ("github-pat", r"\b(?:github_pat_[A-Za-z0-9_]{22,}|gh[pousr]_[A-Za-z0-9]{30,})", None),
    ("stripe", r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[0-9a-zA-Z]{16,}", None),
    ("aws-key-id", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b", None),
    ("slack-token", r"\bxox[abeoprs]-[A-Za-z0-9\-]{10,}", None),
    ("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}", None),
    ("google-oauth", r"\b(?:ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[0-9A-Za-z_\-]{20,})", None),
    ("npm", r"\bnpm_[A-Za-z0-9]{30,}", None),
    ("pypi", r"\bpypi-[A-Za-z0-9_\-]{50,}", None),
    ("sendgrid", r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", None),
    ("twilio", r"\b(?:AC|SK)[0-9a-fA-F]{32}\b", None),
    ("square", r"\bsq0(?:atp|csp|idp)-[0-9A-Za-z_\-]{20,}", None),
    ("huggingface", r"\bhf_[A-Za-z0-9]{30,}", None),
    ("mailgun", r"\bkey-[0-9a-zA-Z]{32}\b", None),
    ("facebook", r"\bEAA[A-Za-z0-9]{30,}", None),
    ("amazon-mws", r"amzn\.mws\.[0-9a-f\-]{36}", None),
    ("azure-account-key", r"(?i:AccountKey=)[A-Za-z0-9+/=]{20,}", None),
    ("azure-sas", r"(?i:[?&]sig=)[A-Za-z0-9%+/=]{20,}", None),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-+/=]*", None),
    ("telegram-bot", r"\b\d{8,10}:AA[0-9A-Za-z_\-]{30,}", None),
    ("discord-bot", r"\b[MNO][A-Za-z\d_\-]{23,27}\.[A-Za-z\d_\-]{6,7}\.[A-Za-z\d_\-]{27,}", None),
)

_MIN_LEN = 6  # no rule matches fewer characters
_TOKEN_TAIL = "[A-Za-z0-9_+/=-]*"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    regex: re.Pattern[str]
    literals: tuple[str, ...]  # one of them is in every match; () = always search
    lower: bool  # literals are tested against the lower-cased text
    repl: Callable[[re.Match[str]], str] | str  # REDACTED, or keeps the match around its secret group


def normalise_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "").replace(".", "").replace(" ", "")


def _is_sensitive(norm: str) -> bool:
    return norm in SENSITIVE_KEYS or norm.endswith(SENSITIVE_SUFFIXES)


_key_cache: dict[str, bool] = {}


def is_sensitive_key(key: str) -> bool:
    """Whether a value under this dict key is redacted whole (keys recur: cached)."""
    hit = _key_cache.get(key)
    if hit is None:
        hit = _is_sensitive(normalise_key(key[:200]))
        if len(key) <= 200 and len(_key_cache) < 10_000:
            _key_cache[key] = hit
    return hit


class Redactor:
    """Every rule of one configuration, compiled; ``__call__`` redacts one text."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)

    def __call__(self, text: str) -> str:
        if len(text) < _MIN_LEN:
            return text
        lowered: str | None = None
        for rule in self.rules:
            literals = rule.literals
            if literals:
                if rule.lower:
                    if lowered is None:
                        lowered = text.lower()
                    haystack = lowered
                else:
                    haystack = text
                for lit in literals:
                    if lit in haystack:
                        break
                else:
                    continue
            replaced = rule.regex.sub(rule.repl, text)
            if replaced != text:
                text = replaced
                lowered = None
        return text


def _replacer(group: str | None) -> Callable[[re.Match[str]], str] | str:
    if group is None:
        return REDACTED

    def replace(m: re.Match[str]) -> str:
        start, end = m.span(group)
        if start < 0:
            return REDACTED
        whole = m.group(0)
        base = m.start()
        return whole[: start - base] + REDACTED + whole[end - base:]

    return replace


# -- building the rules ---------------------------------------------------------------
def build_redactor(extra: Iterable[re.Pattern[str]] = (), *, defaults: bool = True) -> Redactor:
    rules: list[Rule] = []
    if defaults:
        rules += [_rule(name, re.compile(rx), group) for name, rx, group in OWN_RULES]
        rules += detect_secrets_rules()
    # The configuration's own patterns: always searched (their literals are unknown to us).
    rules += [Rule(f"custom-{i}", p, (), False, REDACTED) for i, p in enumerate(extra)]
    return Redactor(rules)


def detect_secrets_rules() -> list[Rule]:
    """One rule per pattern of every detect-secrets plugin that has a ``denylist``."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except Exception:  # noqa: BLE001 - our own rules still apply
        log.warning("studio-analytics: detect-secrets is not importable; only the built-in secret shapes apply")
        return []
    rules = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        name = plugin.__name__
        if name in EXCLUDED_PLUGINS:
            continue
        for i, pattern in enumerate(getattr(plugin, "denylist", None) or ()):
            source = pattern.pattern
            if isinstance(source, bytes):
                continue
            # Extend each match to the end of its token: a fixed-length pattern
            # (Stripe's 24 characters, SendGrid's 43) would leave a longer key's tail.
            newline = "\n" if pattern.flags & re.VERBOSE else ""
            regex = re.compile(f"(?:{source}{newline}){_TOKEN_TAIL}", pattern.flags)
            rules.append(_rule(f"detect-secrets:{name}:{i}", regex, None))
    return rules


def _rule(name: str, regex: re.Pattern[str], group: str | None) -> Rule:
    found = _required_literals(sre_parse.parse(regex.pattern, regex.flags))
    # Under IGNORECASE anywhere, literal tests run on the lower-cased text: a superset.
    lower = bool(regex.flags & re.IGNORECASE) or "(?i" in regex.pattern
    literals = tuple(sorted({lit.lower() for lit in found} if lower else found)) if found else ()
    return Rule(name, regex, literals, lower, _replacer(group))


def _required_literals(seq: Any) -> set[str] | None:
    """Literal strings one of which every match of this parsed sequence contains (the
    best such set found by a simple walk), or None when none is known."""
    best: set[str] | None = None
    run: list[str] = []

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if candidate and all(candidate) and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    for op, av in seq:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(av))
            continue
        if run:
            consider({"".join(run)})
            run = []
        if name == "SUBPATTERN":
            consider(_required_literals(av[-1]))
        elif name == "BRANCH":
            options = [_required_literals(alt) for alt in av[1]]
            consider(set().union(*options) if options and all(options) else None)  # type: ignore[arg-type]
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            consider(_required_literals(av[2]))
    if run:
        consider({"".join(run)})
    return best


def redactor_for(cfg: Any) -> Redactor:
    """The configuration's redactor, built at first use (in the writer thread) and kept."""
    cache = cfg.compiled
    redactor = cache.get("redactor")
    if redactor is None:
        redactor = cache["redactor"] = build_redactor(cfg.redact, defaults=cfg.redact_defaults)
    return redactor  # type: ignore[no-any-return]
