"""A plain-HTTP upstream that keeps every request head byte for byte (the fake upstream's parser would unfold
header lines and hide what the proxy really sent)."""

from __future__ import annotations

import socket
import socketserver
import threading


class RawUpstream:
    def __init__(self) -> None:
        self.heads: list[bytes] = []
        upstream = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                upstream.heads.append(data.split(b"\r\n\r\n", 1)[0])
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                self.request.shutdown(socket.SHUT_WR)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="raw-upstream", daemon=True)

    def __enter__(self) -> RawUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
