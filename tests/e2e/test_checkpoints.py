"""Signed audit checkpoints on a real proxy: SIGTERM signs the head, `audit verify --checkpoints` passes,
then fails once records are cut from the end or a checkpoint is forged; checkpoints are also POSTed."""

from __future__ import annotations

import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from e2e.harness import curl, start_proxy


class Collector(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        self.server.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_sigterm_checkpoint_truncation_and_forgery(tmp_path: Path, upstream, shared_certs):
    collector = Collector()
    key = tmp_path / "keys" / "audit.key"
    audit = {
        "signing_key": str(key),
        "checkpoint_seconds": 60,
        "checkpoint_url": f"http://127.0.0.1:{collector.server_address[1]}/checkpoints",
    }
    proxy = start_proxy(tmp_path / "proxy", upstream, shared_certs, {"audit": audit})
    try:
        for _ in range(6):
            out = curl(proxy.env, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo")
            assert out.stdout == b"200"
        pub = proxy.cli("audit", "pubkey", "--config", str(proxy.config_path))
        assert pub.returncode == 0 and pub.stdout.startswith("-----BEGIN PUBLIC KEY-----")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert proxy.stop() == 0
    finally:
        proxy.stop()
        collector.shutdown()
        collector.server_close()
    pubkey = tmp_path / "audit.pub"
    pubkey.write_text(pub.stdout)
    checkpoints = Path(f"{proxy.audit_path}.checkpoints")
    signed = [json.loads(line) for line in checkpoints.read_text().splitlines()]
    assert signed[-1]["reason"] == "shutdown" and signed[-1]["file_records"] == len(proxy.records()) == 6
    assert collector.received == signed  # the POSTed copy is the same

    def verify(*extra: str) -> Any:
        args = ("audit", "verify", "--checkpoints", str(checkpoints), "--pubkey", str(pubkey), *extra)
        return proxy.cli(*args, str(proxy.audit_path))

    ok = verify()
    assert ok.returncode == 0, ok.stderr
    assert "1 checkpoint(s) verified" in ok.stdout

    lines = proxy.audit_path.read_bytes().splitlines(keepends=True)
    proxy.audit_path.write_bytes(b"".join(lines[:-2]))
    assert proxy.cli("audit", "verify", str(proxy.audit_path)).returncode == 0  # the chain alone passes
    cut = verify()
    assert cut.returncode != 0
    assert "records removed from the end" in cut.stderr and "signed 6 records, the file has 4" in cut.stderr

    forged = dict(signed[-1], file_records=4, last_hash=json.loads(lines[-3])["hash"])
    checkpoints.write_text(json.dumps(forged) + "\n")
    rejected = verify()
    assert rejected.returncode != 0 and "forged or altered" in rejected.stderr
