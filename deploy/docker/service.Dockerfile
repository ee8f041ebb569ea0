# syntax=docker/dockerfile:1.7
# The image of every Cortex service: which one is a build argument (the table of services,
# libs/contracts/src/cortex_contracts/services.py, gives each name and port). Build context is
# the repository root:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=sessions \
#       --build-arg PORT=8085 --target service -t cortex/sessions:dev .
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=gateway \
#       --build-arg PORT=8084 --target gateway -t cortex/gateway:dev .
# The gateway's target adds the built web UI; the node stage is only built for it.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9
ARG SERVICE
ARG PORT

# ---- web: build the UI (web/ -> web/dist), used by the gateway target only --------
FROM node:20 AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# ---- builder: a venv holding only cortex-${SERVICE} and what it depends on ---------
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION
ARG SERVICE
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<name> is required" >&2; exit 1; }
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# The whole uv workspace is needed to resolve it; only one member is installed.
COPY pyproject.toml uv.lock* ./
COPY libs/ libs/
COPY services/ services/
# `cortex-service` names the service's console script, so one CMD fits every image.
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ -f uv.lock ]; then locked="--locked"; else locked=""; fi; \
    uv sync $locked --no-dev --no-editable --package cortex-${SERVICE} \
    && /opt/venv/bin/python -c "import cortex_${SERVICE}" \
    && ln -s "cortex-${SERVICE}" /opt/venv/bin/cortex-service

# ---- service: the runtime image of any service ------------------------------------
FROM ${PYTHON_IMAGE} AS service
ARG PORT
RUN test -n "${PORT}" || { echo "--build-arg PORT=<port> is required" >&2; exit 1; }
RUN groupadd --system --gid 10001 cortex \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin cortex
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CORTEX_HEALTHCHECK_URL=http://127.0.0.1:${PORT}/healthz
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CORTEX_HEALTHCHECK_URL'], timeout=4)"]
CMD ["cortex-service"]

# ---- gateway: the service image plus the web UI ------------------------------------
FROM service AS gateway
COPY --from=web /web/dist /app/web/dist
ENV CORTEX_GATEWAY_WEB_DIST=/app/web/dist
