# syntax=docker/dockerfile:1.7
# One-shot image for the compose `migrate` service: it holds the three services
# that own database schemas (gateway, sessions, usage) and runs their migrations
# in order. Kubernetes does not use this image: its migrations Job runs the same
# three commands from the per-service images (deploy/k8s/base/migrate-job.yaml).
# Build context is the repository root:
#   docker build -f deploy/docker/migrate.Dockerfile -t cortex/migrate:dev .
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock* ./
COPY libs/ libs/
COPY services/ services/
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ -f uv.lock ]; then locked="--locked"; else locked=""; fi; \
    uv sync $locked --no-dev --no-editable \
        --package cortex-gateway --package cortex-sessions --package cortex-usage \
    && /opt/venv/bin/python -c "import cortex_gateway, cortex_sessions, cortex_usage"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 cortex \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin cortex
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# Each command is idempotent; `set -e` stops at the first failure so that
# compose reports the service as failed and dependants do not start.
CMD ["sh", "-ec", "cortex-gateway migrate; cortex-sessions migrate; cortex-usage migrate"]
