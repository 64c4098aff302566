"""Secrets: a token's hash is compared in constant time, and the suite-wide guard (tests/conftest.py,
`secret_guard`) really fails a test whose token, or token hash, reaches a log or an error body."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import cdrstore.api.errors
import cdrstore.ops.accounts
import cdrstore.tokens
from cdrstore.tokens import hash_matches, hash_secret, new_secret
from tests.conftest import SecretGuard, calls_path, find_leaks, log_record_text

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]


def test_hash_matches_only_its_own_secret():
    secret = new_secret()
    assert hash_matches(secret, hash_secret(secret))
    assert not hash_matches(secret, hash_secret(new_secret()))
    assert not hash_matches(secret, "")
    assert not hash_matches(secret, "é" * 64)  # not hex: refused, not an error


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("cdrstore.api", logging.DEBUG, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_find_leaks_looks_at_arguments_extras_exceptions_and_bodies():
    secret = new_secret()  # never logged here: the records below are made by hand
    digest = hash_secret(secret)
    try:
        raise ValueError(f"bad header {secret}")
    except ValueError:
        with_exception = _record("request failed")
        with_exception.exc_info = sys.exc_info()
    outputs = [
        ("arguments", _record("token %s accepted", secret)),
        ("extra field", _record("token accepted", token={"hash": digest})),
        ("exception", with_exception),
        ("prefix cut off", _record("tail %s", secret.removeprefix("cdr_"))),
        ("clean", _record("token %s revoked", "tok_0123456789ab")),
    ]
    texts = [(label, log_record_text(record)) for label, record in outputs]
    texts.append(("error body", f'{{"code":6452000,"message":"no token {digest}"}}'))
    leaks = find_leaks([secret], texts)
    assert [leak.split(":")[0] for leak in leaks] == [
        "token in arguments",
        "token hash in extra field",
        "token in exception",
        "token in prefix cut off",
        "token hash in error body",
    ]
    report = "\n".join(leaks)
    assert secret.removeprefix("cdr_") not in report and digest not in report  # masked
    assert find_leaks([new_secret()], texts) == []


def test_the_guard_sees_every_mint_log_record_and_error_body(client, tokens, secret_guard):
    assert isinstance(secret_guard, SecretGuard)
    # every module's own reference records its tokens; every error renders through the one renderer
    assert cdrstore.ops.accounts.new_secret is cdrstore.tokens.new_secret
    assert hasattr(cdrstore.tokens.new_secret, "__wrapped__")  # the recording version
    assert hasattr(cdrstore.api.errors.error_response, "__wrapped__")
    secret = tokens.token("acme")
    assert secret in secret_guard.minted
    response = client.get(calls_path("acme"), headers={"Authorization": f"Bearer {secret}x"})
    assert response.status_code == 401
    assert any('"invalid token"' in body for body in secret_guard.error_responses)
    # the app reconfigured logging as it was made; debug records are still on and still captured
    logging.getLogger("litestar").debug("probe after the app configured logging")
    names = {(r.name, r.getMessage()) for r in secret_guard.capture.records.values()}
    assert ("litestar", "probe after the app configured logging") in names
    assert any(name == "cdrstore.access" for name, _ in names)
    assert secret_guard.leaks() == []


LEAKY_TESTS = """
import logging

import cdrstore.api.errors
from cdrstore.tokens import hash_secret, new_secret


def test_logs_a_token():
    logging.getLogger("cdrstore.demo").debug("made %s", new_secret())


def test_puts_a_hash_in_an_error_body():
    cdrstore.api.errors.error_response(401, "unknown " + hash_secret(new_secret()))


def test_clean():
    new_secret()
    logging.getLogger("cdrstore.demo").debug("made a token")
    cdrstore.api.errors.error_response(401, "invalid token")
"""


def test_the_guard_fails_a_test_that_leaks(pytester, monkeypatch):
    """The real fixture, in a pytest run of its own: it must turn a leak into an error."""
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]\n')
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    out = result.stdout.str()
    assert "ERROR at teardown of test_logs_a_token" in out
    assert "token in log record cdrstore.demo DEBUG: ...made cdr_<token>..." in out
    assert "ERROR at teardown of test_puts_a_hash_in_an_error_body" in out
    assert "token hash in error response" in out


def test_a_live_server_logging_at_debug_writes_no_secret(tmp_path):
    """What an operator's log file holds: the server's whole stderr at `--log-level debug`, through
    accepted, refused, malformed and rate-limited calls."""
    import httpx

    from cdrstore.testing import app_with_token, start_server
    from tests.conftest import record

    url = f"sqlite:///{tmp_path / 'debug.db'}"
    secret = app_with_token(url, "acme")
    proc, base = start_server(url, cwd=tmp_path, args=["--log-level", "debug", "--rate-limit", "4"])
    try:
        good = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=base, timeout=30) as http:
            statuses = [
                http.post(calls_path("acme"), json=[record()], headers=good).status_code,
                http.get(calls_path("acme"), headers=good).status_code,
                http.get(calls_path("other"), headers=good).status_code,
                http.get(
                    calls_path("acme"), headers={"Authorization": f"Bearer {secret}x"}
                ).status_code,
                http.get(calls_path("acme"), headers={"Authorization": secret}).status_code,
                http.get(calls_path("acme") + "?limit=0", headers=good).status_code,
                http.get(calls_path("acme"), headers=good).status_code,
            ]
    finally:
        proc.terminate()
        _, log = proc.communicate(timeout=30)
    assert statuses == [200, 200, 403, 401, 401, 400, 429]
    text = log.decode(errors="replace")
    assert '"status":429' in text  # the log was captured
    leaks = find_leaks([secret], [("server stderr", text)])
    assert leaks == [], leaks
