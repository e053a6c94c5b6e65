"""Fake upstreams for end-to-end tests: an HTTPS+HTTP ASGI app (h1, h2, WebSocket) under hypercorn,
plus raw TCP servers that reset connections or never answer. Everything listens on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import hashlib
import json
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Route = Callable[[Scope, bytes, Send], Awaitable[None]]

TEST_HOSTS = [
    "upstream.test",
    "plain.test",
    "blocked.test",
    "reset.test",
    "hang.test",
    "localhost",
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "*.openai.azure.com",
    "bedrock-runtime.us-east-1.amazonaws.com",
    "api.mistral.ai",
    "api.groq.com",
    "api.deepseek.com",
    "api.x.ai",
    "openrouter.ai",
    "api.together.xyz",
    "api.fireworks.ai",
    "api.cohere.com",
    "us-central1-aiplatform.googleapis.com",
    "aiplatform.googleapis.com",
    "us-east5-aiplatform.googleapis.com",
    "contoso.openai.azure.com",
    "bedrock-runtime.eu-west-1.amazonaws.com",
    "bedrock-runtime.us-west-2.amazonaws.com",
    "ollama.test",
    "vllm.test",
    "sse.test",
]


def make_test_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for every test host; returns (ca.pem, server.pem, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "palaryn test upstream CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    names: list[x509.GeneralName] = [x509.DNSName(h) for h in TEST_HOSTS]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deterministic_bytes(n: int) -> bytes:
    block = hashlib.sha256(b"palaryn").digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


async def respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> None:
    hdrs = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.encode(), v.encode()) for k, v in (headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


@dataclass
class UpstreamApp:
    """An ASGI app with fixed test routes; tests may register more routes (LLM fixtures) by path."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)  # every request: method, path, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self._websocket(receive, send)
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "headers": headers,
                "body": body,
                "http_version": scope.get("http_version"),
            }
        )
        handler = self.routes.get(scope["path"]) or getattr(
            self, "r_" + scope["path"].strip("/").split("/")[0], None
        )
        if handler is None:
            await respond(send, 404, b'{"error": "no such route"}')
            return
        await handler(scope, body, send)

    async def r_echo(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        out = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "http_version": scope.get("http_version"),
        }
        await respond(send, 200, json.dumps(out).encode())

    async def r_raw(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond(send, 200, body, content_type="application/octet-stream")

    async def r_bytes(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond(
            send,
            200,
            deterministic_bytes(int(scope["path"].split("/")[2])),
            content_type="application/octet-stream",
        )

    async def r_gzip(self, scope: Scope, body: bytes, send: Send) -> None:
        payload = json.dumps({"compressed": True, "items": list(range(200))}).encode()
        await respond(send, 200, gzip.compress(payload), [("content-encoding", "gzip")])

    async def r_status(self, scope: Scope, body: bytes, send: Send) -> None:
        await respond(send, int(scope["path"].split("/")[2]), b'{"status": "as asked"}')

    async def r_sse(self, scope: Scope, body: bytes, send: Send) -> None:
        query = parse_qs(scope["query_string"].decode())
        n, delay = int(query.get("n", ["5"])[0]), float(query.get("delay", ["0.2"])[0])
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        for i in range(n):
            await send(
                {"type": "http.response.body", "body": f'data: {{"i": {i}}}\n\n'.encode(), "more_body": True}
            )
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    def serve_fixture(
        self,
        path: str,
        body: bytes,
        content_type: str,
        chunks: int = 3,
        delay: float = 0.0,
        headers: list[tuple[str, str]] | None = None,
        status: int = 200,
    ) -> None:
        """Answer `path` with `body`, sent in `chunks` writes `delay` seconds apart (a stream, when > 1)."""

        async def handler(scope: Scope, request_body: bytes, send: Send) -> None:
            hdrs = [(b"content-type", content_type.encode())]
            hdrs += [(k.encode(), v.encode()) for k, v in (headers or [])]
            await send({"type": "http.response.start", "status": status, "headers": hdrs})
            size = max(1, -(-len(body) // max(1, chunks)))
            for i in range(0, len(body), size):
                await send({"type": "http.response.body", "body": body[i : i + size], "more_body": True})
                if delay:
                    await asyncio.sleep(delay)
            await send({"type": "http.response.body", "body": b""})

        self.routes[path] = handler

    async def _websocket(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif msg["type"] == "websocket.receive":
                if msg.get("text") is not None:
                    await send({"type": "websocket.send", "text": "echo: " + msg["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": msg.get("bytes") or b""})
            else:
                return


class Upstream:
    """Runs the app on HTTPS (h1+h2) and plain HTTP, plus reset and hang servers, in a background thread."""

    def __init__(self, pki_dir: Path):
        self.ca, self.cert, self.key = make_test_pki(pki_dir)
        self.app = UpstreamApp()
        self.https_port, self.http_port = free_port(), free_port()
        self.reset_port, self.hang_port = free_port(), free_port()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-upstream", daemon=True)

    def start(self) -> Upstream:
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        self._stop = asyncio.Event()
        cfg = Config()
        cfg.bind = [f"127.0.0.1:{self.https_port}"]
        cfg.insecure_bind = [f"127.0.0.1:{self.http_port}"]
        cfg.certfile, cfg.keyfile = str(self.cert), str(self.key)
        cfg.alpn_protocols = ["h2", "http/1.1"]
        cfg.loglevel = "ERROR"
        cfg.accesslog = None
        cfg.errorlog = None
        reset = await asyncio.start_server(self._reset, "127.0.0.1", self.reset_port)
        hang = await asyncio.start_server(self._hang, "127.0.0.1", self.hang_port)
        task = asyncio.ensure_future(serve(self.app, cfg, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]
        for _ in range(200):
            if _listening(self.https_port) and _listening(self.http_port):
                break
            await asyncio.sleep(0.02)
        self._ready.set()
        await self._stop.wait()
        reset.close()
        hang.close()
        await task

    async def _reset(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # wait for the first bytes, then reset (RST, not FIN)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._stop is not None
        await self._stop.wait()  # accept, read nothing, answer nothing until the upstream stops
        writer.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
