"""Secrets never reach logs or recorded copies."""

from __future__ import annotations

from onboardflow.adapters.redaction import redact, scrub, secret_values


def test_secret_fields_are_redacted_at_any_depth() -> None:
    value = {
        "email": "a@b.nz",
        "password": "hunter22",
        "payment": {"api_key": "sk_live_1", "provider": "stripe"},
        "accounts": [{"Client-Secret": "s3cr3t", "name": "x"}],
        "access_token": "tok",
    }
    assert redact(value) == {
        "email": "a@b.nz",
        "password": "***",
        "payment": {"api_key": "***", "provider": "stripe"},
        "accounts": [{"Client-Secret": "***", "name": "x"}],
        "access_token": "***",
    }
    assert value["password"] == "hunter22", "the original is not modified"


def test_secret_values_are_scrubbed_from_free_text() -> None:
    payload = {"password": "hunter22", "nested": {"api_key": "sk_live_1"}, "name": "Joe", "token": "ab"}
    secrets = secret_values(payload)
    assert secrets == {"hunter22", "sk_live_1", "ab"}
    text = "login hunter22 failed; key sk_live_1; Joe; ab stays (too short to scrub safely)"
    assert scrub(text, secrets) == "login *** failed; key ***; Joe; ab stays (too short to scrub safely)"
