"""mitmdump -s script for the (b) SSE baseline: stream text/event-stream responses instead of buffering them."""

from mitmproxy import http  # noqa: TID251 - a mitmdump script, not engine code


def responseheaders(flow: http.HTTPFlow) -> None:
    if flow.response is not None and "text/event-stream" in flow.response.headers.get("content-type", ""):
        flow.response.stream = True
