"""Server-rendered pages: sign-in with a signed session cookie and CSRF-protected forms."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from onboardflow.api.deps import ServicesDep, principal_from_session
from onboardflow.domain.records import Principal
from onboardflow.errors import Forbidden, Unauthenticated
from onboardflow.operations import leads as lead_ops
from onboardflow.operations import restaurants as restaurant_ops
from onboardflow.operations.accounts import sign_in

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["nav_links"] = [
    ("/", "Overview"),
    ("/leads", "Leads"),
    ("/batches", "Batches"),
    ("/actions", "Action inbox"),
    ("/restaurants", "Restaurants"),
    ("/queue", "Queue"),
]
router = APIRouter(include_in_schema=False)
__all__ = ["PagePrincipal", "ServicesDep", "check_csrf", "flash", "render"]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str) -> None:
    """Refuse a form whose CSRF token is not the session's."""
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(str(expected), submitted):
        raise Forbidden("the form has expired; reload the page and try again")


def flash(request: Request, kind: str, text: str) -> None:
    """Show ``text`` (``kind``: success, info or error) on the next page rendered for this session."""
    request.session["flashes"] = [*request.session.get("flashes", []), [kind, text]][-5:]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the session's CSRF token, principal, email and pending notices available."""
    context.setdefault("principal", principal_from_session(request))
    context.setdefault("email", request.session.get("email") if "session" in request.scope else None)
    if not template.startswith("partials/"):
        context.setdefault(
            "flashes", request.session.pop("flashes", []) if "session" in request.scope else []
        )
    response = templates.TemplateResponse(
        request, template, {"csrf_token": csrf_token(request), **context}, status_code=status_code
    )
    # Pages show live state: coming back (the back button included) must ask the server again.
    response.headers["Cache-Control"] = "no-store"
    return response


class SignInRequired(Exception):
    pass


def page_principal(request: Request) -> Principal:
    """The signed-in principal of a page; otherwise the page redirects to sign-in."""
    principal = principal_from_session(request)
    if principal is None:
        raise SignInRequired
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None, email="")


@router.post("/login", response_class=HTMLResponse, response_model=None)
async def login(
    request: Request,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=500)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    check_csrf(request, csrf)
    try:
        signed = await sign_in(services, email, password)
    except Unauthenticated as exc:
        return render(
            request, "login.html", status_code=401, next=_safe_next(next), error=exc.message, email=email
        )
    p = signed.principal
    request.session.clear()
    request.session.update(
        principal={
            "organisation_id": str(p.organisation_id),
            "role": p.role.value,
            "user_id": str(p.user_id),
        },
        email=signed.email,
        csrf=secrets.token_urlsafe(32),
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request, csrf: Annotated[str, Form(max_length=200)]) -> RedirectResponse:
    check_csrf(request, csrf)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, services: ServicesDep, principal: PagePrincipal) -> HTMLResponse:
    restaurants = await restaurant_ops.list_restaurants(services, principal, limit=20, offset=0)
    leads = await lead_ops.list_leads(services, principal, limit=20, offset=0)
    return render(
        request, "home.html", restaurants=restaurants, leads=leads, email=request.session.get("email")
    )


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def install(app: FastAPI) -> None:
    """Mount the pages and static files on ``app``."""
    from onboardflow.web import batches, pages

    app.include_router(router)
    app.include_router(pages.router)
    app.include_router(batches.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(SignInRequired)
    async def _to_sign_in(request: Request, _exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
