"""Every foreign failure becomes a typed error here, and nowhere else (SPEC §5, STYLE habit 6).

Three tables, one per kind of evidence an adapter gets back:

Exceptions (``error_from_exception``; first matching row wins, so specific classes come first):

=============================================  ==================  =====================================
exception                                      becomes             why
=============================================  ==================  =====================================
``JobError`` (ours)                            itself              already typed
``TimeoutError``, ``httpx.TimeoutException``   ``RetryableError``  the service may answer next time
``httpx.NetworkError`` (connect, read, write)  ``RetryableError``  connection refused or reset
``httpx.RemoteProtocolError``                  ``RetryableError``  the peer hung up mid-answer
``httpx.DecodingError``                        ``RetryableError``  a body damaged in transit
``json.JSONDecodeError``                       ``RetryableError``  usually a proxy's HTML error page
``pydantic.ValidationError``                   ``PermanentError``  the answer breaks the contract
``httpx.InvalidURL``, ``UnsupportedProtocol``  ``PermanentError``  misconfigured base URL
``httpx.LocalProtocolError``                   ``PermanentError``  we built an invalid request
``httpx.TooManyRedirects``                     ``PermanentError``  misconfigured base URL
``FileNotFoundError``, ``PermissionError``     ``PermanentError``  a command that cannot be run
``OSError`` (other)                            ``RetryableError``  e.g. out of file descriptors
any other ``Exception``                        ``RetryableError``  unknown failures count as retryable
=============================================  ==================  =====================================

HTTP statuses (``error_from_status``):

===================  =====================================================================
status               becomes
===================  =====================================================================
1xx, 2xx             no error
3xx                  ``PermanentError`` (redirects are not followed: the base URL is wrong)
408                  ``RetryableError``
409                  ``AlreadyDoneError`` with ``existing`` ids from the body
429                  ``RetryableError`` with ``retry_after`` from ``Retry-After``
other 4xx            ``PermanentError``
5xx                  ``RetryableError`` (``retry_after`` from ``Retry-After`` when sent)
===================  =====================================================================

Command exit codes (``error_from_exit_code``; ``sysexits.h`` names):

=====================  ======================================================
exit code              becomes
=====================  ======================================================
0                      no error: stdout holds the result
65 ``EX_DATAERR``      ``PermanentError`` (bad input, validation)
73 ``EX_CANTCREAT``    ``AlreadyDoneError`` with ``existing`` ids from stdout
75 ``EX_TEMPFAIL``     ``RetryableError`` (``retry_after`` from stdout if given)
77 ``EX_NOPERM``       ``PermanentError`` (bad credentials)
negative (signalled)   ``RetryableError``
anything else          ``RetryableError``
=====================  ======================================================

An answer body (HTTP or stdout) may explain a failure as
``{"error": {"message": str, "existing": {...}, "retry_after": float}}``; ``existing`` may also sit
at the top level or be called ``ids``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
import pydantic

from onboardflow.adapters.redaction import redact
from onboardflow.errors import AlreadyDoneError, JobError, PermanentError, RetryableError

FOREIGN_ERRORS: Final[tuple[tuple[type[BaseException], type[JobError], str], ...]] = (
    (TimeoutError, RetryableError, "timed out"),
    (httpx.TimeoutException, RetryableError, "timed out"),
    (httpx.NetworkError, RetryableError, "connection failed"),
    (httpx.RemoteProtocolError, RetryableError, "connection broken"),
    (httpx.DecodingError, RetryableError, "undecodable response"),
    (json.JSONDecodeError, RetryableError, "malformed JSON in the answer"),
    (pydantic.ValidationError, PermanentError, "answer does not match the contract"),
    (httpx.InvalidURL, PermanentError, "invalid URL"),
    (httpx.UnsupportedProtocol, PermanentError, "unsupported URL scheme"),
    (httpx.LocalProtocolError, PermanentError, "invalid request"),
    (httpx.TooManyRedirects, PermanentError, "too many redirects"),
    (FileNotFoundError, PermanentError, "command not found"),
    (PermissionError, PermanentError, "command not executable"),
    (OSError, RetryableError, "operating system error"),
)
"""(foreign exception, typed error, label): the first row whose class matches wins."""

EX_DATAERR: Final = 65
EX_CANTCREAT: Final = 73
EX_TEMPFAIL: Final = 75
EX_NOPERM: Final = 77

EXIT_CODES: Final[Mapping[int, type[JobError]]] = {
    EX_DATAERR: PermanentError,
    EX_CANTCREAT: AlreadyDoneError,
    EX_TEMPFAIL: RetryableError,
    EX_NOPERM: PermanentError,
}
"""Exit codes with a meaning; any other non-zero code is retryable."""


def error_from_exception(exc: BaseException, *, service: str, operation: str) -> JobError:
    """The typed error for ``exc``, raised by a call to ``service``'s ``operation``."""
    if isinstance(exc, JobError):
        return exc
    context = {"service": service, "operation": operation, "exception": type(exc).__name__}
    for foreign, typed, label in FOREIGN_ERRORS:
        if isinstance(exc, foreign):
            detail = str(exc).strip()
            message = f"{service} {operation}: {label}" + (f": {detail}" if detail else "")
            return typed(message, details=context)
    return RetryableError(f"{service} {operation}: unexpected {type(exc).__name__}: {exc}", details=context)


def error_from_status(
    status: int,
    *,
    headers: Mapping[str, str],
    body: Any,
    service: str,
    operation: str,
    now: datetime | None = None,
) -> JobError | None:
    """The typed error for an HTTP answer with ``status``, or ``None`` when it is a success."""
    if status < 300:
        return None
    message = f"{service} {operation}: HTTP {status}" + _reason(body)
    details = {"service": service, "operation": operation, "status": status, "body": redact(body)}
    if status == 409:
        return AlreadyDoneError(message, existing=existing_ids(body), details=details)
    if status == 408 or status == 429 or status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after"), now=now)
        if retry_after is None:
            retry_after = _body_retry_after(body)
        return RetryableError(message, retry_after=retry_after, details=details)
    return PermanentError(message, details=details)


def error_from_exit_code(
    code: int, *, output: Any, stderr: str, service: str, operation: str
) -> JobError | None:
    """The typed error for a command that exited with ``code``, or ``None`` on success (0).

    ``output`` is stdout parsed as JSON (``None`` if it was not JSON); ``stderr`` must already be
    scrubbed of secrets.
    """
    if code == 0:
        return None
    reason = _reason(output) or (f": {_last_line(stderr)}" if stderr.strip() else "")
    how = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
    message = f"{service} {operation}: command {how}{reason}"
    details = {
        "service": service,
        "operation": operation,
        "exit_code": code,
        "output": redact(output),
        "stderr": stderr[-2000:],
    }
    typed = EXIT_CODES.get(code, RetryableError)
    if typed is AlreadyDoneError:
        return AlreadyDoneError(message, existing=existing_ids(output), details=details)
    if typed is RetryableError:
        return RetryableError(message, retry_after=_body_retry_after(output), details=details)
    return typed(message, details=details)


def exit_code_for(error: JobError) -> int:
    """The exit code a command script should use to report ``error`` (the inverse of the table)."""
    if isinstance(error, AlreadyDoneError):
        return EX_CANTCREAT
    if isinstance(error, PermanentError):
        return EX_DATAERR
    return EX_TEMPFAIL


def error_body(error: JobError) -> dict[str, Any]:
    """How a simulated service explains ``error`` in an answer body (secrets redacted)."""
    body: dict[str, Any] = {"type": kind_of(error), "message": error.message}
    if isinstance(error, AlreadyDoneError):
        body["existing"] = dict(error.existing)
    if isinstance(error, RetryableError) and error.retry_after is not None:
        body["retry_after"] = error.retry_after
    if error.details:
        body["details"] = redact(error.details)
    return {"error": body}


def kind_of(error: JobError) -> str:
    """``already_done``, ``permanent`` or ``retryable``."""
    if isinstance(error, AlreadyDoneError):
        return "already_done"
    if isinstance(error, PermanentError):
        return "permanent"
    return "retryable"


def existing_ids(body: Any) -> dict[str, Any]:
    """The ids of the thing that already exists, wherever the body puts them."""
    if not isinstance(body, Mapping):
        return {}
    error = body.get("error")
    for holder in (error, body):
        if isinstance(holder, Mapping):
            for key in ("existing", "ids"):
                found = holder.get(key)
                if isinstance(found, Mapping):
                    return dict(found)
    return {}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if absent
    or unreadable. Never negative."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _body_retry_after(body: Any) -> float | None:
    if isinstance(body, Mapping):
        error = body.get("error")
        for holder in (error, body):
            if isinstance(holder, Mapping) and isinstance(holder.get("retry_after"), int | float):
                return max(0.0, float(holder["retry_after"]))
    return None


def _reason(body: Any) -> str:
    if isinstance(body, Mapping):
        error = body.get("error", body.get("detail"))
        if isinstance(error, Mapping) and error.get("message"):
            return f": {error['message']}"
        if isinstance(error, str) and error:
            return f": {error}"
        if isinstance(error, list) and error:
            return f": {json.dumps(redact(error))[:500]}"
    if isinstance(body, str) and body.strip():
        return f": {_last_line(body)}"
    return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
