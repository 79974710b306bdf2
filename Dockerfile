# One image for both services: `python -m ledger_service serve` or `python -m rating_service serve`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY billing_common ./billing_common
COPY ledger_service ./ledger_service
COPY rating_service ./rating_service
COPY demo ./demo
RUN pip install --no-cache-dir .
# The TLS files' folder (a volume in docker-compose.yml), writable by the user the services run as.
RUN mkdir /tls && chown nobody /tls
USER nobody
EXPOSE 50051 50052
CMD ["python", "-m", "ledger_service", "serve"]
