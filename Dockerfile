# s3server: one image for both roles. Needs BuildKit (the default builder since Docker 23) for
# RUN --mount.
#   gateway (default):  s3server gateway
#       creates the schema and the admin user (printing "Admin API Key: ..." the first time),
#       then execs  gunicorn -c python:s3server.gunicorn_conf s3server.wsgi:app
#       (gevent workers, bound to $S3_BIND:$S3_PORT = 0.0.0.0:7841, $S3_WORKERS workers)
#   storage node:       s3server storage-node --data-dir /data --port 7881 --bind 0.0.0.0 --node-id NAME
# Build:  docker build -t s3server:0.1.0 .

# ---- stage 1: build wheels for the project (from its own setup.cfg) and every dependency
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# setup.cfg reads README.md (long_description); pyproject.toml names the build backend.
COPY pyproject.toml setup.cfg README.md ./
COPY s3server ./s3server
COPY storage_node ./storage_node
RUN pip wheel --wheel-dir /wheels .

# ---- stage 2: the runtime image
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    S3_BIND=0.0.0.0 \
    S3_PORT=7841 \
    S3_WORKERS=2
RUN groupadd --system --gid 10001 s3server \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin s3server \
    && mkdir -p /data \
    && chown 10001:10001 /data
# Install from the wheels of stage 1 only (no index): the image gets exactly what was built.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/s3server-*.whl \
    && s3server --help > /dev/null
USER 10001:10001
WORKDIR /data
# 7841: gateway (S3 + REST API, /health, /ready, /metrics); 7881: storage node.
EXPOSE 7841 7881
# No curl in slim images. For a storage node under plain docker, run with -e S3_PORT=7881
# (the node ignores S3_* variables; this check reads it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('S3_PORT', '7841'), timeout=4)"]
CMD ["s3server", "gateway"]
