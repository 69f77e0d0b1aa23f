"""Deployment settings, read only at the edges (worker, API, CLI, dev stack).

Every value can be set by an environment variable prefixed ``UCB_`` (or a ``.env``
file). Workflows never read settings: what a case needs is snapshotted into its input.
"""

from __future__ import annotations

import base64
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import AfterValidator, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEV_SECRET = "dev-only-secret-not-for-production-use"  # noqa: S105 - refused in production
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "dev-only-secret", "secret", DEV_SECRET}
)
# Development-only payload keys (32 bytes, base64); production refuses them. "dev-1"
# encrypted payloads before they were bound to their workflow; "dev-2" binds them.
DEV_CODEC_KEYS = {
    "dev-1": "ZGV2LW9ubHktcGF5bG9hZC1rZXktbm90LWZvci1wcmQ=",
    "dev-2": "ZGV2LW9ubHktYm91bmQtcGF5bG9hZC1rZXktMi1wcmQ=",
}
# The month each profile's policy is reviewed in, by default (Magna reviews its policy
# every year; Housing Solutions sets no annual review).
ANNUAL_REVIEW_MONTHS = {"magna": 4}
LOOPBACK_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1", "0.0.0.0"})
# A random secret of 32 characters has far more distinct characters than this.
MIN_DISTINCT_SECRET_CHARS = 12
MIN_DISTINCT_KEY_BYTES = 16


def _rate_limit(value: str) -> str:
    """A ``limits`` rate-limit string ("60/minute", "10/minute;100/hour"), checked now."""
    parse_many(value)
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


def _address_or_network(value: str) -> str:
    """An IP address or network ("10.0.0.5", "10.0.0.0/8"); nothing else is trusted."""
    ipaddress.ip_network(value, strict=False)
    return value


AddressOrNetwork = Annotated[str, AfterValidator(_address_or_network)]


def read_secret_file(path: Path, variable: str) -> str:
    """The secret in ``path`` (a Docker secret file), without its trailing newline."""
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        raise ValueError(f"{variable}: cannot read {path}: {error.strerror}") from None
    if not secret:
        raise ValueError(f"{variable}: {path} is empty")
    return secret


def weak_secret_problem(secret: str) -> str | None:
    """Why ``secret`` may not sign production tokens (None when it may)."""
    if secret.strip().lower() in PLACEHOLDER_SECRETS or any(
        placeholder and placeholder in secret.lower() for placeholder in PLACEHOLDER_SECRETS
    ):
        return "a known placeholder"
    if len(secret) < 32:
        return "shorter than 32 characters"
    if len(set(secret)) < MIN_DISTINCT_SECRET_CHARS:
        return f"fewer than {MIN_DISTINCT_SECRET_CHARS} distinct characters (not random)"
    return None


def weak_codec_key_problem(key_id: str, encoded: str) -> str | None:
    """Why the payload key ``key_id`` may not encrypt production payloads (None if it may)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return f"{key_id}: not base64"
    if raw in {base64.b64decode(dev) for dev in DEV_CODEC_KEYS.values()}:
        return f"{key_id}: the development key"
    if len(raw) != 32:
        return f"{key_id}: {len(raw)} bytes, not 32"
    if len(set(raw)) < MIN_DISTINCT_KEY_BYTES:
        return f"{key_id}: fewer than {MIN_DISTINCT_KEY_BYTES} distinct bytes (not random)"
    return None


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
    # A file holding the records database password (a Docker secret): it is put into
    # UCB_DATABASE_URL, which then names only the user (README "Production").
    database_password_file: Path | None = None

    # Letters
    smtp_host: str = "localhost"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    # A file holding the SMTP relay password (a Docker secret), instead of UCB_SMTP_PASSWORD.
    smtp_password_file: Path | None = None
    smtp_starttls: bool = False
    letters_from: str = "Customer Relations <customer.relations@landlord.example>"
    landlord_name: str = "Housing Solutions"
    # Printed in every letter (letters.render.LandlordContacts): where to send an appeal,
    # how to complain, how to reach the Ombudsman. Set the first two for production.
    appeals_contact: str = Field(
        default=(
            "Customer Relations, by replying to this letter (by email or by post), saying that "
            "it is an appeal"
        ),
        min_length=1,
    )
    complaints_contact: str = Field(
        default=(
            "Customer Relations, by replying to this letter (by email or by post), or by telling "
            "any member of our staff that you want to make a complaint"
        ),
        min_length=1,
    )
    ombudsman_contact: str = Field(
        default=(
            "Housing Ombudsman Service, PO Box 1484, Unit D, Preston, PR2 0ET; "
            "telephone 0300 111 3000; www.housing-ombudsman.org.uk"
        ),
        min_length=1,
    )
    # Overdue tasks are escalated by email to these shared mailboxes (role -> address).
    role_mailboxes: dict[str, str] = Field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8000"
    outbox_dir: Path | None = None
    post_room_dir: Path | None = None

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Intake: an incident stored but never handed to its case (the API stopped between the
    # two) is withdrawn after this many seconds by the worker's sweep.
    intake_grace_seconds: int = Field(default=600, gt=0)

    # Retention (policy/retention.py, README "Retention"): an episode's personal data is
    # removed this many days after the case is set aside (12 months after it closed);
    # UCB_RETENTION_SECONDS overrides the days (tests and demos). The Temporal Schedule
    # runs the purge every UCB_RETENTION_INTERVAL_SECONDS, at most UCB_RETENTION_BATCH
    # episodes a run.
    retention_days: int = Field(default=1826, gt=0)
    retention_seconds: int | None = Field(default=None, gt=0)
    retention_interval_seconds: int = Field(default=86_400, gt=0)
    retention_batch: int = Field(default=100, gt=0)

    # Board packs (workflows/board_pack.py): the monthly Board pack is made on the 1st of
    # each month at 06:00 London time, for the previous month; UCB_BOARD_PACK_INTERVAL_SECONDS
    # runs it every so many seconds instead (tests and demos). The annual policy review
    # pack is made on the 1st of UCB_ANNUAL_REVIEW_MONTH (1-12; 0: none) for the previous
    # twelve months; unset, the profile decides (Magna: April; Housing Solutions: none).
    board_pack_interval_seconds: int | None = Field(default=None, gt=0)
    annual_review_month: int | None = Field(default=None, ge=0, le=12)

    # Policy
    policy_profile: Literal["housing_solutions", "magna"] = "housing_solutions"
    # Seconds for any profile duration, e.g. UCB_DURATIONS='{"review_period_default": 10}'
    durations: dict[str, int] = Field(default_factory=dict)

    # Security
    secret_key: str = DEV_SECRET
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    # A claim on a task lapses after this long (a shift); a role it escalated to may take
    # it over at any time.
    claim_seconds: int = Field(default=8 * 3600, gt=0)
    # How long a recorded break-glass reason opens a case one is not involved in (a shift;
    # at most a week).
    break_glass_seconds: int = Field(default=8 * 3600, gt=0, le=7 * 24 * 3600)
    update_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long an API process keeps its answer to "was this token revoked?" (one read of
    # the revocation list per token per period; 0: read it on every request). A revocation
    # made through the process (POST /v1/revocations, the inbox's sign-out) applies at
    # once; one made through another API process is refused here at most this many
    # seconds later.
    revocation_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Payload encryption: key id -> base64 of 32 random bytes; the active key encrypts,
    # every listed key decrypts (rotation: add a key, make it active, keep the old one).
    codec_keys: dict[str, str] = Field(default_factory=lambda: dict(DEV_CODEC_KEYS))
    codec_active_key: str = "dev-2"
    # Origins allowed to call the codec endpoint from a browser (the Temporal UI); CORS
    # applies to the codec endpoint only.
    codec_cors_origins: list[str] = Field(default_factory=list)
    # Request bodies over these sizes get 413 before authentication (the largest incident,
    # 10,000 characters of description, is well under 0.2 MB as JSON).
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    codec_max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Rate limits (api/ratelimit.py), "N/second|minute|hour|day", several joined by ";":
    # intake and inbox sign-in per verified token subject, and separately per client
    # address. Counters live in UCB_RATE_LIMIT_STORAGE (a `limits` storage URI); the
    # default keeps them in the process, so several API processes each count on their own.
    rate_limit_intake: RateLimit = "60/minute"
    rate_limit_intake_per_address: RateLimit = "120/minute"
    rate_limit_sign_in: RateLimit = "10/minute"
    rate_limit_sign_in_per_address: RateLimit = "30/minute"
    rate_limit_storage: str = "async+memory://"
    # Addresses or networks of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto
    # are believed (client address for rate limits; HTTPS for the Secure cookie). Forwarded
    # headers from any other peer are ignored.
    trusted_proxies: list[AddressOrNetwork] = Field(default_factory=list)

    # Operations (README "Metrics and logs"): JSON log lines at this level (unless the
    # process configured logging itself); GET /metrics takes an operator token or, when
    # set, this scrape token (at least 32 random characters in production); business
    # gauges are re-read from the records at most every UCB_METRICS_CACHE_SECONDS and the
    # stuck-case scan (one Temporal call per running case) every
    # UCB_METRICS_STUCK_SCAN_SECONDS (0: never). The worker serves the Temporal SDK's
    # metrics (Prometheus) on UCB_WORKER_METRICS_ADDRESS ("127.0.0.1:9464"; unset: off).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: str | None = None
    # A file holding the scrape token (a Docker secret), instead of UCB_METRICS_TOKEN.
    metrics_token_file: Path | None = None
    metrics_cache_seconds: float = Field(default=15.0, ge=0)
    metrics_stuck_scan_seconds: float = Field(default=60.0, ge=0)
    worker_metrics_address: str | None = None

    # Worker tuning (worker.build_worker; README "Worker tuning" gives the measurements).
    # Workflows kept in the worker's cache (sticky execution; 0: none); workflow and
    # activity tasks run at once; concurrent polls of the task queue for each (at least 2
    # while workflows are cached). Every case's run gets its workflow task timeout from
    # UCB_WORKFLOW_TASK_TIMEOUT_SECONDS (at most 120, Temporal's limit).
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    worker_max_concurrent_activities: int = Field(default=100, ge=1)
    worker_max_concurrent_workflow_task_polls: int = Field(default=5, ge=1)
    worker_max_concurrent_activity_task_polls: int = Field(default=5, ge=1)
    # How long a case's next workflow task may wait on this worker's sticky queue before
    # the server times it out and hands it (and a full replay) to any worker: 30 s, not
    # the SDK's 10 s, so that a burst of due timers queues instead of timing out.
    worker_sticky_schedule_to_start_seconds: float = Field(default=30.0, gt=0, le=600)
    workflow_task_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Secrets given as files (``UCB_*_FILE``, Docker secrets) become their values."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for secret in ("smtp_password", "metrics_token"):
            path = data.get(f"{secret}_file")
            if path:
                data[secret] = read_secret_file(Path(path), f"UCB_{secret.upper()}_FILE")
        path = data.get("database_password_file")
        if path:
            password = read_secret_file(Path(path), "UCB_DATABASE_PASSWORD_FILE")
            url = str(data.get("database_url") or "")
            if not url or url.startswith("sqlite"):
                raise ValueError("UCB_DATABASE_PASSWORD_FILE needs a PostgreSQL UCB_DATABASE_URL")
            parsed = make_url(url)
            if parsed.password is not None:
                raise ValueError(
                    "UCB_DATABASE_URL carries a password and UCB_DATABASE_PASSWORD_FILE is set: "
                    "name only the user in the URL"
                )
            data["database_url"] = parsed.set(password=password).render_as_string(
                hide_password=False
            )
        return data

    @model_validator(mode="after")
    def _refuse_weak_metrics_token(self) -> Settings:
        if self.environment == "production" and self.metrics_token:
            weak = weak_secret_problem(self.metrics_token)
            if weak:
                raise ValueError(f"UCB_METRICS_TOKEN is {weak}: use 32 or more random characters")
        return self

    @model_validator(mode="after")
    def _derive_paths_and_refuse_placeholders(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.var_dir / 'records.sqlite3'}"
        if self.outbox_dir is None:
            self.outbox_dir = self.var_dir / "outbox"
        if self.post_room_dir is None:
            self.post_room_dir = self.var_dir / "post-room"
        if self.environment == "production":
            weak = weak_secret_problem(self.secret_key)
            if weak:
                raise ValueError(
                    "UCB_SECRET_KEY must be set to a random value of at least 32 characters "
                    f"in production (placeholder and weak secrets are refused): it is {weak}"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("UCB_DATABASE_URL must point at PostgreSQL in production")
            weak_keys = [
                problem
                for key_id, encoded in self.codec_keys.items()
                if (problem := weak_codec_key_problem(key_id, encoded))
            ]
            if weak_keys:
                raise ValueError(
                    "UCB_CODEC_KEYS must hold only random 32-byte keys in production, never "
                    "the development key under any id: " + "; ".join(weak_keys)
                )
            if not self.role_mailboxes:
                raise ValueError(
                    "UCB_ROLE_MAILBOXES must name the shared mailbox of each deciding role in "
                    "production: without it an overdue task's escalation reaches no one"
                )
            public = urlsplit(self.public_url)
            if public.scheme != "https" or (public.hostname or "") in LOOPBACK_HOSTS:
                raise ValueError(
                    "UCB_PUBLIC_URL must be the https address staff reach the API at in "
                    f"production (escalation e-mails link to it), not {self.public_url!r}"
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

    @property
    def annual_review_month_in_force(self) -> int:
        """The month (1-12) of the annual policy review pack; 0 when there is none."""
        if self.annual_review_month is not None:
            return self.annual_review_month
        return ANNUAL_REVIEW_MONTHS.get(self.policy_profile, 0)

    @property
    def retention_period_seconds(self) -> int:
        """How long after a case is set aside its personal data is kept."""
        return self.retention_seconds or self.retention_days * 86_400


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
