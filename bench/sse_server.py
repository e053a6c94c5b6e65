"""A minimal HTTPS upstream on raw asyncio streams: OpenAI-style SSE chat streams, optionally paced.

POST /v1/chat/completions?events=N&interval_ms=M answers N content chunks M ms apart, then the
finish chunk, the usage chunk and [DONE] (chunked transfer encoding, keep-alive).
Run: python sse_server.py PORT CERT KEY
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from urllib.parse import parse_qs, urlsplit

from payloads import sse_event, sse_tail

_EVENTS = [sse_event(i) for i in range(10_000)]
_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, list[str]]] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return target, parse_qs(urlsplit(target).query)


async def _stream(writer: asyncio.StreamWriter, events: int, interval: float) -> None:
    writer.write(_HEAD)
    for i in range(events):
        writer.write(_chunk(_EVENTS[i % len(_EVENTS)]))
        if interval:
            await writer.drain()
            await asyncio.sleep(interval)
    writer.write(_chunk(sse_tail(events)) + b"0\r\n\r\n")
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request = await _read_request(reader)
            if request is None:
                break
            _, query = request
            events = int(query.get("events", ["200"])[0])
            interval = float(query.get("interval_ms", ["0"])[0]) / 1000
            await _stream(writer, events, interval)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(port: int, cert: str, key: str) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx, backlog=2048)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
