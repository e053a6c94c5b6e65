"""The client stage: a request the client got wrong is recorded once as the client's error, not the upstream's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from palaryn_proxy import clienterrors
from palaryn_proxy.addons import pipeline
from palaryn_proxy.addons._pipeline import Pipeline
from palaryn_proxy.config import load_config
from palaryn_proxy.refusals import CLIENT_FAILURE
from palaryn_proxy.runtime import Runtime

SMUGGLING = (
    "Received message with both transfer-encoding and content-length headers from client, refusing to "
    "prevent request smuggling attacks. Disable the validate_inbound_headers option to skip this security check."
)


def _runtime(tmp_path: Path) -> Runtime:
    path = tmp_path / "palaryn.yaml"
    config = {
        "audit_log": str(tmp_path / "audit.jsonl"),
        "ssrf": {"enabled": False},
        "storage": {"url": "memory://"},
    }
    path.write_text(yaml.safe_dump(config))
    return Runtime.build(load_config(path, environ={}))


def _failed_flow(tmp_path: Path, message: str) -> tuple[list[dict[str, Any]], Runtime, Any]:
    runtime = _runtime(tmp_path)
    pipe = Pipeline(pipeline(runtime))

    async def run() -> Any:
        with taddons.context():
            flow = tflow.tflow()
            flow.request.headers = http.Headers(host="example.com")
            flow.error = mflow.Error(message)  # mitmproxy sets it before the requestheaders hook
            for hook in ("requestheaders", "error"):
                result = getattr(pipe, hook)(flow)
                if result is not None:
                    await result
            return CLIENT_FAILURE.get()

    failure = asyncio.run(run())
    runtime.close()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    return records, runtime, failure


def _upstream_errors(runtime: Runtime) -> float:
    return sum(
        s.value
        for m in runtime.metrics.upstream_errors.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )


def test_client_error_is_recorded_once_as_the_clients(tmp_path: Path) -> None:
    records, runtime, failure = _failed_flow(tmp_path, SMUGGLING)
    [record] = records
    assert record["decision"] == "error" and record["status"] == 400
    assert [(r["stage"], r["rule"]) for r in record["reasons"]] == [("client", "bad_request")]
    assert _upstream_errors(runtime) == 0
    assert runtime.stages["audit"].in_flight() == 0
    request_id, _style, error = failure  # what the error page answers with
    assert request_id == record["request_id"] and error.status == 400


def test_stalled_body_is_a_408(tmp_path: Path) -> None:
    records, _runtime, _failure = _failed_flow(tmp_path, clienterrors.body_timeout(2).tagged())
    assert records[0]["status"] == 408 and records[0]["reasons"][0]["rule"] == "body_timeout"


def test_upstream_failures_are_left_to_the_audit_stage(tmp_path: Path) -> None:
    records, runtime, failure = _failed_flow(tmp_path, "Connection refused")
    [record] = records
    assert record["status"] == 502 and record["reasons"][0]["stage"] == "upstream"
    assert failure is None and _upstream_errors(runtime) == 1
