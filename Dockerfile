# The fitmon image: the `fitmon` command (migrate, ingest, registry import, simulate) that
# docker-compose.yml runs. Wheels are built in a first stage so no source or compiler is shipped.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-index /wheels/*.whl && rm -rf /wheels \
 && groupadd --system --gid 10001 fitmon \
 && useradd --system --uid 10001 --gid fitmon --create-home --home-dir /home/fitmon \
        --shell /usr/sbin/nologin fitmon \
 && install -d -o fitmon -g fitmon -m 700 /mosquitto/auth
# /mosquitto/auth: where compose mounts the broker logins' volume; a new volume takes this
# folder's owner, so broker-auth (as fitmon) can write there.
USER fitmon
WORKDIR /home/fitmon
# ingest's Prometheus metrics must listen beyond the container's loopback interface.
ENV FITMON_METRICS_HOST=0.0.0.0
EXPOSE 9108
ENTRYPOINT ["fitmon"]
CMD ["--help"]
