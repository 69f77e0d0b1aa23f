"""Deployment settings, read only at the edges (worker, API, CLI, dev stack).

Every value can be set by an environment variable prefixed ``UCB_`` (or a ``.env``
file). Workflows never read settings: what a case needs is snapshotted into its input.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-not-for-production-use"  # noqa: S105 - refused in production
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "dev-only-secret", "secret", DEV_SECRET}
)
# Development-only payload key (32 bytes, base64); production refuses it.
DEV_CODEC_KEYS = {"dev-1": "ZGV2LW9ubHktcGF5bG9hZC1rZXktbm90LWZvci1wcmQ="}


class Settings(BaseSettings):
    """Every knob of a deployment, with development defaults."""

    model_config = SettingsConfigDict(env_prefix="UCB_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "ucb-cases"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    # Records
    database_url: str = ""

    # Letters
    smtp_host: str = "localhost"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    letters_from: str = "Customer Relations <customer.relations@landlord.example>"
    landlord_name: str = "Housing Solutions"
    # Overdue tasks are escalated by email to these shared mailboxes (role -> address).
    role_mailboxes: dict[str, str] = Field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8000"
    outbox_dir: Path | None = None
    post_room_dir: Path | None = None

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Policy
    policy_profile: Literal["housing_solutions", "magna"] = "housing_solutions"
    # Seconds for any profile duration, e.g. UCB_DURATIONS='{"review_period_default": 10}'
    durations: dict[str, int] = Field(default_factory=dict)

    # Security
    secret_key: str = DEV_SECRET
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    update_timeout_seconds: float = Field(default=10.0, gt=0)
    # Payload encryption: key id -> base64 of 32 random bytes; the active key encrypts,
    # every listed key decrypts (rotation: add a key, make it active, keep the old one).
    codec_keys: dict[str, str] = Field(default_factory=lambda: dict(DEV_CODEC_KEYS))
    codec_active_key: str = "dev-1"
    # Origins allowed to call the codec endpoint from a browser (the Temporal UI).
    codec_cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _derive_paths_and_refuse_placeholders(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir / 'records.sqlite3'}"
        if self.outbox_dir is None:
            self.outbox_dir = self.var_dir / "outbox"
        if self.post_room_dir is None:
            self.post_room_dir = self.var_dir / "post-room"
        if self.environment == "production":
            if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS or len(self.secret_key) < 32:
                raise ValueError(
                    "UCB_SECRET_KEY must be set to a random value of at least 32 characters "
                    "in production (placeholder secrets are refused)"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("UCB_DATABASE_URL must point at PostgreSQL in production")
            if set(self.codec_keys.items()) & set(DEV_CODEC_KEYS.items()):
                raise ValueError(
                    "UCB_CODEC_KEYS must not contain the development key in production"
                )
        if self.codec_active_key not in self.codec_keys:
            raise ValueError(
                f"UCB_CODEC_ACTIVE_KEY {self.codec_active_key!r} is not one of UCB_CODEC_KEYS"
            )
        return self

    @property
    def outbox(self) -> Path:
        assert self.outbox_dir is not None
        return self.outbox_dir

    @property
    def post_room(self) -> Path:
        assert self.post_room_dir is not None
        return self.post_room_dir


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
