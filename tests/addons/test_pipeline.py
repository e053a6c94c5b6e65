"""The Pipeline addon: stages in order, async awaited in turn, a failing stage logged and skipped."""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest

from palaryn_proxy.addons._pipeline import Pipeline


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def requestheaders(self, flow: object) -> None:
        self.calls.append(f"{self.name}.requestheaders")
        if self.fail:
            raise RuntimeError("boom")

    async def request(self, flow: object) -> None:
        await asyncio.sleep(0)
        self.calls.append(f"{self.name}.request")
        if self.fail:
            raise RuntimeError("boom")


class SyncOnly:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def request(self, flow: object) -> None:
        self.calls.append("sync.request")


def test_hooks_run_in_stage_order_and_a_failure_does_not_stop_later_stages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    pipeline = Pipeline([Recorder("a", calls, fail=True), SyncOnly(calls), Recorder("b", calls)])
    with caplog.at_level(logging.ERROR):
        pipeline.requestheaders(None)  # every handler sync: a plain call, as mitmproxy's sync hooks need
        asyncio.run(pipeline.request(None))
    assert calls == ["a.requestheaders", "b.requestheaders", "a.request", "sync.request", "b.request"]
    assert sum("Addon error in Recorder" in r.getMessage() for r in caplog.records) == 2


def test_only_hooks_some_stage_implements_are_exposed() -> None:
    pipeline = Pipeline([SyncOnly([])])
    assert not inspect.iscoroutinefunction(pipeline.request)
    assert not hasattr(pipeline, "response") and not hasattr(pipeline, "requestheaders")
