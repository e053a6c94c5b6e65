"""A lean SSE client on raw asyncio streams (CONNECT + TLS through a proxy, keep-alive): time to first chunk."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from payloads import chat_request

_BODY = chat_request(stream=True, size=1024)


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # like hey: the client side of the bench does not verify
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


_CTX = client_context()


@dataclass
class StreamTiming:
    ttfc: float  # seconds from request written to the first body byte
    total: float  # seconds from request written to the end of the body
    nbytes: int
    complete: bool  # the body ended with the [DONE] event


class Connection:
    """One keep-alive HTTPS connection to the upstream, direct or tunnelled through `proxy`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader, self.writer, self.port = reader, writer, port
        self.chunks = 0  # body chunks received on this connection (for event rates)

    @classmethod
    async def open(cls, port: int, proxy: str | None) -> Connection:
        if proxy is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_CTX, server_hostname="")
            return cls(reader, writer, port)
        url = urlsplit(proxy)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        auth = ""
        if url.username:
            cred = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
            auth = f"Proxy-Authorization: Basic {cred}\r\n"
        target = f"127.0.0.1:{port}"
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200" not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"CONNECT refused: {head[:80]!r}")
        await writer.start_tls(_CTX)
        return cls(reader, writer, port)

    async def stream(self, events: int, interval_ms: float = 0) -> StreamTiming:
        path = f"/v1/chat/completions?events={events}&interval_ms={interval_ms:g}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\ncontent-type: application/json\r\n"
            f"accept: text/event-stream\r\ncontent-length: {len(_BODY)}\r\n\r\n"
        )
        start = time.perf_counter()
        self.writer.write(head.encode() + _BODY)
        headers = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        if not headers.startswith(b"http/1.1 200"):
            raise ConnectionError(f"stream answered {headers[:60]!r}")
        if b"transfer-encoding: chunked" in headers:
            return await self._chunked(start)
        length = int(headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        first = await self.reader.readexactly(min(length, 1))
        ttfc = time.perf_counter() - start
        rest = await self.reader.readexactly(length - len(first))
        total = time.perf_counter() - start
        return StreamTiming(ttfc, total, length, rest.endswith(b"[DONE]\n\n"))

    async def _chunked(self, start: float) -> StreamTiming:
        ttfc, nbytes, tail = 0.0, 0, b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return StreamTiming(ttfc, time.perf_counter() - start, nbytes, tail.endswith(b"[DONE]\n\n"))
            data = (await self.reader.readexactly(size + 2))[:-2]
            if not ttfc:
                ttfc = time.perf_counter() - start
            self.chunks += 1
            nbytes += size
            tail = (tail + data)[-16:]

    def close(self) -> None:
        self.writer.close()
