"""Tolerant readers for provider JSON: typed field access, token counts, and text gathering."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class FieldError(ValueError):
    """A usage field is missing or has the wrong type; the message names its path."""


def load_json(data: bytes | str) -> Any:
    """json.loads that reports pathological nesting as ValueError like any other bad JSON."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("json nested too deeply") from None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def opt_str(value: Any) -> str | None:
    """A non-empty string, else None (Azure streams `"model": ""` before the real name)."""
    return value if isinstance(value, str) and value else None


def opt_int(value: Any) -> int | None:
    """A non-negative integer request parameter (max tokens), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def count(obj: Mapping[str, Any], key: str, path: str, required: bool = False) -> int:
    """A token count at obj[key]: absent/null is 0 (or an error if required); anything else must be a
    non-negative integer (an integral float is accepted)."""
    value = obj.get(key)
    where = f"{path}.{key}"
    if value is None:
        if required:
            raise FieldError(f"{where} is missing")
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"{where} is not an integer")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise FieldError(f"{where} is not an integer")
        value = int(value)
    if value < 0:
        raise FieldError(f"{where} is negative")
    return value


def usage_dict(value: Any, path: str) -> dict[str, Any]:
    """The usage object itself must be a JSON object when present."""
    if not isinstance(value, dict):
        raise FieldError(f"{path} is not an object")
    return value


# Keys whose string values are identifiers, media or opaque blobs rather than prompt text.
_SKIP_KEYS = frozenset(
    {
        "type", "role", "id", "name_id", "call_id", "tool_call_id", "tool_use_id", "toolUseId", "url",
        "image_url", "data", "b64_json", "bytes", "inlineData", "inline_data", "fileData", "file_data",
        "source", "image", "document", "video", "audio", "input_audio", "signature", "cache_control",
        "mime_type", "mimeType", "media_type", "encrypted_content", "format", "detail", "file_id",
    }
)  # fmt: skip
_MAX_DEPTH = 32


def gather_text(value: Any, out: list[str], depth: int = 0) -> None:
    """Append every prompt-like string inside value (messages, parts, tool schemas) to out."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        if value and not value.startswith("data:"):
            out.append(value)
    elif isinstance(value, list):
        for item in value:
            gather_text(item, out, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _SKIP_KEYS:
                gather_text(item, out, depth + 1)


def text_of(*values: Any) -> str:
    """Newline-joined prompt text of several request fields."""
    out: list[str] = []
    for value in values:
        gather_text(value, out)
    return "\n".join(out)
