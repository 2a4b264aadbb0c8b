from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from servicekit.auth import TokenVerifier, issue_token
from servicekit.errors import AuthenticationError
from servicekit.settings import ServiceSettings

pytestmark = pytest.mark.unit

KEY = "unit-test-signing-key-of-32-bytes-or-more"


def settings(**overrides: object) -> ServiceSettings:
    return ServiceSettings(service_name="crm", jwt_secret_key=SecretStr(KEY), **overrides)  # type: ignore[arg-type]


def test_token_yields_principal() -> None:
    token = issue_token(KEY, "u-1", name="Ольга", department="sales", workgroups=["key-accounts"], roles=["manager"])
    principal = TokenVerifier(settings()).verify(token)
    assert principal.user_id == "u-1"
    assert principal.name == "Ольга"
    assert principal.department == "sales"
    assert principal.workgroups == ["key-accounts"]
    assert principal.roles == ["manager"]
    assert not principal.is_admin


def test_expired_token_is_rejected() -> None:
    token = issue_token(KEY, "u-1", ttl=timedelta(seconds=-5))
    with pytest.raises(AuthenticationError, match="expired"):
        TokenVerifier(settings()).verify(token)


def test_token_signed_with_other_key_is_rejected() -> None:
    token = issue_token("another-signing-key-of-32-bytes-or-more", "u-1")
    with pytest.raises(AuthenticationError, match="invalid"):
        TokenVerifier(settings()).verify(token)


def test_production_refuses_development_key() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        ServiceSettings(service_name="crm", environment="production")


def test_server_url_without_database_gets_service_database() -> None:
    configured = settings(database_url="postgresql+asyncpg://clientwork:secret@127.0.0.1:5432")
    assert configured.sqlalchemy_url == "postgresql+asyncpg://clientwork:secret@127.0.0.1:5432/crm"


def test_default_database_is_sqlite_file() -> None:
    embedded = settings(database_url=None)
    assert embedded.sqlalchemy_url.startswith("sqlite+aiosqlite:///")
    assert embedded.sqlalchemy_url.endswith("/crm.db")


def test_topic_prefix_applies_to_topics_and_group() -> None:
    configured = settings(kafka_topic_prefix="staging.")
    assert configured.topic("crm.deals") == "staging.crm.deals"
    assert configured.consumer_group == "staging.crm"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("roles", "admin"), ("roles", 5), ("workgroups", 5), ("department", {"name": "sales"})],
)
def test_claims_of_wrong_type_are_rejected(claim: str, value: object) -> None:
    token = jwt.encode(
        {"sub": "u-1", "iss": "clientwork", "exp": datetime.now(UTC) + timedelta(hours=1), claim: value},
        KEY,
        algorithm="HS256",
    )
    with pytest.raises(AuthenticationError, match=claim):
        TokenVerifier(settings()).verify(token)


def test_token_of_other_issuer_is_rejected() -> None:
    token = issue_token(KEY, "u-1", issuer="someone-else")
    with pytest.raises(AuthenticationError, match="invalid"):
        TokenVerifier(settings()).verify(token)
