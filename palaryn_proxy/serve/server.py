"""Embeds mitmproxy: a slim Master with our pipeline, graceful drain on SIGINT/SIGTERM, the banner.

This and addons/ are the only places that import mitmproxy.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import certifi
from h2.connection import H2Connection
from mitmproxy import http, options, version
from mitmproxy.addons import core, disable_h2c, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master
from mitmproxy.proxy.layers.http import _http1, _http2
from mitmproxy.proxy.layers.http._http_h2 import BufferedH2Connection

from palaryn_proxy import clienterrors, refusals
from palaryn_proxy.addons import _httpguard, pipeline
from palaryn_proxy.addons._httpguard import http1_answer
from palaryn_proxy.addons._pipeline import Pipeline
from palaryn_proxy.config import Config
from palaryn_proxy.console.api import AdminApi
from palaryn_proxy.console.app import ConsoleApp
from palaryn_proxy.console.auth import Authenticator
from palaryn_proxy.console.backend import Backend
from palaryn_proxy.identity import new_request_id
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.serve import logs, reload
from palaryn_proxy.serve.adminhttp import AdminServer
from palaryn_proxy.serve.readiness import Readiness
from palaryn_proxy.tls import agentenv, ca
from palaryn_proxy.types import Decision

log = logging.getLogger("palaryn")


def _upstream_refusal(status_code: int, message: str = "") -> refusals.Refusal:
    """mitmproxy's own error answer (upstream unreachable, reset, timed out), rendered like every other
    palaryn answer: JSON in the provider's error shape with X-Palaryn-Request-Id and X-Palaryn-Decision."""
    failure = refusals.UPSTREAM_FAILURE.get()
    if failure is None:  # no audited flow behind it: one id for the headers and the body all the same
        failure = (new_request_id(), None, status_code)
        refusals.UPSTREAM_FAILURE.set(failure)
    request_id, style, status = failure
    text = f"upstream failed: {message}" if status >= 500 else message
    return refusals.render(style, Decision.ERROR, text, "upstream_error", request_id, status=status)


def _error_refusal(status_code: int, message: str, last: bool) -> refusals.Refusal:
    """Any error answer mitmproxy writes: a client's error (400 / 408, recorded by the client stage or the
    HTTP guard) or the upstream's. `last`: the final call for this answer (HTTP/2 renders it twice)."""
    client = refusals.CLIENT_FAILURE.get()
    if client is None and status_code < 500 and refusals.UPSTREAM_FAILURE.get() is None:
        # A client error no hook recorded (none is known to reach here): answered as one all the same.
        error = clienterrors.classify(message) or clienterrors.bad_request(message)
        client = (new_request_id(), None, error)
        refusals.CLIENT_FAILURE.set(client)
    if client is None:
        return _upstream_refusal(status_code, message)
    if last:
        refusals.CLIENT_FAILURE.set(None)
    request_id, style, error = client
    return refusals.client_error(error, request_id, style)


def error_response(status_code: int, message: str = "") -> bytes:
    """The HTTP/1 error answer (mitmproxy's `make_error_response`)."""
    return http1_answer(_error_refusal(status_code, message, last=True))


def _h2_error_body(status_code: int, message: str = "") -> bytes:
    """The HTTP/2 error answer's body (mitmproxy's `format_error` in its HTTP/2 server), after its headers."""
    return _error_refusal(status_code, message, last=True).body


_H2_ERROR_PAGE_HEADERS = ((b"server", version.MITMPROXY.encode()), (b"content-type", b"text/html"))


def _h2_send_headers(self: H2Connection, stream_id: int, headers: Any, *args: Any, **kw: Any) -> None:
    """mitmproxy's HTTP/2 server writes its error page's headers inline: exactly `:status`, `server` and
    `content-type: text/html`. Those (and only those) become the headers of the JSON answer."""
    if (
        isinstance(headers, list)
        and len(headers) == 3
        and headers[0][0] == b":status"
        and tuple(headers[1:]) == _H2_ERROR_PAGE_HEADERS
    ):
        refusal = _error_refusal(int(headers[0][1]), "", last=False)
        headers = [(b":status", str(refusal.status).encode())] + [
            (k.lower().encode(), str(v).encode())
            for k, v in refusal.headers.items()
            if k.lower() != "connection"
        ]
    _h2_send_headers_original(self, stream_id, headers, *args, **kw)


_h2_send_headers_original = BufferedH2Connection.send_headers


def install_error_page(runtime: Runtime | None = None) -> None:
    """Every error answer of mitmproxy's as palaryn JSON; with `runtime`, its HTTP servers guarded too."""
    _http1.make_error_response = error_response
    _http2.format_error = _h2_error_body
    BufferedH2Connection.send_headers = _h2_send_headers  # type: ignore[method-assign]
    if runtime is not None:  # deadlines, head limits, schemes: addons/_httpguard.py
        _httpguard.install(runtime.stages["client_guard"])


def skip_message_typecheck() -> None:
    """Drop mitmproxy's debug-only type check of every request and response it builds.

    Without `python -O`, `MessageData.__post_init__` checks each field against its annotation, and each
    optional field that is None costs a TypeError raised and caught, whose traceback holds its frames in a
    reference cycle: six per proxied request, freed only by the garbage collector, ≈ 5 % of the CPU of a
    request here. `-O` removes the check the same way; it guards mitmproxy's own constructors, not input.
    """
    http.MessageData.__post_init__ = _no_check  # type: ignore[method-assign]


def _no_check(self: object) -> None:
    return None


def mode_specs(config: Config) -> list[str]:
    """The first mode listens on `listen`; further modes must carry their own @HOST:PORT."""
    specs = []
    for i, mode in enumerate(config.mode):
        if "@" in mode or i > 0:
            specs.append(mode)
        else:
            specs.append(f"{mode}@{config.listen}")
    return specs


def upstream_trust_file(config: Config) -> str | None:
    """certifi plus `upstream_ca_bundle` in one file: mitmproxy's trusted-CA option replaces certifi."""
    extra = config.upstream_ca_bundle
    if not extra:
        return None
    try:
        extra_pem = Path(extra).read_text()
    except OSError as exc:
        raise SystemExit(f"palaryn-proxy: upstream_ca_bundle {extra}: {exc.strerror}") from None
    target = Path(config.certs_dir) / "upstream-trust.pem"
    target.write_text(Path(certifi.where()).read_text() + "\n" + extra_pem)
    return str(target)


class Lifecycle:
    """Prints the banner once listeners are up; refuses to run on startup errors."""

    def __init__(self, config: Config, errors: errorcheck.ErrorCheck, quiet: bool):
        self.config, self.errors, self.quiet = config, errors, quiet
        self.exit_code = 0

    async def running(self) -> None:
        from mitmproxy import ctx

        await asyncio.sleep(0)
        if self.errors.logger.has_errored:
            for record in self.errors.logger.has_errored:
                print(f"palaryn-proxy: {record.getMessage()}", file=sys.stderr)
            self.exit_code = 1
            ctx.master.shutdown()
            return
        # What start-up built (config, price tables, compiled policy and DLP patterns, modules) lives as long
        # as the process: moved out of the collector's generations, a full collection no longer walks it
        # (≈ 65 ms -> 2 ms here, a pause every flow in flight would wait out).
        gc.freeze()
        if not self.quiet:
            addrs = ctx.master.addons.get("proxyserver").listen_addrs()
            print(banner(self.config, addrs), flush=True)


def banner(config: Config, addrs: list[Any]) -> str:
    where = ", ".join(f"{a[0]}:{a[1]}" for a in addrs) or config.listen
    lines = [
        f"palaryn-proxy listening on {where} (modes: {', '.join(mode_specs(config))})",
        f"  CA certificate : {ca.cert_path(config.certs_dir).resolve()}",
        f"  config         : {config.source.resolve() if config.source else '(none: built-in defaults)'}",
        f"  audit log      : {Path(config.audit_log).resolve()}",
        f"  metrics        : {'off' if config.metrics_listen in ('off', '') else 'http://' + config.metrics_listen + '/metrics'}",
        f"  console        : {_console_line(config)}",
        "  agent environment (or run `palaryn-proxy exec -- CMD`):",
    ]
    lines += [
        f"    {line}" for line in agentenv.shell_exports(agentenv.agent_environment(config)).splitlines()
    ]
    return "\n".join(lines)


def _console_line(config: Config) -> str:
    admin = config.sections.admin
    if admin.listen is None:
        return "off (admin_listen: off)"
    where = f"http://{admin.listen}/"
    if admin.open:
        return f"{where} - loopback clients only: no admin.tokens are configured"
    return f"{where} ({len(admin.tokens)} admin token(s))"


def configure_logging(level: str, fmt: str = "text", query_keys: tuple[str, ...] = ()) -> None:
    logs.configure(level, fmt, query_keys)  # `log_format: json` for log collectors; secrets masked either way


def _tls_failures(runtime: Runtime) -> bytes:
    failures = runtime.stages.get("tls_failures")  # addons/tlswatch.py
    return failures.to_json() if failures is not None else b'{"failures": [], "dropped_hosts": 0}'


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port)


def admin_servers(config: Config, runtime: Runtime, readiness: Readiness) -> list[AdminServer]:
    """The metrics listener and the console's (`admin_listen`): one server when they share an address."""
    metrics_at = None if config.metrics_listen in ("off", "") else config.metrics_listen
    admin_at = config.sections.admin.listen
    routes = {"/tls-failures": lambda: _tls_failures(runtime)}
    console = None
    if admin_at is not None:
        auth = Authenticator(config.sections.admin)
        console = ConsoleApp(AdminApi(auth, Backend(runtime, asyncio.get_running_loop(), runtime.live)))
    servers = []
    if metrics_at is not None:
        shared = console if admin_at == metrics_at else None
        host, port = _split(metrics_at)
        registry = runtime.metrics.registry
        servers.append(
            AdminServer(host, port, readiness, registry=registry, json_routes=routes, console=shared)
        )
    if console is not None and admin_at is not None and admin_at != metrics_at:
        host, port = _split(admin_at)
        servers.append(AdminServer(host, port, readiness, registry=runtime.metrics.registry, console=console))
    return servers


async def serve(config: Config, quiet: bool = False) -> int:
    """Run the proxy until SIGINT/SIGTERM; returns the process exit code."""
    ca.ensure_ca(config.certs_dir)
    trust = upstream_trust_file(config)
    runtime = Runtime.build(config)
    readiness = runtime.stages["readiness"] = Readiness(runtime)
    try:
        servers = admin_servers(config, runtime, readiness)
    except OSError as exc:
        await runtime.aclose()
        print(f"palaryn-proxy: cannot listen for metrics or the console: {exc}", file=sys.stderr)
        return 1
    for admin_server in servers:
        admin_server.start()

    skip_message_typecheck()
    opts = options.Options()
    master = Master(opts)
    errors = errorcheck.ErrorCheck(repeat_errors_on_stderr=True)
    lifecycle = Lifecycle(config, errors, quiet)
    master.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        disable_h2c.DisableH2C(),
        errors,
    )
    master.addons.add(Pipeline([*pipeline(runtime), readiness, lifecycle]))
    install_error_page(runtime)
    opts.update(
        mode=mode_specs(config),
        confdir=str(Path(config.certs_dir).resolve()),
        connection_strategy="lazy",  # a blocked request must never reach the upstream
        ssl_insecure=not config.upstream_verify,
        ssl_verify_upstream_trusted_ca=trust,
    )
    _install_signal_handlers(master, opts, runtime, float(config.drain_timeout))
    proxy_server, tls_config = master.addons.get("proxyserver"), master.addons.get("tlsconfig")
    readiness.conditions["listeners not up"] = lambda: bool(proxy_server.listen_addrs())
    readiness.conditions["CA not loaded"] = lambda: getattr(tls_config, "certstore", None) is not None
    readiness.start()
    try:
        await master.run()
    finally:
        await readiness.stop()
        await runtime.aclose()
        for admin_server in servers:
            admin_server.stop()
    return lifecycle.exit_code


def _install_signal_handlers(master: Master, opts: options.Options, runtime: Runtime, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    state = {"draining": False}

    def on_signal() -> None:
        if state["draining"]:  # second signal: stop now
            master.shutdown()
            return
        state["draining"] = True
        asyncio.ensure_future(_drain(master, opts, runtime, timeout))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    reloads: set[asyncio.Task[Any]] = set()  # referenced until done (the loop keeps only weak references)

    def on_hup() -> None:  # re-read the config file; see palaryn_proxy/serve/reload.py
        task = loop.create_task(reload.reload(runtime))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)


async def _drain(master: Master, opts: options.Options, runtime: Runtime, timeout: float) -> None:
    """Stop accepting, let in-flight flows finish up to `timeout`, then shut down (audit flushed after)."""
    readiness = runtime.stages.get("readiness")
    if readiness is not None:
        readiness.drain()  # /readyz says 503 before the listeners close
    opts.update(server=False)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    audit = runtime.stages.get("audit")
    while audit is not None and audit.in_flight() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    master.shutdown()
