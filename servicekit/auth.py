"""Bearer-JWT authentication of staff users.

HS256 with a shared key for local runs; RS256 with keys from an identity provider's JWKS URL in
production. The claims become a :class:`Principal`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from servicekit.errors import AuthenticationError
from servicekit.settings import ServiceSettings


class Principal(BaseModel):
    """Authenticated staff user."""

    # Strict, so that a claim such as ``roles: "admin"`` is rejected instead of read as characters.
    model_config = ConfigDict(strict=True)

    user_id: str
    name: str = ""
    department: str | None = None
    workgroups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class TokenVerifier:
    """Checks bearer tokens against the configured key or JWKS."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    def verify(self, token: str) -> Principal:
        """Decode and validate ``token``; raise :class:`AuthenticationError` if it is not acceptable."""
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256"]
            else:
                key = self._settings.jwt_secret_key.get_secret_value()
                algorithms = ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                options={
                    "require": ["sub", "exp", "iss"],
                    "verify_aud": self._settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("bearer token has expired; request a new one") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"bearer token is invalid: {exc}") from exc
        try:
            return Principal(
                user_id=claims["sub"],
                name=claims.get("name") or "",
                department=claims.get("department"),
                workgroups=claims.get("workgroups") or [],
                roles=claims.get("roles") or [],
            )
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise AuthenticationError(f"bearer token has claims of the wrong type: {fields}") from exc


def issue_token(
    secret_key: str,
    user_id: str,
    *,
    name: str = "",
    department: str | None = None,
    workgroups: list[str] | None = None,
    roles: list[str] | None = None,
    ttl: timedelta = timedelta(hours=12),
    issuer: str = "clientwork",
) -> str:
    """Issue an HS256 token for local use and tests."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "name": name,
        "department": department,
        "workgroups": workgroups or [],
        "roles": roles or [],
        "iss": issuer,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, secret_key, algorithm="HS256")


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the principal of the request's bearer token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing bearer token: send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(token.strip())


CurrentUser = Annotated[Principal, Depends(current_principal)]
