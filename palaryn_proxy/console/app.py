"""The console as one callable: `/api/v1/...` to the admin API, everything else to the packaged dashboard."""

from __future__ import annotations

from importlib import resources
from pathlib import PurePosixPath

from palaryn_proxy.console.api import AdminApi, Request, Response, error_response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Scripts only from our own files (the dashboard builds the DOM, never HTML from data), nothing framed.
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]


class ConsoleApp:
    def __init__(self, api: AdminApi):
        self.api = api
        self.static = resources.files("palaryn_proxy.console") / "static"

    def __call__(self, req: Request) -> Response:
        if req.path.startswith("/api/"):
            response = self.api.handle(req)
            response.headers.append(("Cache-Control", "no-store"))
        elif req.method in ("GET", "HEAD"):
            response = self._asset(req.path)
        else:
            response = error_response(405, "method_not_allowed", "the dashboard's files answer GET only")
        response.headers.extend(SECURITY_HEADERS)
        return response

    def _asset(self, path: str) -> Response:
        parts = PurePosixPath(path).parts[1:] or ("index.html",)
        if any(p in ("..", ".") or p.startswith(".") or "\\" in p for p in parts):
            return error_response(404, "not_found", "no such file")
        node = self.static.joinpath(*parts)
        if not node.is_file():
            return error_response(404, "not_found", f"no dashboard file {path[:100]}")
        ctype = CONTENT_TYPES.get(PurePosixPath(parts[-1]).suffix, "application/octet-stream")
        return Response(200, node.read_bytes(), ctype, [("Cache-Control", "no-cache")])
