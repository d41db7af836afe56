"""Secrets never reach the database or the spool: real-shaped (fake) secrets through every
field of the real tracker, the stored text checked by a public scanner (trufflehog3's own
rules, a different rule set from the detect-secrets one we redact with) and by bytes."""

from __future__ import annotations

import base64
import json
import random
import shutil
import sqlite3
import string
import subprocess
import sys
from pathlib import Path

import pytest

from studio_analytics import tracker
from studio_analytics.tracker.payload import clean_json, clean_text
from studio_analytics.tracker.redaction import EXPECTED_PLUGINS, REDACTED, detect_secrets_rules
from studio_analytics.tracker.settings import build_config
from tests.tracker.conftest import configure_fast

_rng = random.Random(20261202)
_ALNUM = string.ascii_letters + string.digits


def _r(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _hex(n: int) -> str:
    return _r(n, "0123456789abcdef")


def _b64(n: int) -> str:
    return _r(n, _ALNUM + "+/")


def _pem(kind: str) -> str:
    body = "\n".join(_b64(64) for _ in range(6))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def secret_samples() -> dict[str, str]:
    """Name -> a secret shaped like the real thing (random, so obviously not real)."""
    basic = base64.b64encode(f"admin:{_r(14)}".encode()).decode()
    return {
        "openai-project": "sk-proj-" + _r(48, _ALNUM + "_-"),
        "openai-legacy": "sk-" + _r(20) + "T3BlbkFJ" + _r(20),
        "anthropic": "sk-ant-api03-" + _r(93, _ALNUM + "_-") + "AA",
        "github-classic": "ghp_" + _r(36),
        "github-oauth": "gho_" + _r(36),
        "github-fine-grained": "github_pat_" + _r(22) + "_" + _r(59),
        "gitlab": "glpat-" + _r(20, _ALNUM + "_-"),
        "stripe-live": "sk_live_" + _r(99),
        "stripe-restricted": "rk_live_" + _r(99),
        "stripe-test": "sk_test_" + _r(24),
        "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + _r(60, _ALNUM + "_-") + "." + _r(43, _ALNUM + "_-"),
        "pem-rsa": _pem("RSA "),
        "pem-pkcs8": _pem(""),
        "pem-openssh": _pem("OPENSSH "),
        "pem-ec": _pem("EC "),
        "postgres-url": f"postgres://app_user:{_r(18)}@db.internal.example:5432/prod",
        "https-url": f"https://deploy:{_r(16)}@git.example.com/org/repo.git",
        "mysql-url": f"mysql://root:{_r(12)}!x@10.0.0.5/db",
        "basic-header": f"Authorization: Basic {basic}",
        "bearer-header": f"Authorization: Bearer {_r(40, _ALNUM + '._-')}",
        "access-token-query": f"https://api.example.com/v1/me?access_token={_r(32)}&fmt=json",
        "client-secret": f"client_id=abc&client_secret={_r(32)}&grant_type=client_credentials",
        "aws-key-id": "AKIA" + _r(16, string.ascii_uppercase + string.digits),
        "aws-session-key-id": "ASIA" + _r(16, string.ascii_uppercase + string.digits),
        "aws-secret": f"aws_secret_access_key = {_b64(40)}",
        "aws-secret-env": f'AWS_SECRET_ACCESS_KEY="{_b64(40)}"',
        "slack-webhook": f"https://hooks.slack.com/services/T{_r(8).upper()}/B{_r(10).upper()}/{_r(24)}",
        "slack-bot": f"xoxb-{_rng.randrange(10**11, 10**12)}-{_rng.randrange(10**12, 10**13)}-{_r(24)}",
        "slack-user": f"xoxp-{_rng.randrange(10**11, 10**12)}-{_rng.randrange(10**11, 10**12)}-"
                      f"{_rng.randrange(10**11, 10**12)}-{_hex(32)}",
        "sendgrid": "SG." + _r(22, _ALNUM + "_-") + "." + _r(43, _ALNUM + "_-"),
        "twilio-key": "SK" + _hex(32),
        "twilio-account": "AC" + _hex(32),
        "npm": "npm_" + _r(36),
        "pypi": "pypi-AgEIcHlwaS5vcmc" + _r(120, _ALNUM + "_-"),
        "azure-storage": ("DefaultEndpointsProtocol=https;AccountName=studiofake;AccountKey="
                          + _b64(86) + "==;EndpointSuffix=core.windows.net"),
        "telegram": f"{_rng.randrange(10**8, 10**9)}:AA{_r(33, _ALNUM + '_-')}",
        "discord": "M" + _r(25) + "." + _r(6) + "." + _r(38, _ALNUM + "_-"),
        "google-api": "AIza" + _r(35, _ALNUM + "_-"),
        "google-oauth": "ya29." + _r(120, _ALNUM + "_-"),
        "huggingface": "hf_" + _r(34),
        "mailchimp": _hex(32) + "-us12",
        "mailgun": "key-" + _r(32),
        "square-oauth": "sq0csp-" + _r(43, _ALNUM + "_-"),
        "square-access": "sq0atp-" + _r(22, _ALNUM + "_-"),
        "facebook": "EAACEdEose0cBA" + _r(60),
        "amazon-mws": f"amzn.mws.{_hex(8)}-{_hex(4)}-{_hex(4)}-{_hex(4)}-{_hex(12)}",
        "password-pair": f"password={_r(14)}",
        "password-json": json.dumps({"user": "ops", "password": _r(16)}),
        "api-key-json": json.dumps({"api_key": _r(40)}),
        "token-yaml": f"token: {_r(30)}",
        "secret-colon": f"secret: {_r(24)}",
        "dsn-keywords": f"host=db.example user=app password={_r(12)} dbname=prod",
        "curl": f"curl -H 'Authorization: Bearer {_r(48)}' https://api.example.com",
        "cookie": f"Cookie: sessionid={_r(32)}; csrftoken={_r(32)}",
        "x-api-key": f"X-API-Key: {_r(32)}",
    }


#: Values a test puts under sensitive keys: any shape, any type.
KEYED = {"password": "correct horse battery staple", "api_key": "plainwordsnotashape",
         "Authorization": "Basic dXNlcjpwYXNz", "token": 123456789012, "secret": ["a", "b"],
         "X-Api-Key": "k-1", "client-secret": {"nested": "shh"}, "DB_PASSWORD": "hunter2hunter2",
         "refreshToken": "rt-0000-xyz"}


def _secret_parts(sample: str) -> list[str]:
    # For "key=value" style samples the random value is what matters; every sample has
    # one random run of 12+ characters — those runs are the needles.
    import re

    return [m for m in re.findall(r"[A-Za-z0-9+_\-]{12,}", sample)
            if not re.fullmatch(r"[a-z_\-]+|[A-Z_\-]+|[A-Za-z]+", m) and m not in _CONTEXT]


_CONTEXT = {"client_credentials", "core.windows.net", "DefaultEndpointsProtocol", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"}


def _scan(directory: Path) -> list[dict]:
    exe = shutil.which("trufflehog3") or str(Path(sys.executable).with_name("trufflehog3"))
    out = directory.parent / f"{directory.name}-findings.json"
    subprocess.run([exe, "--no-entropy", "--no-history", "-z", "-f", "JSON", "-o", str(out), str(directory)],
                   check=True, capture_output=True, timeout=120)
    return json.loads(out.read_text() or "[]")


def _dump_text(db: Path, target: Path) -> int:
    """Every text value of every table, one per line (so no scanner rule spans two fields)."""
    con = sqlite3.connect(db)
    n = 0
    with target.open("w", encoding="utf-8") as f:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str):
                        f.write(value.replace("\n", "\\n") + "\n")
                        n += 1
    con.close()
    return n


def _track_everything(secrets: dict[str, str]) -> None:
    for name, s in secrets.items():
        with tracker.track_session(session_id=f"sess-{name}-{s}", user_id=s, user_agent=f"Mozilla/5.0 {s}",
                                   ip_address=s):
            with tracker.track_workflow(workflow_type=f"wf {s}", agents_involved=[s, "Planner"]) as wf:
                wf.span.set_scores(user_satisfaction_score=0.5)
                try:
                    with tracker.track_agent_execution(agent_name=f"agent {s}", agent_id=s, query=f"please use {s}",
                                                       correlation_id=s) as run:
                        run.set_response(f"here it is: {s}")
                        with tracker.track_tool_usage(
                            tool_name=f"tool {s}", external_api_called=s,
                            input_data={"text": s, "nested": {"deep": [s, {"x": (s,)}]}, **KEYED,
                                        "headers": {"authorization": f"Bearer {s}"}},
                        ) as call:
                            call.set_output({"json_text": json.dumps({"password": s, "note": s}),
                                             "headers_text": f"Authorization: Bearer {s}\nX: y",
                                             "value": s})
                            call.record_api_call(s, 200, 1.0)
                        raise RuntimeError(f"upstream rejected {s}")
                except RuntimeError:
                    pass


def test_public_scanner_finds_no_secret_in_the_database_or_the_spool(
        sqlite_file_url: str, tmp_path: Path) -> None:
    secrets = secret_samples()
    assert len(secrets) >= 50
    needles = sorted({p for s in secrets.values() for p in _secret_parts(s)} | set(
        v for v in KEYED.values() if isinstance(v, str) and len(v) >= 8))
    assert len(needles) >= 50

    # The scanner does find them when they are not redacted (it is a real check).
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "samples.txt").write_text("\n".join(s.replace("\n", "\\n") for s in secrets.values()) + "\n")
    assert len(_scan(raw_dir)) >= 15

    spool = tmp_path / "spool.sqlite3"
    configure_fast(sqlite_file_url, spool)
    _track_everything(secrets)
    assert tracker.flush(30)
    st = tracker.stats()
    assert st.rejected == 0 and st.written > 0
    db = Path(sqlite_file_url.removeprefix("sqlite:///"))
    dump_dir = tmp_path / "dump"
    dump_dir.mkdir()
    assert _dump_text(db, dump_dir / "db.txt") > 1000
    findings = _scan(dump_dir)
    assert findings == [], [(f["rule"]["id"], f["secret"]) for f in findings]
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert REDACTED.encode() in stored
    for needle in needles:
        assert needle.encode() not in stored, needle
    tracker.shutdown(5)

    # The spool holds prepared (so redacted) rows: a database that cannot be opened.
    (tmp_path / "not-a-dir").write_text("")
    bad_url = f"sqlite:///{tmp_path / 'not-a-dir' / 'x.sqlite3'}"
    configure_fast(bad_url, spool)
    _track_everything(secrets)
    tracker.flush(10)
    assert tracker.stats().spooled > 0
    tracker.shutdown(5)
    spooled = b"".join(p.read_bytes() for p in spool.parent.glob(spool.name + "*"))
    assert REDACTED.encode() in spooled
    for needle in needles:
        assert needle.encode() not in spooled, needle


def test_every_sample_and_keyed_value_is_redacted_in_text_and_json() -> None:
    cfg = build_config()
    for name, sample in secret_samples().items():
        for parts in _secret_parts(sample):
            out = clean_text(f"before {sample} after", cfg)
            assert out is not None and parts not in out, (name, out)
            inner = clean_json({"note": f"x {sample} y"}, cfg)
            assert parts not in json.dumps(inner), (name, inner)
    out = clean_json({"deep": [{"cfg": KEYED}]}, cfg)
    assert out == {"deep": [{"cfg": dict.fromkeys(KEYED, REDACTED)}]}
    text = clean_text(json.dumps(KEYED), cfg)
    assert text is not None
    for value in KEYED.values():
        assert json.dumps(value) not in text, text


def test_ordinary_text_is_left_alone() -> None:
    cfg = build_config()
    for text in ("What is the weather in Paris tomorrow?", "tokens_used: 812, max_tokens=4096",
                 "session_id=s-123 user=alice", "192.168.1.20 GET /index.html 200",
                 "The key insight: caching helps.", "execution 0195f3c2-8d1e-7b4a-9c3f-2a1b0c9d8e7f done"):
        assert clean_text(text, cfg) == text
    assert clean_json({"tokens_used": 812, "max_tokens": 4096, "sort_key": "name", "author": "x"}, cfg) == {
        "tokens_used": 812, "max_tokens": 4096, "sort_key": "name", "author": "x"}


def test_detect_secrets_upgrade_keeps_the_shapes_we_rely_on() -> None:
    names = {rule.name.split(":")[1] for rule in detect_secrets_rules()}
    missing = EXPECTED_PLUGINS - names
    assert not missing, f"detect-secrets no longer provides {sorted(missing)}: add own rules before upgrading"
    # Every rule has literals, so a text is only searched by rules that can match it.
    from studio_analytics.tracker.redaction import build_redactor

    always = [r.name for r in build_redactor().rules if not r.literals]
    assert always == []


@pytest.mark.parametrize("capture_content", [True, False])
def test_custom_patterns_and_capture_content(sqlite_file_url: str, tmp_path: Path, capture_content: bool) -> None:
    cfg = build_config(redact=[r"ACME-\d+"], capture_content=capture_content)
    assert clean_text("order ACME-991 for sk_live_" + "a1" * 20, cfg) == f"order {REDACTED} for {REDACTED}"
    assert clean_text("ACME-991", build_config(redact_defaults=False, redact=[r"ACME-\d+"])) == REDACTED
