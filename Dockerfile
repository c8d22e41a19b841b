# syntax=docker/dockerfile:1
#
# Rapport's production image.
#
#   docker build -t rapport .
#   docker run --rm -e DATABASE_URL=postgresql://… -e JWT_SECRET=… rapport python -m api migrate
#   docker run -d -p 8000:8000 -e DATABASE_URL=postgresql://… -e JWT_SECRET=… rapport
#
# The code runs from its source tree in /app, not from an installed wheel: api/settings.py
# and domain/migrate.py find alembic.ini, migrations/ and schema.graphql next to the
# packages (the parent directory of domain/), which an install into site-packages would
# separate. So the builder turns the project's dependencies into wheels, and the runtime
# installs those wheels only and puts /app on PYTHONPATH.

# --------------------------------------------------------------------------- builder
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /build
# Only pyproject.toml: the dependency layer is rebuilt when the dependencies change,
# not on every change of the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write(''.join(d + chr(10) for d in deps))" \
 && pip wheel --wheel-dir /wheels --requirement requirements.txt \
 && cp requirements.txt /wheels/requirements.txt

# --------------------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# The wheels are mounted for this one step, never copied into a layer; --no-index means
# nothing is fetched or compiled here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels --requirement /wheels/requirements.txt

RUN groupadd --system --gid 10001 rapport \
 && useradd --system --uid 10001 --gid rapport --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin rapport

WORKDIR /app
COPY api/ ./api/
COPY domain/ ./domain/
COPY migrations/ ./migrations/
COPY alembic.ini pyproject.toml schema.graphql ./
# Byte-compile at build time (the code is read-only to the user at run time), and make
# the one writable directory: the SQLite file of the embedded mode lives there.
RUN python -m compileall -q api domain migrations \
 && mkdir -p /app/var \
 && chown rapport:rapport /app/var

ENV HOST=0.0.0.0 \
    PORT=8000 \
    RAPPORT_ENV=production \
    PYTHONUNBUFFERED=1 \
    VAR_DIR=/app/var \
    PYTHONPATH=/app

USER 10001:10001
EXPOSE 8000

# Liveness only (/readyz also checks the database). slim has no curl: use the stdlib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["python", "-m", "api", "serve"]
