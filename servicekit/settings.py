"""Typed settings shared by every service; each service subclasses :class:`ServiceSettings`."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

from servicekit.request_limits import DEFAULT_MAX_REQUEST_BYTES

DEVELOPMENT_JWT_KEY = "development-only-signing-key-change-me"


class ServiceSettings(BaseSettings):
    """Settings read from the environment once, at start-up, and injected from there on."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str = Field(description="Name of the service, used in events, logs and group ids.")
    environment: str = Field(default="development", description="development, test or production.")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; unset means a SQLite file in data_dir.",
    )
    data_dir: Path = Field(default=Path("var"), description="Folder for the SQLite file and stored files.")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:19092")
    kafka_topic_prefix: str = Field(
        default="",
        description="Prefix of every topic name, to run several systems on one cluster.",
    )
    consumer_max_attempts: int = Field(default=5, ge=1, description="Attempts before a message is dead-lettered.")
    consumer_backoff_seconds: float = Field(default=0.2, ge=0, description="First retry delay; doubles each time.")
    consumer_backoff_max_seconds: float = Field(default=5.0, ge=0)

    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_poll_seconds: float = Field(default=0.05, gt=0, description="Relay pause when the outbox is empty.")
    run_outbox_relay: bool = Field(default=True, description="Run the outbox relay inside the service process.")

    http_host: str = Field(default="127.0.0.1")
    http_port: int = Field(default=8000, ge=1, le=65535)
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        description="Largest accepted request body, in bytes, on routes without a limit of their own.",
    )

    jwt_secret_key: SecretStr = Field(default=SecretStr(DEVELOPMENT_JWT_KEY), description="HS256 signing key.")
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL of an identity provider (RS256).")
    jwt_audience: str | None = None
    jwt_issuer: str = Field(default="clientwork")

    log_level: str = Field(default="INFO")
    log_json: bool | None = Field(default=None, description="JSON logs; unset means JSON unless on a terminal.")

    @model_validator(mode="after")
    def _reject_default_key_outside_development(self) -> Self:
        using_default = self.jwt_secret_key.get_secret_value() == DEVELOPMENT_JWT_KEY
        if using_default and self.jwt_jwks_url is None and self.environment not in ("development", "test"):
            raise ValueError(
                "JWT_SECRET_KEY is the development default; set a real key or JWT_JWKS_URL "
                f"when ENVIRONMENT={self.environment}"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = make_url(self.database_url)
            if not url.database and not url.drivername.startswith("sqlite"):
                # A server URL without a database name means the database named after the service.
                url = url.set(database=self.service_name)
            return url.render_as_string(hide_password=False)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

    def topic(self, name: str) -> str:
        """Return the real topic name of a contract topic."""
        return self.kafka_topic_prefix + name

    @property
    def consumer_group(self) -> str:
        return f"{self.kafka_topic_prefix}{self.service_name}"
