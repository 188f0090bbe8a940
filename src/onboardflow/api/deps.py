"""Dependencies routes receive: the services and the authenticated principal."""

from __future__ import annotations

import secrets
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import UserRole
from onboardflow.errors import Forbidden, Unauthenticated
from onboardflow.operations.accounts import authenticate_token
from onboardflow.operations.services import Services

_bearer = HTTPBearer(auto_error=False, description="An API token from `onboardflow token create`.")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_services(request: Request) -> Services:
    """The services built by the app's lifespan."""
    services: Services = request.app.state.services
    return services


async def get_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller: a bearer token, or the web session (unsafe methods then need the CSRF header)."""
    if credentials is not None:
        return await authenticate_token(services, credentials.credentials)
    session_principal = principal_from_session(request)
    if session_principal is None:
        raise Unauthenticated("a bearer token is required")
    if request.method not in SAFE_METHODS:
        expected = request.session.get("csrf")
        given = request.headers.get(CSRF_HEADER, "")
        if not expected or not secrets.compare_digest(str(expected), given):
            raise Forbidden("missing or wrong CSRF token")
    return session_principal


def principal_from_session(request: Request) -> Principal | None:
    """The principal stored in the signed session cookie, if signed in."""
    data = request.session.get("principal") if "session" in request.scope else None
    if not data:
        return None

    return Principal(
        organisation_id=UUID(data["organisation_id"]),
        role=UserRole(data["role"]),
        user_id=UUID(data["user_id"]) if data.get("user_id") else None,
    )


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """The caller, who must be an admin."""
    if not principal.is_admin:
        raise Forbidden("this needs an admin")
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")]
