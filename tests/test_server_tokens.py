"""server/_tokens.py: issue and verify (PyJWT translated to InvalidToken), and the secret."""

from __future__ import annotations

import time

import jwt
import pytest

from openagi_nb.exceptions import (
    AuthenticationFailed,
    InvalidToken,
    OpenAGIError,
    ServerConfigError,
)
from openagi_nb.server._tokens import SECRET_ENV, issue_token, resolve_secret, verify_token

from .conftest import TEST_SECRET

OTHER_SECRET = "another-secret-that-is-long-enough-for-hs256"


def test_issued_token_verifies_with_its_claims():
    token = issue_token(TEST_SECRET, "node_1", ttl=60, now=time.time())
    claims = verify_token(TEST_SECRET, token)
    assert claims["sub"] == "node_1"
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(("token", "reason"), [
    (None, "missing token"),
    ("", "missing token"),
    ("nope", "malformed token"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2}, TEST_SECRET, algorithm="HS256"),
     "token expired"),
    (jwt.encode({"sub": "a", "iat": int(time.time())}, TEST_SECRET, algorithm="HS256"),
     "no 'exp' claim"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2**40}, OTHER_SECRET, algorithm="HS256"),
     "signature does not match"),
    (jwt.encode({"sub": "a", "iat": 1, "exp": 2**40}, None, algorithm="none"),
     "algorithm is not HS256"),
    (jwt.encode({"sub": 7, "iat": 1, "exp": 2**40}, TEST_SECRET, algorithm="HS256"),
     "malformed token"),
])
def test_bad_token_is_invalid_token_with_a_reason_that_never_quotes_it(token, reason):
    with pytest.raises(InvalidToken, match=reason) as info:
        verify_token(TEST_SECRET, token)
    if token:
        assert token not in str(info.value)
    assert info.value.__cause__ is None  # PyJWT's error is not chained: it may hold the token


def test_invalid_token_is_a_value_error_of_the_tree_not_the_clients_authentication_failed():
    with pytest.raises(InvalidToken) as info:
        verify_token(TEST_SECRET, "nope")
    assert isinstance(info.value, OpenAGIError)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, AuthenticationFailed)


def test_secret_comes_from_the_option_then_the_environment_then_chance(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, OTHER_SECRET)
    assert resolve_secret(TEST_SECRET) == TEST_SECRET
    assert resolve_secret(None) == OTHER_SECRET
    monkeypatch.delenv(SECRET_ENV)
    first, second = resolve_secret(None), resolve_secret(None)
    assert first != second
    assert len(first) >= 32


def test_short_secret_is_a_config_error():
    with pytest.raises(ServerConfigError, match="at least 32"):
        resolve_secret("short")
