"""The one place where errors become HTTP responses (JSON with a message and, for 422, the field)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from onboardflow.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OnboardflowError,
    StoreUnavailable,
    Unauthenticated,
)

log = logging.getLogger("onboardflow.api")

_STATUS: list[tuple[type[OnboardflowError], int, str]] = [
    (NotFound, 404, "not_found"),
    (InvalidInput, 422, "invalid_input"),
    (Conflict, 409, "conflict"),
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (StoreUnavailable, 503, "unavailable"),
]


def error_body(error: OnboardflowError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body for an onboardflow error."""
    for cls, status, code in _STATUS:
        if isinstance(error, cls):
            body: dict[str, Any] = {"error": code, "message": error.message}
            if isinstance(error, InvalidInput):
                body.update(field=error.field, errors=error.errors)
            if isinstance(error, Conflict) and error.details:
                body["details"] = error.details
            return status, body
    return 500, {"error": "internal", "message": "internal error"}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> tuple[str, str]:
    parts = list(loc)
    location = (
        str(parts.pop(0)) if parts and parts[0] in ("body", "query", "path", "header", "cookie") else ""
    )
    return location, ".".join(str(p) for p in parts) or location or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into a JSON response."""

    @app.exception_handler(OnboardflowError)
    async def _onboardflow_error(request: Request, exc: OnboardflowError) -> JSONResponse:
        status, body = error_body(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500:
            log.error("request failed: %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            location, field = _field_of(err.get("loc", ()))
            if err.get("type") == "json_invalid":
                field = "body"
            errors.append({"field": field, "location": location, "message": err.get("msg", "invalid")})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return JSONResponse(
            {
                "error": "invalid_input",
                "message": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "errors": errors,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "internal error"}, status_code=500)
