FROM python:3.11-slim

RUN useradd --create-home --uid 10001 plexus
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY protocols ./protocols
COPY transforms ./transforms
RUN pip install --no-cache-dir .
# channels and settings are baked in; mount over /app/channels or /app/configs to replace them
COPY channels ./channels
COPY configs ./configs
RUN mkdir -p /app/data && chown plexus:plexus /app/data
USER plexus
# MLLP (6661) and X12 over HTTP (7001: senders must be listed partners) listen on every
# interface; the shipped FHIR channel has no tokens, so it stays on 127.0.0.1 until you add
# source.auth.tokens and set CHARGE_FHIR_HOST=0.0.0.0 (port 8090)
ENV PLEXUS_DATA_DIR=/app/data PLEXUS_ADMIN_HOST=0.0.0.0 SUPPLY_USAGE_HOST=0.0.0.0 \
    SUPPLIER_X12_HOST=0.0.0.0
VOLUME ["/app/data"]
EXPOSE 6661 7001 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["plexus", "run"]
