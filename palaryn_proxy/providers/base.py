"""The provider adapter contract: parsed request, parsed result, the Adapter base and the StreamParser base."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import Usage
from . import errorbody
from .fields import FieldError, as_dict, load_json, opt_str
from .frames import Frame, Framer

# The exception types bad provider data can raise inside a parser; nothing else is caught.
DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)
_MAX_TEXT_CHARS = 8 << 20  # output text kept for estimation; characters beyond are only counted
_MAX_PROBLEMS = 5
_MAX_TOOLS = 256  # tool-call names kept per response
# The OpenAI API surfaces; several providers also serve them next to their native API.
OPENAI_APIS = frozenset({"chat.completions", "responses", "completions", "embeddings", "images"})

_STREAM_TYPES = {
    "text/event-stream": "sse",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/vnd.amazon.eventstream": "eventstream",
}


@dataclass(slots=True)
class LLMRequest:
    """What an LLM request asks for, read from its method, path, query and (decoded) body.

    `model` is the model the request names (for Azure deployment paths without a body model: the
    deployment name, also kept in `deployment`). `prompt_text` is the concatenated message, system and
    tool text, for token estimation. `stream_shape` is the framing a streamed answer will use.
    """

    provider: str
    api: str
    model: str | None = None
    stream: bool = False
    max_output_tokens: int | None = None
    prompt_text: str = field(default="", repr=False)  # user content: kept out of reprs and logs
    message_count: int = 0  # chat messages in the prompt (per-message token overhead when estimating)
    estimated_prompt_tokens: int | None = None  # filled once by the accountant, reused by every stage
    stream_shape: str | None = None  # "sse" | "ndjson" | "json_array" | "eventstream" | None
    deployment: str | None = None
    api_version: str | None = None  # Azure's `api-version` query parameter
    service_tier: str | None = None  # the tier the request asks for (OpenAI `service_tier`)


@dataclass(slots=True)
class LLMResult:
    """What a response (JSON or a whole stream) said: model, exact usage if reported, and why not.

    `model` is the model the response names, else the request's. `usage` is None when the response
    carried no usable usage; `problem` then says why. `output_text` holds generated text (including
    reasoning and tool-call arguments) for estimation. `error` is the provider's error type or code
    when the body or stream reported one (then nothing was generated or the generation broke off).
    """

    model: str | None = None
    usage: Usage | None = None
    output_text: str = field(default="", repr=False)  # model output: kept out of reprs and logs
    tool_calls: list[str] = field(default_factory=list)
    problem: str | None = None
    error: str | None = None


def content_shape(content_type: str) -> str | None:
    """The streaming framing a Content-Type announces, or None for JSON / anything else."""
    return _STREAM_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def usage_or_problem(convert: Callable[[Any], Usage], raw: Any) -> tuple[Usage | None, str | None]:
    """Run one adapter's usage mapping; a missing or malformed usage object becomes a problem."""
    if raw is None:
        return None, "no usage in response"
    try:
        return convert(raw), None
    except FieldError as exc:
        return None, str(exc)


def error_code(data: Any, status: int) -> str:
    """The provider's error type / status / code from an error body, else `http_<status>`."""
    if isinstance(data, list) and data:
        data = data[0]
    obj = as_dict(data)
    err = obj.get("error")
    if isinstance(err, dict):
        for key in ("type", "status", "code"):
            if isinstance(err.get(key), str | int) and not isinstance(err.get(key), bool):
                return str(err[key])
    for key in ("__type", "code", "type"):
        if isinstance(obj.get(key), str):
            return str(obj[key])
    return f"http_{status}"


class StreamParser(ABC):
    """Reads one streamed response incrementally: feed decoded chunks cut anywhere, then finish().

    feed() is O(chunk) and never raises: bad data only records a problem. `output_tokens_so_far` is the
    provider's running count when it streams one, else len(output text) // 4; `first_token_seen` turns
    true with the first generated text or tool call; `at_boundary` is true when the bytes fed so far
    end on an event boundary (the place to append `error_event(...)` when cutting a stream short).
    """

    def __init__(self, req: LLMRequest, framer: Framer, shape: str, style: str) -> None:
        self.req = req
        self.shape = shape
        self.style = style
        self.first_token_seen = False
        self.done = False  # the provider's end-of-stream marker was seen
        self.model: str | None = None
        self.usage: Usage | None = None
        self.error: str | None = None
        self.tool_calls: list[str] = []
        self._framer = framer
        self._text: list[str] = []
        self._chars = 0
        self._exact_output: int | None = None
        self._problems: list[str] = []
        self._broken = False
        self._result: LLMResult | None = None

    @property
    def output_tokens_so_far(self) -> int:
        return self._exact_output if self._exact_output is not None else self._chars // 4

    @property
    def at_boundary(self) -> bool:
        return self._framer.at_boundary

    def feed(self, chunk: bytes) -> None:
        if not chunk or self._broken or self._result is not None:
            return
        try:
            frames = self._framer.feed(chunk)
        except DATA_ERRORS as exc:  # a framer bug must not break the flow: usage becomes unknown
            self._broken = True
            self.note(f"parser error: {type(exc).__name__}")
            return
        for frame in frames:
            self._dispatch(frame)

    def finish(self) -> LLMResult:
        """End of stream (idempotent): flush, then report usage or why it is missing."""
        if self._result is not None:
            return self._result
        if not self._broken:
            try:
                frames = self._framer.close()
            except DATA_ERRORS as exc:
                frames = []
                self.note(f"parser error: {type(exc).__name__}")
            for frame in frames:
                self._dispatch(frame)
        if self._framer.problem:
            self.note(self._framer.problem)
        if not self.done:
            self.note("truncated stream")
        elif self.usage is None:
            self.note("no usage in stream")
        self._result = LLMResult(
            model=self.model or self.req.model,
            usage=self.usage,
            output_text="".join(self._text),
            tool_calls=list(self.tool_calls),
            problem="; ".join(self._problems) or None,
            error=self.error,
        )
        return self._result

    def error_event(self, message: str, code: str, status: int = 429) -> bytes:
        """An error event in this stream's format, valid after the bytes fed so far (at a boundary)."""
        return errorbody.stream_error_event(self.style, self.shape, message, code, status)

    # --- for subclasses -------------------------------------------------------------------------

    @abstractmethod
    def on_event(self, name: str | None, data: Any) -> None:
        """Handle one decoded JSON event; `name` is the SSE event name / AWS event type, if any."""

    def on_done_marker(self) -> None:
        """An SSE `data: [DONE]` arrived."""
        self.done = True

    def add_text(self, text: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        self.first_token_seen = True
        if self._chars < _MAX_TEXT_CHARS:
            self._text.append(text)
        self._chars += len(text)

    def add_tool(self, name: Any) -> None:
        self.first_token_seen = True
        if isinstance(name, str) and name and len(self.tool_calls) < _MAX_TOOLS:
            self.tool_calls.append(name)

    def set_model(self, model: Any) -> None:
        self.model = opt_str(model) or self.model

    def set_usage(self, convert: Callable[[Any], Usage], raw: Any, running: bool = True) -> None:
        """Take a (cumulative) usage object; a malformed one records a problem and is ignored.
        `running` says its output count is a true running count (used for output_tokens_so_far)."""
        usage, problem = usage_or_problem(convert, raw)
        if usage is None:
            self.note(problem or "no usage in stream")
            return
        self.usage = usage
        if running:
            self._exact_output = usage.output_tokens

    def set_error(self, code: Any) -> None:
        self.error = str(code) if code is not None else "error"
        self.note(f"stream error: {self.error}")

    def note(self, problem: str) -> None:
        if problem not in self._problems and len(self._problems) < _MAX_PROBLEMS:
            self._problems.append(problem)

    def _dispatch(self, frame: Frame) -> None:
        if frame.error:
            self.set_error(frame.name)
            return
        if frame.data == b"[DONE]":
            self.on_done_marker()
            return
        try:
            self.on_event(frame.name, load_json(frame.data))
        except FieldError as exc:
            self.note(str(exc))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            self.note("invalid json")
        except DATA_ERRORS:
            self.note("unexpected event shape")


class Adapter(ABC):
    """One provider API family: recognise its requests, read usage from its responses and streams.

    Subclasses set `id` (also the config key and LLMRequest.provider), `error_style` (one of
    errorbody.STYLES), `hosts` (default host patterns) and implement the abstract methods.
    """

    id: str = ""
    error_style: str = "openai"
    hosts: tuple[str, ...] = ()
    default_stream_shape: str = "sse"

    @abstractmethod
    def parse_request(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> LLMRequest | None:
        """Recognise an LLM call (None for anything else, e.g. GET /v1/models). Never raises."""

    @abstractmethod
    def parse_json(self, req: LLMRequest, data: Any) -> LLMResult:
        """Read a successful, non-streamed JSON response."""

    @abstractmethod
    def make_stream_parser(self, req: LLMRequest, shape: str) -> StreamParser | None:
        """A parser for this request's stream in the given framing, or None if it cannot occur."""

    def stream_parser(self, req: LLMRequest, content_type: str, status: int = 200) -> StreamParser | None:
        """A parser if the response headers announce a stream (call in responseheaders), else None:
        then leave the response buffered and call parse_response. Error statuses are never streams."""
        if status >= 400:
            return None
        shape = content_shape(content_type)
        if shape is None and req.stream and req.stream_shape == "json_array":
            shape = "json_array"
        return self.make_stream_parser(req, shape) if shape else None

    def parse_response(self, req: LLMRequest, status: int, content_type: str, body: bytes) -> LLMResult:
        """Read a whole (decoded) response body: JSON, an error, or a buffered stream. Never raises."""
        if status >= 400:
            return self._error_result(req, status, body)
        shape = content_shape(content_type) or _sniff_shape(req, body)
        if shape is not None:
            parser = self.make_stream_parser(req, shape)
            if parser is not None:
                parser.feed(body)
                return parser.finish()
        if not body.strip():
            return LLMResult(model=req.model, problem="empty body")
        try:
            data = load_json(body)
        except ValueError:
            return LLMResult(model=req.model, problem="invalid json")
        try:
            return self.parse_json(req, data)
        except DATA_ERRORS as exc:
            problem = str(exc) if isinstance(exc, FieldError) else "unexpected response shape"
            return LLMResult(model=req.model, problem=problem)

    def stream_error_event(
        self, message: str, code: str, status: int = 429, shape: str | None = None
    ) -> bytes:
        """An error event in this provider's stream format (prefer StreamParser.error_event)."""
        return errorbody.stream_error_event(
            self.error_style, shape or self.default_stream_shape, message, code, status
        )

    def style_for(self, req: LLMRequest | None) -> str:
        """The error style for this request: a foreign API surface served by this provider (OpenAI-
        compatible paths, Anthropic Messages on Vertex or Bedrock) answers in that API's style."""
        if req is not None and req.api in OPENAI_APIS:
            return "openai"
        if req is not None and req.api == "messages":
            return "anthropic"
        return self.error_style

    def error_body(
        self, message: str, code: str, status: int, req: LLMRequest | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A non-streaming error answer shaped like this provider's: (body, headers)."""
        return errorbody.error_body(self.style_for(req), message, code, status)

    def _error_result(self, req: LLMRequest, status: int, body: bytes) -> LLMResult:
        try:
            data = load_json(body) if body.strip() else None
        except ValueError:
            data = None
        return LLMResult(model=req.model, problem=f"error response {status}", error=error_code(data, status))


def _sniff_shape(req: LLMRequest, body: bytes) -> str | None:
    """A buffered stream whose Content-Type did not say so (or a JSON-array stream)."""
    head = body[:16].lstrip()
    if head.startswith((b"data:", b"event:", b":")):
        return "sse"
    if req.stream_shape == "json_array" and head.startswith(b"["):
        return "json_array"
    return None
