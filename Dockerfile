# Production image for ucb-cases: the worker, the API and the migrations all run from it
# (docker-compose.yml picks the command per service).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UCB_VAR_DIR=/data

WORKDIR /app

# Dependencies first, so editing the source does not reinstall them. Every wheel is pinned
# by hash; nothing outside the lock is installed. requirements-runtime.lock is the runtime
# closure of pyproject.toml plus setuptools (the build backend, for the build below): no
# test or lint tool (pytest, schemathesis, playwright, ruff, mypy: requirements.lock).
COPY requirements-runtime.lock pyproject.toml ./
RUN pip install --require-hashes --no-deps -r requirements-runtime.lock

# The source: exactly what pyproject.toml packages, plus the Alembic configuration
# (alembic.ini points at records/migrations, relative to this directory).
COPY settings.py tokens.py worker.py alembic.ini ./
COPY workflows/ workflows/
COPY activities/ activities/
COPY policy/ policy/
COPY records/ records/
COPY letters/ letters/
COPY reports/ reports/
COPY api/ api/
COPY starter/ starter/
COPY ucbclient/ ucbclient/
COPY devstack/ devstack/
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info

# Run as an unprivileged user; /data (UCB_VAR_DIR: outbox, post room) is the only place
# it writes, and a volume mounted there inherits this ownership.
RUN groupadd --system --gid 10001 ucb \
    && useradd --system --uid 10001 --gid ucb --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin ucb \
    && mkdir -p /data \
    && chown ucb:ucb /data
USER 10001:10001

CMD ["python", "worker.py"]
