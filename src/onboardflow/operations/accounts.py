"""Organisations, users, API tokens and authentication."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from onboardflow.domain.records import Organisation, Principal, User
from onboardflow.domain.statuses import UserRole
from onboardflow.errors import Conflict, InvalidInput, Unauthenticated
from onboardflow.operations.services import Services
from onboardflow.store import accounts as store

TOKEN_PREFIX = "obf_"
_hasher = PasswordHasher()


def hash_token(token: str) -> str:
    """The stored form of an API token: its SHA-256 (tokens are long random strings)."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A random password a person can still type."""
    return secrets.token_urlsafe(12)


async def create_organisation(services: Services, name: str) -> Organisation:
    """Create an organisation; ``Conflict`` naming it if the name is taken."""
    name = name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    try:
        async with services.db.write() as conn:
            return await store.insert_organisation(conn, name)
    except Conflict as exc:
        raise Conflict(f"an organisation named {name!r} already exists") from exc


async def create_user(
    services: Services,
    *,
    organisation: str,
    email: str,
    role: UserRole,
    password: str | None = None,
    name: str | None = None,
) -> tuple[User, str]:
    """Create a user in the named organisation; returns the user and the password to hand over."""
    if "@" not in email:
        raise InvalidInput("email", "is not an email address")
    password = password or generate_password()
    try:
        async with services.db.write() as conn:
            org = await store.get_organisation_by_name(conn, organisation)
            user = await store.insert_user(
                conn,
                organisation_id=org.id,
                email=email,
                password_hash=_hasher.hash(password),
                role=role.value,
                name=name,
            )
    except Conflict as exc:
        raise Conflict(f"a user with email {email!r} already exists") from exc
    return user, password


async def create_token(
    services: Services,
    *,
    organisation: str,
    name: str = "api",
    role: UserRole = UserRole.ADMIN,
    user_id: UUID | None = None,
) -> str:
    """Create an API token for the named organisation and return it (it is shown only this once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with services.db.write() as conn:
        org = await store.get_organisation_by_name(conn, organisation)
        await store.insert_api_token(
            conn,
            organisation_id=org.id,
            token_hash=hash_token(token),
            prefix=token[:10],
            name=name,
            role=role.value,
            user_id=user_id,
        )
    return token


async def authenticate_token(services: Services, token: str) -> Principal:
    """The principal of a bearer token; ``Unauthenticated`` for an unknown or revoked one."""
    async with services.db.read() as conn:
        row = await store.find_api_token(conn, hash_token(token))
    if row is None:
        raise Unauthenticated("invalid or revoked token")
    return Principal(
        organisation_id=row["organisation_id"],
        role=UserRole(row["role"]),
        user_id=row["user_id"],
        token_id=row["id"],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    principal: Principal
    email: str


async def sign_in(services: Services, email: str, password: str) -> SignedIn:
    """Check an email and password; ``Unauthenticated`` without saying which was wrong."""
    async with services.db.read() as conn:
        user = await store.find_user_by_email(conn, email.strip())
    if user is None or not _password_matches(user, password):
        raise Unauthenticated("wrong email or password")
    async with services.db.write() as conn:
        await store.record_login(conn, user.id)
    return SignedIn(
        principal=Principal(organisation_id=user.organisation_id, role=UserRole(user.role), user_id=user.id),
        email=user.email,
    )


def _password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoAccess:
    organisation: str
    email: str
    password: str
    token: str


DEMO_ORGANISATION = "Demo Restaurants"
DEMO_EMAIL = "demo@onboardflow.local"


async def ensure_demo_access(services: Services) -> DemoAccess | None:
    """On a database without organisations, create a demo organisation, user and token.

    Returns what was created, or None when the database already had an organisation.
    """
    async with services.db.read() as conn:
        if await store.count_organisations(conn) > 0:
            return None
    await create_organisation(services, DEMO_ORGANISATION)
    user, password = await create_user(
        services, organisation=DEMO_ORGANISATION, email=DEMO_EMAIL, role=UserRole.ADMIN, name="Demo operator"
    )
    token = await create_token(services, organisation=DEMO_ORGANISATION, name="demo", user_id=user.id)
    return DemoAccess(organisation=DEMO_ORGANISATION, email=user.email, password=password, token=token)
