"""Error bodies and in-stream error events shaped like each provider's own, for answers the proxy gives."""

from __future__ import annotations

import json
from typing import Any

from .eventstream import encode_message

STYLES = ("openai", "anthropic", "gemini", "bedrock", "ollama", "cohere")

_GRPC_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}  # fmt: skip
_AWS_ERROR = {400: "ValidationException", 403: "AccessDeniedException", 429: "ThrottlingException"}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _aws_exception(status: int) -> str:
    return _AWS_ERROR.get(status, "ValidationException" if status < 500 else "InternalServerException")


def error_payload(style: str, message: str, code: str, status: int) -> dict[str, Any]:
    """The JSON object a provider of this style sends for an error."""
    if style == "anthropic":
        return {"type": "error", "error": {"type": code, "message": message}}
    if style == "gemini":
        grpc = _GRPC_STATUS.get(status, "FAILED_PRECONDITION" if status < 500 else "INTERNAL")
        return {"error": {"code": status, "message": message, "status": grpc}}
    if style in ("bedrock", "cohere"):
        return {"message": message}
    if style == "ollama":
        return {"error": message}
    return {"error": {"message": message, "type": code, "param": None, "code": code}}


def error_body(style: str, message: str, code: str, status: int) -> tuple[bytes, dict[str, str]]:
    """A complete non-streaming error answer: body and the headers that go with it."""
    headers = {"content-type": "application/json"}
    if style == "bedrock":
        headers["x-amzn-errortype"] = _aws_exception(status)
    return _dumps(error_payload(style, message, code, status)), headers


def stream_error_event(style: str, shape: str, message: str, code: str, status: int = 429) -> bytes:
    """One error event in the provider's stream format, to append after the last complete event.

    Gemini's JSON-array form needs the array's state and is rendered by its stream parser instead.
    """
    payload = error_payload(style, message, code, status)
    if shape == "eventstream":
        headers = {
            ":message-type": "exception",
            ":exception-type": _aws_exception(status)[0].lower() + _aws_exception(status)[1:],
            ":content-type": "application/json",
        }
        return encode_message(headers, _dumps(payload))
    if shape == "ndjson":
        return _dumps(payload if style == "ollama" else {"error": message}) + b"\n"
    if shape == "json_array":
        return b"[" + _dumps(payload) + b"]"
    if style == "anthropic":
        return b"event: error\ndata: " + _dumps(payload) + b"\n\n"
    if style == "cohere":
        end = {"type": "message-end", "delta": {"error": message, "finish_reason": "ERROR"}}
        return b"event: message-end\ndata: " + _dumps(end) + b"\n\n"
    return b"data: " + _dumps(payload) + b"\n\n"


def responses_error_event(message: str, code: str) -> bytes:
    """The OpenAI Responses API's streamed `error` event."""
    event = {"type": "error", "code": code, "message": message, "param": None}
    return b"event: error\ndata: " + _dumps(event) + b"\n\n"
