"""The `onboardflow` command line: serve, migrate, and account administration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from onboardflow.cli.demo import demo as demo_command
from onboardflow.cli.jobs import jobs_app, prune, queue_app
from onboardflow.config import Settings, load_settings
from onboardflow.domain.statuses import UserRole
from onboardflow.errors import OnboardflowError
from onboardflow.logs import configure_logging
from onboardflow.operations import accounts
from onboardflow.operations.services import Services, build_services, build_worker_deps, close_services
from onboardflow.runtime.process import run_worker_process, supervise_worker_processes
from onboardflow.store import migrate as migrations

app = typer.Typer(help="onboardflow: durable batch onboarding of restaurants.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(jobs_app, name="jobs")
app.add_typer(queue_app, name="queue")

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def run_with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """Run one use case with freshly built services; errors become a message and exit code 1."""

    async def runner() -> T:
        services = build_services(settings)
        try:
            return await action(services)
        finally:
            await close_services(services)

    try:
        return asyncio.run(runner())
    except OnboardflowError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the latest version."""
    settings = load_settings()
    try:
        migrations.upgrade(settings.database_url)
    except OnboardflowError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    console.print(f"database at revision {migrations.current_revision(settings.database_url)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Migrate, then serve the API and web UI (with an embedded worker unless disabled)."""
    import uvicorn

    from onboardflow.api.app import create_app

    settings = load_settings()
    configure_logging(settings.log_level)
    migrations.upgrade(settings.database_url)
    demo = run_with_services(settings, accounts.ensure_demo_access)
    url = f"http://{host}:{port}"
    console.print(f"onboardflow serving on [bold]{url}[/bold]  (API docs: {url}/docs)")
    if demo is not None:
        console.print("A demo organisation was created on this fresh database:")
        console.print(f"  organisation: {demo.organisation}")
        console.print(f"  email:        {demo.email}")
        console.print(f"  password:     {demo.password}")
        console.print(f"  API token:    {demo.token}")
    # Bounded, so that open event streams cannot hold a shutdown for long.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
    )


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the simulated data (default: the setting).")
    ] = None,
) -> None:
    """Serve the simulated external services over HTTP (for `ONBOARDFLOW_ADAPTERS=http`)."""
    import uvicorn

    from onboardflow.adapters.faults import FaultPlan
    from onboardflow.adapters.sandbox import create_sandbox_app

    settings = load_settings()
    configure_logging(settings.log_level)
    app_ = create_sandbox_app(
        seed=settings.simulation_seed if seed is None else seed,
        faults=FaultPlan.from_dict(settings.simulation_faults) if settings.simulation_faults else None,
    )
    console.print(f"simulated Pumpd, image CDN, extraction and companies register on http://{host}:{port}")
    uvicorn.run(app_, host=host, port=port, log_level=settings.log_level.lower(), timeout_graceful_shutdown=5)


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(help="Jobs each process runs at once (default: the setting).", min=1, max=1000),
    ] = None,
    processes: Annotated[
        int | None, typer.Option(help="Worker processes to start (default: the setting).", min=1, max=64)
    ] = None,
) -> None:
    """Run workers only (no API): claim and run jobs until SIGTERM or SIGINT, then stop gracefully."""
    settings = load_settings(**({"worker_concurrency": concurrency} if concurrency else {}))
    configure_logging(settings.log_level)
    concurrency = settings.worker_concurrency
    processes = processes or settings.worker_processes
    if processes == 1:
        run_worker_process(settings, build_worker_deps, concurrency=concurrency)
    else:
        raise typer.Exit(supervise_worker_processes(processes, concurrency))


@org_app.command("create")
def org_create(name: Annotated[str, typer.Argument(help="Name of the organisation.")]) -> None:
    """Create an organisation."""
    org = run_with_services(load_settings(), lambda s: accounts.create_organisation(s, name))
    console.print(f"created organisation {org.name} {org.id}")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option("--org", help="Name of the user's organisation.")],
    email: Annotated[str, typer.Option("--email", help="The user's email, used to sign in.")],
    role: Annotated[UserRole, typer.Option("--role", help="member, admin or super_admin.")] = UserRole.MEMBER,
) -> None:
    """Create a user; prints the generated password as the last word."""
    _user, password = run_with_services(
        load_settings(), lambda s: accounts.create_user(s, organisation=org, email=email, role=role)
    )
    typer.echo(f"created user {email} ({role.value}) in {org}; password: {password}")


@token_app.command("create")
def token_create(
    org: Annotated[str, typer.Option("--org", help="Name of the token's organisation.")],
    name: Annotated[str, typer.Option("--name", help="A label for the token.")] = "api",
    role: Annotated[UserRole, typer.Option("--role", help="Role the token acts with.")] = UserRole.ADMIN,
) -> None:
    """Create an API token; prints it once, as the last word."""
    token = run_with_services(
        load_settings(), lambda s: accounts.create_token(s, organisation=org, name=name, role=role)
    )
    typer.echo(f"created API token for {org} (store it now, it is not shown again): {token}")


app.command("prune")(prune)
app.command("demo")(demo_command)
