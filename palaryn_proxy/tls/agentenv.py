"""The environment an agent needs to use the proxy: proxy URLs and the CA file for every common runtime."""

from __future__ import annotations

import shlex
from urllib.parse import quote

from palaryn_proxy.config import Config
from palaryn_proxy.tls import ca

NO_PROXY = "localhost,127.0.0.1,::1"
# Which runtimes read which variable is in README.md ("Trusting the CA").
CA_VARIABLES = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
)


def proxy_url(config: Config, actor: str | None = None, token: str | None = None) -> str:
    host = config.listen_host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    userinfo = ""
    if actor:
        userinfo = quote(actor, safe="") + (":" + quote(token, safe="") if token else ":") + "@"
    return f"http://{userinfo}{host}:{config.listen_port}"


def agent_environment(config: Config, actor: str | None = None, token: str | None = None) -> dict[str, str]:
    url = proxy_url(config, actor, token)
    cert = str(ca.cert_path(config.certs_dir).resolve())
    env = {}
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        env[name] = env[name.lower()] = url
    env["NO_PROXY"] = env["no_proxy"] = NO_PROXY
    env["NODE_USE_ENV_PROXY"] = "1"  # Node >= 24's built-in fetch ignores the proxy variables without it
    for name in CA_VARIABLES:
        env[name] = cert
    return env


def shell_exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items())
