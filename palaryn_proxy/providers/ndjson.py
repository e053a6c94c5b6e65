"""Incremental newline-delimited JSON splitter (Ollama's native streams): one frame per non-blank line."""

from __future__ import annotations

from .frames import MAX_FRAME_BYTES, Frame


class NDJSONDecoder:
    """Feed bytes cut anywhere; get each complete line (CR stripped, blank lines skipped) as a frame.

    A line over `max_line_bytes` is dropped and `problem` is set.
    """

    def __init__(self, max_line_bytes: int = MAX_FRAME_BYTES) -> None:
        self.problem: str | None = None
        self._max = max_line_bytes
        self._pieces: list[bytes] = []
        self._len = 0
        self._skip = False

    @property
    def at_boundary(self) -> bool:
        return not self._pieces and not self._skip

    def feed(self, chunk: bytes) -> list[Frame]:
        if not chunk:
            return []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        out: list[Frame] = []
        for i, line in enumerate(lines):
            if i == 0 and (self._pieces or self._skip):
                skip = self._skip
                line = b"".join(self._pieces) + line
                self._pieces, self._len, self._skip = [], 0, False
                if skip or len(line) > self._max:
                    self._oversized()
                    continue
            self._emit(line, out)
        if tail and not self._skip:
            self._pieces.append(tail)
            self._len += len(tail)
            if self._len > self._max:
                self._oversized()
                self._pieces, self._len, self._skip = [], 0, True
        return out

    def close(self) -> list[Frame]:
        """End of stream: a last line without its newline is still delivered."""
        out: list[Frame] = []
        if self._pieces and not self._skip:
            self._emit(b"".join(self._pieces), out)
        self._pieces, self._len, self._skip = [], 0, False
        return out

    def _emit(self, line: bytes, out: list[Frame]) -> None:
        line = line.strip()
        if line:
            out.append(Frame(None, line))

    def _oversized(self) -> None:
        if self.problem is None:
            self.problem = "ndjson line too large"
