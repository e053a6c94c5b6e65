"""Streamed bodies: secrets split across network chunks or across SSE/NDJSON events are found and redacted."""

from __future__ import annotations

import json

from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner


def _run(stream: object, data: bytes, sizes: list[int]) -> bytes:
    out, pos, i = b"", 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out += stream.feed(data[pos : pos + n])  # type: ignore[attr-defined]
        pos, i = pos + n, i + 1
    return out + stream.finish()  # type: ignore[attr-defined]


def test_raw_secret_split_at_every_point_of_two_chunks(scanner: DlpScanner) -> None:
    tok = fake("github_pat")
    data = ("x" * 300 + f" token {tok} end " + "y" * 300).encode()
    expected = data.replace(tok.encode(), b"[REDACTED:github_pat]")
    start = data.index(tok.encode())
    for cut in range(start - 2, start + len(tok) + 2):
        st = scanner.stream_scanner(direction="response", content_type="text/plain")
        out = st.feed(data[:cut]) + st.feed(data[cut:]) + st.finish()
        assert out == expected, cut
        assert [(f.type, f.start, f.end) for f in st.findings] == [("github_pat", start, start + len(tok))]


def test_raw_clean_stream_passes_unchanged_holding_at_most_overlap(scanner: DlpScanner) -> None:
    data = ("plain log line number %d, nothing secret here\n" * 200 % tuple(range(200))).encode()
    st = scanner.stream_scanner(direction="response", content_type="text/plain", overlap=128)
    out = b""
    for i in range(0, len(data), 97):
        out += st.feed(data[i : i + 97])
        assert min(i + 97, len(data)) - len(out) <= 128
    assert out + st.finish() == data and st.findings == []


def test_raw_stream_keeps_multibyte_characters_whole(scanner: DlpScanner) -> None:
    data = ("é" * 500 + "中" * 500).encode()
    st = scanner.stream_scanner(direction="response", content_type="text/plain", overlap=64)
    chunks = [st.feed(data[i : i + 7]) for i in range(0, len(data), 7)] + [st.finish()]
    for c in chunks:
        c.decode("utf-8")  # every released piece is valid UTF-8 on its own
    assert b"".join(chunks) == data


def _openai_sse(pieces: list[str]) -> bytes:
    events = [
        b"data: "
        + json.dumps(
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": p}}],
            }
        ).encode()
        + b"\n\n"  # fmt: skip
        for p in pieces
    ]
    return b"".join(events) + b"data: [DONE]\n\n"


def _content(out: bytes) -> str:
    text = ""
    for line in out.split(b"\n"):
        if line.startswith(b"data: {"):
            text += json.loads(line[6:])["choices"][0]["delta"].get("content", "")
    return text


def test_sse_secret_streamed_token_by_token_across_events(scanner: DlpScanner) -> None:
    key = fake("openai_project_key")
    pieces = [
        "Your key is ",
        *[key[i : i + 7] for i in range(0, len(key), 7)],
        ". Keep it safe.",
        " More." * 80,
    ]
    data = _openai_sse(pieces)
    for sizes in ([len(data)], [13], [64, 5, 300]):
        st = scanner.stream_scanner(
            direction="response", content_type="text/event-stream", host="api.openai.com"
        )
        out = _run(st, data, sizes)
        assert key.encode() not in out and key[:30].encode() not in out
        assert _content(out).startswith("Your key is [REDACTED:openai_project_key]. Keep it safe.")
        assert out.endswith(b"data: [DONE]\n\n")
        assert [f.type for f in st.findings] == ["openai_project_key"]
        f = st.findings[0]
        assert f.location == "response.body" and data[f.start : f.end].startswith(key[:7].encode())


def test_sse_anthropic_events_and_crlf_framing(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 2)
    events = [b'event: message_start\r\ndata: {"type": "message_start"}\r\n\r\n']
    for p in ("Use ", tok[:10], tok[10:], " to push."):
        payload = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        events.append(b"event: content_block_delta\r\ndata: " + json.dumps(payload).encode() + b"\r\n\r\n")
    data = b"".join(events)
    st = scanner.stream_scanner(direction="response", content_type="text/event-stream; charset=utf-8")
    out = _run(st, data, [9])
    texts = [json.loads(line[6:])["delta"]["text"] for line in out.split(b"\r\n") if b"text_delta" in line]
    assert "".join(texts) == "Use [REDACTED:github_pat] to push."
    assert out.startswith(b"event: message_start\r\n")


def test_ndjson_stream(scanner: DlpScanner) -> None:
    key = fake("anthropic_api_key", 3)
    lines = [
        json.dumps({"model": "llama3", "response": p, "done": False})
        for p in ("k=", key[:40], key[40:], "\n")
    ]
    data = ("\n".join(lines) + "\n").encode()
    st = scanner.stream_scanner(direction="response", content_type="application/x-ndjson")
    out = _run(st, data, [50])
    assert "".join(json.loads(x)["response"] for x in out.splitlines()) == "k=[REDACTED:anthropic_api_key]\n"


def test_block_action_in_a_stream_stops_it() -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": "block"}}))
    tok = fake("github_pat", 5)
    data = _openai_sse(["a ", tok[:20], tok[20:], " b", " tail" * 100])
    st = scanner.stream_scanner(direction="response", content_type="text/event-stream")
    out = _run(st, data, [40])
    assert st.blocked and tok[20:].encode() not in out and tok[:20].encode() not in out
    assert st.feed(b"data: more\n\n") == b""


def test_secret_in_other_fields_of_an_event(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 6)
    data = b'data: {"id": "' + tok.encode() + b'", "choices": []}\n\n'
    st = scanner.stream_scanner(direction="response", content_type="text/event-stream")
    assert _run(st, data, [11]) == b'data: {"id": "[REDACTED:github_pat]", "choices": []}\n\n'


def test_sse_with_plain_text_data_lines(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 8)
    data = f"event: log\ndata: deploying with {tok[:12]}\n\nevent: log\ndata: {tok[12:]} done\n\n".encode()
    st = scanner.stream_scanner(direction="response", content_type="text/event-stream")
    out = _run(st, data, [7])
    assert tok[:12].encode() not in out and tok[12:].encode() not in out
    assert out == b"event: log\ndata: deploying with [REDACTED:github_pat]\n\nevent: log\ndata:  done\n\n"


def test_other_fields_are_scanned_only_when_they_hold_a_keyword_but_never_skipped(
    scanner: DlpScanner,
) -> None:
    """Deltas full of secret keywords ("token") do not make every event's fields rescanned, and many
    identical clean events before a different one do not hide a secret in that one's fields."""
    tok = fake("github_pat", 9)
    clean = _openai_sse([f" token{i} secret key" for i in range(300)])[: -len(b"data: [DONE]\n\n")]
    dirty = b'data: {"id": "c1", "object": "chat.completion.chunk", "system_fingerprint": "' + tok.encode()
    dirty += b'", "choices": [{"index": 0, "delta": {"content": " token"}}]}\n\n'
    data = clean + dirty + b"data: [DONE]\n\n"
    scanned: list[str] = []
    original = scanner.findings_in

    def spy(direction: str, host: str, segments: list) -> list:  # type: ignore[type-arg]
        scanned.extend({s.container for s in segments if s.container.startswith("event:")})
        return original(direction, host, segments)

    scanner.findings_in = spy  # type: ignore[method-assign]
    try:
        st = scanner.stream_scanner(direction="response", content_type="text/event-stream")
        out = _run(st, data, [700])
    finally:
        del scanner.findings_in
    assert tok.encode() not in out and b'"system_fingerprint": "[REDACTED:github_pat]"' in out
    assert [f.type for f in st.findings] == ["github_pat"]
    assert len(scanned) == 1  # only the fields of the one event with a keyword outside its delta
    assert _content(out) == "".join(f" token{i} secret key" for i in range(300)) + " token"
