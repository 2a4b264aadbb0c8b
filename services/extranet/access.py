"""Use cases of portal access: invitations, portal users, sign-in with lockout, sessions and the audit.

Tokens are 256-bit random values. Only their SHA-256 is stored, which is enough for a token that
cannot be guessed; passwords, which people choose, are hashed with argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, EmailStr, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorType
from contracts.extranet import (
    AccessAction,
    AccessObject,
    AccessRecord,
    AccessRecorded,
    InvitationAccepted,
    InvitationCreated,
    InvitationRevoked,
    InvitationState,
    PortalUserCreated,
    PortalUserRevoked,
    PortalUserState,
)
from contracts.topics import Topic
from servicekit.errors import Conflict, NotFound, ValidationFailed
from servicekit.outbox import record_event
from services.extranet.errors import InvitationRejected, SignInFailed, SignInLocked
from services.extranet.settings import ExtranetSettings
from services.extranet.tables import (
    AccessLogEntry,
    Invitation,
    PortalSession,
    PortalUser,
    SignInFailures,
    SourceContact,
)

logger = logging.getLogger(__name__)

PASSWORD_HASHER = PasswordHasher()
# A failed sign-in is delayed by the per-failure delay times the failures in a row, up to this cap.
MAX_SIGN_IN_DELAY_SECONDS = 5.0
# Stored for a user who accepted by one-time link: argon2 rejects it as a hash, so no password matches.
NO_PASSWORD = "!"  # noqa: S105 - a marker that no password matches, not a secret
# Verified when the e-mail is unknown, so an unknown address costs as much time as a wrong password.
_DUMMY_HASH = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))


class CreateInvitation(BaseModel):
    """Invite a contact of the client company to the portal."""

    email: EmailStr = Field(description="Address the invitation goes to.")
    contact_id: uuid.UUID | None = Field(default=None, description="CRM contact of the company being invited.")


class AcceptInvitation(BaseModel):
    """Accept an invitation by choosing a password, or without one as a one-time sign-in link."""

    token: str = Field(min_length=1, max_length=200)
    password: str | None = Field(
        default=None,
        max_length=1000,
        description="New password; without it the invitation signs the person in once and sets no password.",
    )


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: InvitationState
    token: str


@dataclass(frozen=True)
class SignedIn:
    user: PortalUser
    session_token: str
    csrf_token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def invitation_state(invitation: Invitation) -> InvitationState:
    if invitation.accepted_at is not None:
        status = "accepted"
    elif invitation.revoked_at is not None:
        status = "revoked"
    else:
        status = "pending"
    return InvitationState(
        id=invitation.id,
        company_id=invitation.company_id,
        contact_id=invitation.contact_id,
        email=invitation.email,
        status=status,
        expires_at=invitation.expires_at,
        invited_by=invitation.invited_by,
        portal_user_id=invitation.portal_user_id,
    )


def portal_user_state(user: PortalUser) -> PortalUserState:
    return PortalUserState(
        id=user.id,
        company_id=user.company_id,
        contact_id=user.contact_id,
        email=user.email,
        status="revoked" if user.revoked_at is not None else "active",
    )


async def create_invitation(
    session: AsyncSession,
    settings: ExtranetSettings,
    company_id: uuid.UUID,
    command: CreateInvitation,
    *,
    actor: Actor,
    correlation_id: str,
) -> IssuedInvitation:
    """Create an invitation and record ``InvitationCreated``; the plain token is returned only here."""
    if command.contact_id is not None:
        contact = await session.get(SourceContact, command.contact_id)
        if contact is None or contact.deleted or contact.company_id != company_id:
            raise ValidationFailed(
                f"contact {command.contact_id} is not a contact of company {company_id}", field="contact_id"
            )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        id=uuid.uuid4(),
        version=1,
        token_hash=hash_token(token),
        company_id=company_id,
        contact_id=command.contact_id,
        email=command.email.lower(),
        invited_by=actor.id,
        created_at=now(),
        expires_at=now() + timedelta(hours=settings.invitation_ttl_hours),
    )
    session.add(invitation)
    state = invitation_state(invitation)
    _record(
        session,
        settings,
        event_class=InvitationCreated,
        aggregate_id=invitation.id,
        version=1,
        data=state,
        actor=actor,
        correlation_id=correlation_id,
    )
    return IssuedInvitation(invitation=state, token=token)


async def revoke_invitation(
    session: AsyncSession, settings: ExtranetSettings, invitation_id: uuid.UUID, *, actor: Actor, correlation_id: str
) -> InvitationState:
    """Revoke a pending invitation so its token no longer works."""
    invitation = await session.get(Invitation, invitation_id, with_for_update=True)
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} not found", id=str(invitation_id), status="not_found")
    if invitation.accepted_at is not None:
        raise Conflict(f"invitation {invitation_id} was already accepted; revoke the portal user instead")
    if invitation.revoked_at is None:
        invitation.revoked_at = now()
        invitation.version += 1
        state = invitation_state(invitation)
        _record(
            session,
            settings,
            event_class=InvitationRevoked,
            aggregate_id=invitation.id,
            version=invitation.version,
            data=state,
            actor=actor,
            correlation_id=correlation_id,
        )
    return invitation_state(invitation)


async def accept_invitation(
    session: AsyncSession, settings: ExtranetSettings, command: AcceptInvitation, *, correlation_id: str
) -> PortalUser:
    """Turn a valid invitation into a portal user with an argon2 password hash; the token is spent."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(command.token)).with_for_update()
    )
    _check_invitation(invitation)
    assert invitation is not None  # _check_invitation raised otherwise
    if command.password is not None and len(command.password) < settings.password_min_length:
        raise ValidationFailed(
            f"password must have at least {settings.password_min_length} characters", field="password"
        )
    password_hash = PASSWORD_HASHER.hash(command.password) if command.password is not None else NO_PASSWORD

    existing = await session.scalar(select(PortalUser).where(PortalUser.email == invitation.email).with_for_update())
    if existing is not None:
        # A new invitation to an existing user is a one-time link, or a password reset when it sets one.
        if existing.company_id != invitation.company_id or existing.revoked_at is not None:
            raise Conflict(f"portal user {invitation.email} belongs to another company or was revoked", field="token")
        if command.password is not None:
            existing.password_hash = password_hash
        _spend(invitation, existing)
        state = invitation_state(invitation)
        actor = Actor(type=ActorType.PORTAL_USER, id=str(existing.id))
        _record(
            session,
            settings,
            event_class=InvitationAccepted,
            aggregate_id=invitation.id,
            version=invitation.version,
            data=state,
            actor=actor,
            correlation_id=correlation_id,
        )
        return existing

    user = PortalUser(
        id=uuid.uuid4(),
        version=1,
        company_id=invitation.company_id,
        contact_id=invitation.contact_id,
        email=invitation.email,
        password_hash=password_hash,
        failed_sign_ins=0,
        created_at=now(),
    )
    session.add(user)
    # Flushed now, because a session row that refers to the user may be added next in this transaction.
    await session.flush()
    _spend(invitation, user)

    actor = Actor(type=ActorType.PORTAL_USER, id=str(user.id))
    _record(
        session,
        settings,
        event_class=PortalUserCreated,
        aggregate_id=user.id,
        version=1,
        data=portal_user_state(user),
        actor=actor,
        correlation_id=correlation_id,
    )
    state = invitation_state(invitation)
    _record(
        session,
        settings,
        event_class=InvitationAccepted,
        aggregate_id=invitation.id,
        version=invitation.version,
        data=state,
        actor=actor,
        correlation_id=correlation_id,
    )
    return user


def _spend(invitation: Invitation, user: PortalUser) -> None:
    invitation.accepted_at = now()
    invitation.portal_user_id = user.id
    invitation.version += 1


def _check_invitation(invitation: Invitation | None) -> None:
    # One message for unknown and altered tokens, so the reply does not tell which tokens exist.
    if invitation is None:
        raise InvitationRejected("invitation token is invalid; ask for a new invitation", field="token")
    if invitation.accepted_at is not None:
        raise InvitationRejected("invitation was already used; sign in or ask for a new one", field="token")
    if invitation.revoked_at is not None:
        raise InvitationRejected("invitation was revoked; ask for a new invitation", field="token")
    if invitation.expires_at <= now():
        raise InvitationRejected("invitation has expired; ask for a new invitation", field="token")


async def revoke_portal_user(
    session: AsyncSession, settings: ExtranetSettings, user_id: uuid.UUID, *, actor: Actor, correlation_id: str
) -> PortalUserState:
    """Revoke a portal user and end their sessions, so their next request is refused."""
    user = await session.get(PortalUser, user_id, with_for_update=True)
    if user is None:
        raise NotFound(f"portal user {user_id} not found", id=str(user_id), status="not_found")
    await session.execute(delete(PortalSession).where(PortalSession.portal_user_id == user_id))
    if user.revoked_at is None:
        user.revoked_at = now()
        user.version += 1
        _record(
            session,
            settings,
            event_class=PortalUserRevoked,
            aggregate_id=user.id,
            version=user.version,
            data=portal_user_state(user),
            actor=actor,
            correlation_id=correlation_id,
        )
    return portal_user_state(user)


@dataclass(frozen=True)
class SignInResult:
    """Outcome of a password check; on failure the caller commits the count, waits ``delay_seconds`` and raises."""

    user: PortalUser | None
    error: SignInFailed | SignInLocked | None = None
    delay_seconds: float = 0.0


async def check_password(
    session: AsyncSession, settings: ExtranetSettings, email: str, password: str, address: str
) -> SignInResult:
    """Verify a sign-in from the client ``address``; delay each failure in a row more, and lock out after too many.

    Failures are counted per user and address, so wrong passwords sent by someone else lock out only
    the sender's address. Failures from all addresses together lock the whole account at a higher limit.
    """
    user = await session.scalar(select(PortalUser).where(PortalUser.email == email.lower()).with_for_update())
    if user is None:
        _verify(_DUMMY_HASH, password)
        return SignInResult(None, SignInFailed("e-mail or password is wrong"), settings.sign_in_delay_seconds)
    if user.locked_until is not None and user.locked_until > now():
        return SignInResult(None, _locked(user.locked_until, "for this account, from several addresses"))
    # The user's row lock, taken above, serialises sign-ins of one user, so this read-then-insert is safe.
    failures = await session.get(SignInFailures, (user.id, address[:64]), with_for_update=True)
    if failures is None:
        failures = SignInFailures(portal_user_id=user.id, address=address[:64], failures=0)
        session.add(failures)
    if failures.locked_until is not None and failures.locked_until > now():
        return SignInResult(None, _locked(failures.locked_until, "from this address"))
    if not _verify(user.password_hash, password) or user.revoked_at is not None:
        return SignInResult(None, SignInFailed("e-mail or password is wrong"), _count_failure(user, failures, settings))
    user.failed_sign_ins = 0
    user.locked_until = None
    failures.failures = 0
    failures.locked_until = None
    failures.updated_at = now()
    return SignInResult(user)


def _locked(until: datetime, scope: str) -> SignInLocked:
    retry_after = int((until - now()).total_seconds()) + 1
    return SignInLocked(
        f"too many wrong passwords {scope}; try again in {retry_after} s", retry_after_seconds=retry_after
    )


def _count_failure(user: PortalUser, failures: SignInFailures, settings: ExtranetSettings) -> float:
    failures.failures += 1
    failures.updated_at = now()
    user.failed_sign_ins += 1
    # The delay grows with each failure in a row, which slows password guessing before the lockout.
    delay = min(settings.sign_in_delay_seconds * failures.failures, MAX_SIGN_IN_DELAY_SECONDS)
    lockout = timedelta(seconds=settings.sign_in_lockout_seconds)
    if failures.failures >= settings.sign_in_max_failures:
        failures.locked_until = now() + lockout
        failures.failures = 0
        logger.warning("portal user %s locked out from one address after repeated wrong passwords", user.id)
    if user.failed_sign_ins >= settings.sign_in_account_max_failures:
        user.locked_until = now() + lockout
        user.failed_sign_ins = 0
        logger.warning("portal user %s locked after repeated wrong passwords from several addresses", user.id)
    return delay


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def start_session(session: AsyncSession, settings: ExtranetSettings, user: PortalUser) -> SignedIn:
    """Create a portal session and return its cookie token and CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            token_hash=hash_token(token),
            portal_user_id=user.id,
            csrf_token=csrf_token,
            created_at=now(),
            expires_at=now() + timedelta(hours=settings.session_ttl_hours),
        )
    )
    return SignedIn(user=user, session_token=token, csrf_token=csrf_token)


async def find_session(session: AsyncSession, token: str) -> tuple[PortalSession, PortalUser] | None:
    """Return the live session of a cookie token and its active user, or None."""
    row = await session.get(PortalSession, hash_token(token))
    if row is None or row.expires_at <= now():
        return None
    user = await session.get(PortalUser, row.portal_user_id)
    if user is None or user.revoked_at is not None:
        return None
    return row, user


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def record_access(
    session: AsyncSession,
    settings: ExtranetSettings,
    user: PortalUser,
    *,
    action: AccessAction,
    object_type: AccessObject,
    object_id: uuid.UUID | None,
    correlation_id: str,
) -> None:
    """Add one audit entry and its ``AccessRecorded`` event in the caller's transaction."""
    record = AccessRecord(
        id=uuid.uuid4(),
        portal_user_id=user.id,
        company_id=user.company_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        occurred_at=now(),
    )
    session.add(
        AccessLogEntry(
            record_id=record.id,
            portal_user_id=record.portal_user_id,
            company_id=record.company_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            occurred_at=record.occurred_at,
        )
    )
    actor = Actor(type=ActorType.PORTAL_USER, id=str(user.id))
    _record(
        session,
        settings,
        event_class=AccessRecorded,
        aggregate_id=record.id,
        version=1,
        data=record,
        actor=actor,
        correlation_id=correlation_id,
    )


def _record(
    session: AsyncSession,
    settings: ExtranetSettings,
    *,
    event_class: type[
        InvitationCreated
        | InvitationAccepted
        | InvitationRevoked
        | PortalUserCreated
        | PortalUserRevoked
        | AccessRecorded
    ],
    aggregate_id: uuid.UUID,
    version: int,
    data: InvitationState | PortalUserState | AccessRecord,
    actor: Actor,
    correlation_id: str,
) -> None:
    event = event_class(
        producer=settings.service_name,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        correlation_id=correlation_id,
        actor=actor,
        data=data,
    )
    record_event(session, settings.topic(Topic.EXTRANET_ACCESS), event)


async def delete_expired_sessions(session: AsyncSession) -> int:
    """Delete portal sessions past their expiry and return how many there were."""
    result = await session.execute(delete(PortalSession).where(PortalSession.expires_at <= now()))
    return int(getattr(result, "rowcount", 0) or 0)
