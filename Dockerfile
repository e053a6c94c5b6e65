# palaryn-proxy in a container: the proxy for agents in other containers, or a sidecar in a pod.
#   docker build -t palaryn-proxy .
#   docker run -p 8080:8080 -p 9464:9464 -v palaryn-certs:/var/lib/palaryn/certs \
#              -v palaryn-data:/var/lib/palaryn/data palaryn-proxy
# deploy/compose.yaml and deploy/kubernetes-sidecar.yaml show it beside an agent.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/palaryn/data \
    PALARYN_CERTS_DIR=/var/lib/palaryn/certs \
    PALARYN_AUDIT_LOG=/var/lib/palaryn/data/audit.jsonl \
    PALARYN_LOG_FORMAT=json

# iptables: the same image serves as the init container that sets a pod's REDIRECT rules.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY palaryn_proxy/ palaryn_proxy/
COPY addons/ addons/
COPY policy-packs/ policy-packs/
# Editable: the shipped policy packs are found next to the package (policy-packs/).
RUN pip install -e . \
 && groupadd --system --gid 10001 palaryn \
 && useradd --system --uid 10001 --gid palaryn --home-dir /var/lib/palaryn/data --shell /usr/sbin/nologin palaryn \
 && mkdir -p /var/lib/palaryn/certs /var/lib/palaryn/data /var/lib/palaryn/public \
 && chown -R palaryn:palaryn /var/lib/palaryn

# The proxy runs as this dedicated UID: a pod's REDIRECT rule excludes it (`-m owner ! --uid-owner 10001`).
USER 10001:10001
# certs: the CA (its private key: keep this volume to the proxy); data: audit log, SQLite state.
VOLUME ["/var/lib/palaryn/certs", "/var/lib/palaryn/data"]
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["palaryn-proxy"]
CMD ["run", "--listen", "0.0.0.0:8080", "--metrics-listen", "0.0.0.0:9464"]
