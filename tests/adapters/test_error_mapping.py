"""The one place where foreign failures become typed errors: exceptions, HTTP statuses, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

from onboardflow.adapters.error_mapping import (
    error_body,
    error_from_exception,
    error_from_exit_code,
    error_from_status,
    existing_ids,
    exit_code_for,
    parse_retry_after,
)
from onboardflow.errors import AlreadyDoneError, JobError, PermanentError, RetryableError

REQUEST = httpx.Request("GET", "http://service.example/x")


def _validation_error() -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(int).validate_python("not a number")
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (TimeoutError(), RetryableError),
        (httpx.ReadTimeout("slow", request=REQUEST), RetryableError),
        (httpx.ConnectTimeout("slow", request=REQUEST), RetryableError),
        (httpx.ConnectError("refused", request=REQUEST), RetryableError),
        (httpx.ReadError("reset", request=REQUEST), RetryableError),
        (httpx.RemoteProtocolError("peer closed", request=REQUEST), RetryableError),
        (json.JSONDecodeError("Expecting value", "<html>", 0), RetryableError),
        (_validation_error(), PermanentError),
        (httpx.UnsupportedProtocol("ftp"), PermanentError),
        (httpx.InvalidURL("bad"), PermanentError),
        (httpx.LocalProtocolError("bad header"), PermanentError),
        (FileNotFoundError("no such script"), PermanentError),
        (PermissionError("not executable"), PermanentError),
        (OSError("too many open files"), RetryableError),
        (KeyError("surprise"), RetryableError),
    ],
)
def test_foreign_exceptions_map_to_the_most_specific_typed_error(
    exc: Exception, error: type[JobError]
) -> None:
    mapped = error_from_exception(exc, service="pumpd", operation="account")
    assert type(mapped) is error
    assert mapped.message.startswith("pumpd account: ")
    assert mapped.details["exception"] == type(exc).__name__


def test_our_own_errors_pass_through_unchanged() -> None:
    original = AlreadyDoneError("exists", existing={"pumpd_user_id": "usr_1"})
    assert error_from_exception(original, service="pumpd", operation="account") is original


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (204, None),
        (301, PermanentError),
        (400, PermanentError),
        (401, PermanentError),
        (403, PermanentError),
        (404, PermanentError),
        (408, RetryableError),
        (409, AlreadyDoneError),
        (422, PermanentError),
        (429, RetryableError),
        (500, RetryableError),
        (502, RetryableError),
        (503, RetryableError),
        (504, RetryableError),
    ],
)
def test_http_statuses_map_to_typed_errors(status: int, error: type[JobError] | None) -> None:
    mapped = error_from_status(status, headers={}, body=None, service="cdn", operation="upload")
    assert (type(mapped) if mapped else None) is error


def test_conflict_carries_the_existing_ids_from_the_body() -> None:
    body = {"error": {"message": "exists", "existing": {"pumpd_restaurant_id": "rst_1"}}}
    mapped = error_from_status(
        409, headers={}, body=body, service="pumpd", operation="restaurant_registration"
    )
    assert isinstance(mapped, AlreadyDoneError)
    assert mapped.existing == {"pumpd_restaurant_id": "rst_1"}
    assert "exists" in mapped.message


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_header_is_honoured(status: int) -> None:
    mapped = error_from_status(
        status, headers={"retry-after": "12"}, body=None, service="cdn", operation="upload"
    )
    assert isinstance(mapped, RetryableError)
    assert mapped.retry_after == 12


def test_retry_after_falls_back_to_the_body() -> None:
    body = {"error": {"message": "slow down", "retry_after": 2.5}}
    mapped = error_from_status(429, headers={}, body=body, service="cdn", operation="upload")
    assert isinstance(mapped, RetryableError)
    assert mapped.retry_after == 2.5


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:30 GMT", now=now) == 90
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0


def test_secrets_in_an_error_body_are_redacted_in_details() -> None:
    body = {"error": {"message": "bad"}, "echo": {"password": "hunter2", "api_key": "sk_live"}}
    mapped = error_from_status(400, headers={}, body=body, service="pumpd", operation="account")
    assert mapped is not None
    assert "hunter2" not in str(mapped.details)
    assert "sk_live" not in str(mapped.details)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (0, None),
        (65, PermanentError),
        (73, AlreadyDoneError),
        (75, RetryableError),
        (77, PermanentError),
        (1, RetryableError),
        (70, RetryableError),
        (-9, RetryableError),
    ],
)
def test_exit_codes_map_to_typed_errors(code: int, error: type[JobError] | None) -> None:
    mapped = error_from_exit_code(code, output=None, stderr="", service="pumpd", operation="account")
    assert (type(mapped) if mapped else None) is error


@pytest.mark.parametrize(
    "error",
    [
        RetryableError("later", retry_after=3),
        PermanentError("never"),
        AlreadyDoneError("exists", existing={"pumpd_user_id": "usr_1"}),
    ],
)
def test_an_error_survives_the_trip_through_a_body_and_an_exit_code(error: JobError) -> None:
    body: Any = error_body(error)
    back = error_from_exit_code(
        exit_code_for(error), output=body, stderr="", service="pumpd", operation="account"
    )
    assert type(back) is type(error)
    if isinstance(error, AlreadyDoneError):
        assert isinstance(back, AlreadyDoneError)
        assert back.existing == error.existing
    if isinstance(error, RetryableError):
        assert isinstance(back, RetryableError)
        assert back.retry_after == error.retry_after


def test_existing_ids_are_found_wherever_the_body_puts_them() -> None:
    assert existing_ids({"error": {"existing": {"a": 1}}}) == {"a": 1}
    assert existing_ids({"existing": {"b": 2}}) == {"b": 2}
    assert existing_ids({"ids": {"c": 3}}) == {"c": 3}
    assert existing_ids("text") == {}
