"""The local gateway's verification of bearer tokens, kept until each expires (as API Gateway's
authorizer does not verify every request from scratch): a token is verified once, an expired one is
verified again (and refused), a refused one is never kept, and the cache is bounded."""

from __future__ import annotations

import time

import pytest
from proxy_failover.settings import reset_settings

from local import apigw
from tests.helpers import SECRET, token


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", SECRET)
    reset_settings()
    yield
    reset_settings()


def test_a_token_is_verified_once_until_it_expires(monkeypatch):
    kept = apigw.VerifiedTokens()
    bearer = token("cached", exp=int(time.time()) + 60)
    first = kept.claims(bearer)
    assert first is not None and first["sub"] == "cached"
    first["sub"] = "changed by a handler"
    again = kept.claims(bearer)
    assert again is not None and again["sub"] == "cached"  # each request gets its own copy
    assert kept.verified == 1
    # When its time is up (and the 5 s leeway), it is verified again (pyjwt, on its own clock, decides)
    later = time.time() + 120
    monkeypatch.setattr(apigw.time, "time", lambda: later)
    kept.claims(bearer)
    assert kept.verified == 2


def test_an_expired_token_is_refused_and_not_kept():
    kept = apigw.VerifiedTokens()
    stale = token("stale", exp=int(time.time()) - 60)
    assert kept.claims(stale) is None and kept.claims(stale) is None


def test_a_refused_token_is_not_kept_and_the_cache_is_bounded():
    kept = apigw.VerifiedTokens(size=3)
    forged = token("forged", secret="another-secret-with-at-least-32-bytes!!")
    assert kept.claims(forged) is None and kept.claims(forged) is None
    assert kept.verified == 0
    bearers = [token(f"user-{k}") for k in range(5)]
    for bearer in bearers:
        assert kept.claims(bearer) is not None
    assert kept.verified == 5
    assert kept.claims(bearers[-1]) is not None and kept.verified == 5  # still kept
    assert kept.claims(bearers[0]) is not None and kept.verified == 6  # pushed out, verified again
