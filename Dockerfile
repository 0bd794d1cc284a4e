# One image for server A and server B (the compose file picks the command).
# Key shares and secrets are never baked in: they arrive as Docker secrets at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY protocol/ protocol/
COPY service_common/ service_common/
COPY server_a/ server_a/
COPY server_b/ server_b/
COPY signals/ signals/
COPY client/ client/
COPY device/ device/
COPY physician/ physician/
COPY ops/ ops/
COPY cli_help/ cli_help/
COPY evaluation/ evaluation/
COPY model/ model/
COPY bench/ bench/
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin hrmon

USER 10001
EXPOSE 8001 8002
CMD ["hrmon", "--help"]
