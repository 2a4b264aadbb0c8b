# One image for all six services; docker-compose.yml picks the service with
# `clientwork run <name>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only the packaged sources, so that a local .venv or var/ does not enter the image.
COPY pyproject.toml ./
COPY contracts ./contracts
COPY servicekit ./servicekit
COPY services ./services
RUN pip install . \
    && useradd --system --no-create-home clientwork

USER clientwork
CMD ["clientwork", "--help"]
