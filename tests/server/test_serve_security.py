"""Safe to expose: localhost without a token, a token anywhere else; bearer or the login
page's cookie; per-client rate limit; CORS only for the origin given."""

from __future__ import annotations

import httpx
import pytest

from studio_analytics.cli import run_cli
from studio_analytics.server.auth import COOKIE
from studio_analytics.server.ratelimit import RateLimiter
from tests.server.conftest import api_client, running_server

API = "/api/analytics"
TOKEN = "s3cret-Token_for-tests"


def test_localhost_needs_no_token(empty_db: str) -> None:
    with running_server(empty_db) as server:
        reply = httpx.get(server.base_url + API + "/summary", timeout=30)
    assert reply.status_code == 200 and reply.json()["report"] == "summary"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_other_addresses_refuse_to_start_without_a_token(host: str, empty_db: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--db", empty_db, "--host", host, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"refusing to listen on {host} without a token" in err and "STUDIO_ANALYTICS_SERVE_TOKEN" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_settings_are_usage_errors(empty_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["serve", "--db", empty_db, "--token", "two words", "--port", "0"]) == 2
    assert "the token must be non-empty printable text without spaces" in capsys.readouterr().err
    assert run_cli(["serve", "--db", empty_db, "--cors", "*", "--port", "0"]) == 2
    assert "'*' is not allowed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(["serve", "--db", empty_db, "--rate-limit", "fast"])
    assert "expected N/min" in capsys.readouterr().err


def test_token_by_header(empty_db: str) -> None:
    with api_client(empty_db, token=TOKEN) as client:
        missing = client.get(API + "/summary")
        wrong = client.get(API + "/summary", headers={"Authorization": f"Bearer {TOKEN}x"})
        basic = client.get(API + "/summary", headers={"Authorization": f"Basic {TOKEN}"})
        in_query = client.get(API + "/summary", params={"token": TOKEN})
        right = client.get(API + "/summary", headers={"Authorization": f"Bearer {TOKEN}"})
        lower = client.get(API + "/summary", headers={"Authorization": f"bearer {TOKEN}"})
        health = client.get(API + "/health")
        docs = client.get("/openapi.json")
    for reply in (missing, wrong, basic, in_query, health, docs):
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "bearer token is required" in reply.json()["error"]
        assert TOKEN not in reply.text
    assert right.status_code == 200 and lower.status_code == 200


def test_browser_signs_in_with_a_cookie(empty_db: str) -> None:
    with api_client(empty_db, token=TOKEN) as client:
        page = client.get(API + "/dashboard", params={"range": "24h"})
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert 'action="/api/analytics/login"' in page.text and 'name="token"' in page.text
        assert 'value="/api/analytics/dashboard?range=24h"' in page.text
        assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text

        wrong = client.post(API + "/login", data={"token": "nope", "next": "/api/analytics/dashboard"},
                            follow_redirects=False)
        assert wrong.status_code == 401 and "not the right one" in wrong.text and COOKIE not in wrong.headers.get(
            "set-cookie", "")
        elsewhere = client.post(API + "/login", data={"token": TOKEN, "next": "https://evil.example/"},
                                follow_redirects=False)
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == API + "/dashboard"
        client.cookies.clear()
        signed = client.post(API + "/login", data={"token": TOKEN, "next": API + "/dashboard?range=24h"},
                             follow_redirects=False)
        assert signed.status_code == 303 and signed.headers["location"] == API + "/dashboard?range=24h"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert TOKEN not in cookie  # an HMAC of it, not the token
        value = cookie.split(";")[0].split("=", 1)[1]

    with api_client(empty_db, token=TOKEN) as client:
        with_cookie = client.get(API + "/summary", headers={"Cookie": f"{COOKIE}={value}"})
        forged = client.get(API + "/summary", headers={"Cookie": f"{COOKIE}={value[:-1]}0"})
        dashboard = client.get(API + "/dashboard", headers={"Cookie": f"{COOKIE}={value}"})
    assert with_cookie.status_code == 200 and forged.status_code == 401
    assert dashboard.status_code == 200 and dashboard.headers["content-type"].startswith("text/html")


def test_login_page_without_a_token_goes_to_the_dashboard(empty_db: str) -> None:
    with api_client(empty_db) as client:
        reply = client.post(API + "/login", data={"token": "x"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == API + "/dashboard"


def test_rate_limit_per_client_address(empty_db: str) -> None:
    """3 a minute: the fourth request from 127.0.0.1 is refused with Retry-After, while
    another address (127.0.0.2, also this machine) still gets its own three."""
    with running_server(empty_db, rate_per_min=3) as server:
        url = server.base_url + API + "/summary"
        with httpx.Client(timeout=30) as one:
            codes = [one.get(url).status_code for _ in range(3)]
            refused = one.get(url)
        with httpx.Client(timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            other_codes = [other.get(url).status_code for _ in range(3)]
    assert codes == [200, 200, 200] and other_codes == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert "too many requests" in refused.json()["error"]


def test_token_bucket_refills() -> None:
    limiter = RateLimiter(60)  # one a second, sixty at once
    assert all(limiter.take("a", now=0.0) == 0 for _ in range(60))
    assert limiter.take("a", now=0.0) == 1
    assert limiter.take("a", now=1.0) == 0 and limiter.take("a", now=1.0) == 1
    assert limiter.take("b", now=1.0) == 0
    small = RateLimiter(6, max_clients=2)  # one every 10 s
    assert small.take("x", now=0) == 0 and small.take("x", now=0) == 0
    assert [small.take("x", now=0) for _ in range(5)].count(0) == 4 and small.take("x", now=0) == 10
    small.take("y", now=0)
    small.take("z", now=0)  # x is forgotten: at most two clients are kept
    assert "x" not in small._buckets


def test_no_cors_headers_unless_asked(empty_db: str) -> None:
    origin = "http://grafana.local:3000"
    with api_client(empty_db) as client:
        plain = client.get(API + "/summary", headers={"Origin": origin})
        preflight = client.options(API + "/summary", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in plain.headers
    assert "access-control-allow-origin" not in preflight.headers
    with api_client(empty_db, cors_origin=origin, token=TOKEN) as client:
        allowed = client.get(API + "/summary", headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}"})
        other = client.get(API + "/summary", headers={"Origin": "http://evil.local", "Authorization": f"Bearer {TOKEN}"})
        preflight = client.options(API + "/summary", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == origin
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_without_a_token_only_localhost_names_are_answered(empty_db: str) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends
    Host: evil.example; the server refuses it. With a token, the token decides."""
    with api_client(empty_db) as client:
        rebound = client.get(API + "/summary", headers={"Host": "evil.example:8000"})
        local = [client.get(API + "/summary", headers={"Host": h}).status_code
                 for h in ("localhost:8000", "127.0.0.1", "[::1]:8000", "127.0.0.5:9")]
    assert rebound.status_code == 403 and "localhost only" in rebound.json()["error"]
    assert local == [200, 200, 200, 200]
    with api_client(empty_db, token=TOKEN) as client:
        named = client.get(API + "/summary", headers={"Host": "analytics.lan", "Authorization": f"Bearer {TOKEN}"})
    assert named.status_code == 200
