"""server.skip_message_typecheck: mitmproxy builds requests and responses without leaving cyclic garbage."""

from __future__ import annotations

import gc

from mitmproxy import http
from mitmproxy.test import tutils

from palaryn_proxy.serve.server import skip_message_typecheck


def _cyclic_garbage_of_building_messages() -> int:
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            http.Response.make(200, b"{}", {"content-type": "application/json"})
            tutils.treq(content=None)
        return gc.collect()
    finally:
        gc.enable()


def test_messages_leave_no_cycles_once_the_debug_typecheck_is_skipped() -> None:
    skip_message_typecheck()
    assert _cyclic_garbage_of_building_messages() == 0
    response = http.Response.make(204)
    assert response.status_code == 204 and response.trailers is None
