# One image for both services: `python -m ledger_service serve` or `python -m rating_service serve`;
# the operator CLI is in it too (`billing`, e.g. `docker compose exec ledger billing --help`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY billing_common ./billing_common
COPY ledger_service ./ledger_service
COPY rating_service ./rating_service
COPY billing_cli ./billing_cli
COPY demo ./demo
COPY portal/index.html portal/portal.js portal/portal.css ./portal/
COPY portal/vendor ./portal/vendor
RUN pip install --no-cache-dir .
# In a container, /metrics must be reachable from outside it (a scraper on the container network;
# publish nothing on the host): all interfaces, not the 127.0.0.1 a bare-metal default keeps.
ENV LEDGER_METRICS_LISTEN=0.0.0.0:9464 \
    LEDGER_PORTAL_DIR=/app/portal \
    RATING_METRICS_LISTEN=0.0.0.0:9465
# The certificates' and keys' folder (a volume in docker-compose.yml), writable by the user the
# services run as.
RUN mkdir /secrets && chown nobody /secrets
USER nobody
EXPOSE 50051 50052 9464 9465
CMD ["python", "-m", "ledger_service", "serve"]
