"""Incremental Server-Sent Events decoder: events split across chunks, CR/LF/CRLF, comments, bounded."""

from __future__ import annotations

from .frames import MAX_FRAME_BYTES, Frame


class SSEDecoder:
    """Feed bytes cut anywhere; get complete events (`event:` name, `data:` lines joined by "\\n").

    Comment lines (keep-alives such as `: ping`), `id:` and `retry:` are ignored. An event or line
    over `max_event_bytes` is dropped and `problem` is set; decoding resumes at the next event.
    """

    def __init__(self, max_event_bytes: int = MAX_FRAME_BYTES) -> None:
        self.problem: str | None = None
        self._max = max_event_bytes
        self._pending_cr = False  # previous chunk ended with "\r": a leading "\n" belongs to it
        self._line: list[bytes] = []  # pieces of the current, unterminated line
        self._line_len = 0
        self._skip_line = False  # current line is oversized: discard until its end
        self._name: str | None = None
        self._data: list[bytes] = []
        self._size = 0
        self._has_data = False
        self._skip_event = False  # current event is oversized: discard until the blank line

    @property
    def at_boundary(self) -> bool:
        return not self._line and not self._skip_line and not self._has_data and self._name is None

    def feed(self, chunk: bytes) -> list[Frame]:
        if not chunk:
            return []
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._pending_cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[Frame] = []
        lines = chunk.split(b"\n")
        tail = lines.pop()  # text after the last line break: an unterminated line (maybe empty)
        for i, line in enumerate(lines):
            if i == 0 and self._skip_line:
                self._skip_line = False  # the end of an oversized line: drop it
                continue
            if i == 0 and self._line:
                joined = self._take_line(line)
                if joined is None:
                    continue
                line = joined
            self._line_done(line, out)
        if tail:
            self._add_partial(tail)
        return out

    def close(self) -> list[Frame]:
        """End of stream: a last event without its blank line is still delivered (lenient)."""
        out: list[Frame] = []
        if self._line and not self._skip_line:
            line = self._take_line(b"")
            if line is not None:
                self._line_done(line, out)
        self._line, self._line_len, self._skip_line = [], 0, False
        self._line_done(b"", out)
        return out

    def _add_partial(self, piece: bytes) -> None:
        if self._skip_line:
            return
        self._line.append(piece)
        self._line_len += len(piece)
        if self._line_len > self._max:
            self._note("sse line too large")
            self._line, self._line_len, self._skip_line = [], 0, True
            self._skip_event = True

    def _take_line(self, end: bytes) -> bytes | None:
        line = b"".join(self._line) + end
        self._line, self._line_len = [], 0
        if len(line) > self._max:
            self._note("sse line too large")
            self._skip_event = True
            return None
        return line

    def _line_done(self, line: bytes, out: list[Frame]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[:1] == b":" or self._skip_event:
            return
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._size += len(value) + 1
            self._has_data = True
            if self._size > self._max:
                self._note("sse event too large")
                self._skip_event = True
                self._data, self._size = [], 0
        elif field == b"event":
            self._name = value.decode("utf-8", "replace")

    def _dispatch(self, out: list[Frame]) -> None:
        if self._has_data and not self._skip_event:
            out.append(Frame(self._name, b"\n".join(self._data)))
        self._name, self._data, self._size, self._has_data, self._skip_event = None, [], 0, False, False

    def _note(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
