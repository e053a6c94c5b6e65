"""The request plan: which placeholders sit in their credential's slot toward a bound host (to be replaced by
the real value), and which sit anywhere else or go anywhere else (the request is refused)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from palaryn_proxy.credentials import sigv4
from palaryn_proxy.credentials.config import CredentialsConfig, CredentialSpec
from palaryn_proxy.credentials.placeholders import MARKER, Placeholders

_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
_JSON_ESCAPE = re.compile(r"\\u00([0-9a-fA-F]{2})")


def _b64_markers() -> tuple[str, ...]:
    """The base64 text of the marker at each byte alignment (the characters no neighbour byte changes)."""
    out = set()
    for word in (MARKER, MARKER.upper()):
        for k in range(3):
            enc = base64.b64encode(b"\0" * k + word.encode()).decode()
            first, last = math.ceil(8 * k / 6), (8 * (k + len(word)) - 6) // 6
            stable = enc[first : last + 1]
            out.update({stable, stable.replace("+", "-").replace("/", "_")})
    return tuple(out)


B64_MARKERS = _b64_markers()


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the plan reads of a request; `body` decoded (Content-Encoding undone), `raw_body` as sent."""

    host: str
    port: int
    scheme: str
    method: str
    url: str
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]  # decoded pairs, in order
    body: bytes = b""
    raw_body: bytes = b""


@dataclass(frozen=True, slots=True)
class Use:
    """A placeholder in its slot: `kind` header | query | basic | aws_sigv4, `field` the header or parameter."""

    name: str
    kind: str
    field: str
    token: str  # the placeholder as found (for aws_sigv4: the access key id)
    raw: str = ""  # the text that carries it in the request, when not the token itself (basic: the base64)


@dataclass(frozen=True, slots=True)
class Refusal:
    name: str
    reason: str  # unbound_host | outside_slot | other_actor | actor_not_allowed | required | bad_signature
    message: str


@dataclass(slots=True)
class Plan:
    uses: list[Use] = field(default_factory=list)
    refusal: Refusal | None = None


SLOT_MASK = "palaryn-credential-slot-"


class SlotMask:
    """The request as the DLP stage scans it: each placeholder in its slot replaced by a neutral word (a
    placeholder looks like a key, and is one there), put back into whatever the DLP stage rewrites."""

    def __init__(self, plan: Plan | None):
        self.pairs = [
            (u.raw or u.token, f"{SLOT_MASK}{i}", u) for i, u in enumerate(plan.uses if plan else ())
        ]

    def headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for name, value in headers:
            for needle, mask, use in self.pairs:
                if use.kind != "query" and name.lower() == use.field:
                    value = value.replace(needle, mask)
            out.append((name, value))
        return out

    def path(self, path: str) -> str:
        for needle, mask, use in self.pairs:
            if use.kind == "query":
                path = path.replace(needle, mask)
        return path

    def restore(self, text: str) -> str:
        for needle, mask, _ in reversed(self.pairs):  # -10 before -1
            text = text.replace(mask, needle)
        return text


def judge(view: RequestView, actor: str, config: CredentialsConfig, ph: Placeholders) -> Plan:
    """The plan for one request by `actor`."""
    bound = config.bound(view.host, view.port, view.scheme)
    plan = Plan()
    slot_headers: set[int] = set()
    slot_params: set[int] = set()
    for spec in bound:
        refusal = _slots(spec, view, actor, ph, plan, slot_headers, slot_params)
        if refusal is not None:
            return Plan(refusal=refusal)
    texts = [f"{k}: {v}" for i, (k, v) in enumerate(view.headers) if i not in slot_headers]
    texts += [f"{k}={v}" for i, (k, v) in enumerate(view.query) if i not in slot_params]
    texts.append(view.body.decode("latin-1") if view.body else "")
    bound_names = {s.name for s in bound}
    for text in texts:
        for seen in _views(text):
            for name in sorted(ph.find(seen)):
                return Plan(refusal=_misplaced(name, name in bound_names, view.host))
    used = {u.name for u in plan.uses}
    if bound and not used and config.required_at(view.host):
        names = ", ".join(s.name for s in bound)
        message = f"requests to {view.host} must carry the placeholder of credential {names}"
        return Plan(refusal=Refusal(bound[0].name, "required", message))
    return plan


def placeholders_in(text: str, ph: Placeholders) -> set[str]:
    """Names of the credentials whose placeholders appear in `text`, also URL-encoded, escaped or base64."""
    return {name for seen in _views(text) for name in ph.find(seen)}


def _misplaced(name: str, bound: bool, host: str) -> Refusal:
    if bound:
        return Refusal(name, "outside_slot", f"placeholder of credential {name} outside its slot")
    return Refusal(
        name, "unbound_host", f"placeholder of credential {name} sent to {host}, not one of its hosts"
    )


def _slots(
    spec: CredentialSpec,
    view: RequestView,
    actor: str,
    ph: Placeholders,
    plan: Plan,
    slot_headers: set[int],
    slot_params: set[int],
) -> Refusal | None:
    """Find this credential's placeholders in its slots; record each as a Use, or say why it is refused."""
    for i, kind, fld, token, raw in _candidates(spec, view):
        if ph.owner(token) != spec.name:
            continue  # the agent's own key, or another credential's placeholder (judged as misplaced)
        if not spec.allows(actor):
            return Refusal(
                spec.name, "actor_not_allowed", f"actor {actor} may not use credential {spec.name}"
            )
        expected = ph.aws(spec, actor).access_key_id if spec.aws is not None else ph.key(spec, actor)
        if token != expected:
            message = f"placeholder of credential {spec.name} belongs to another actor than {actor}"
            return Refusal(spec.name, "other_actor", message)
        if spec.aws is not None:
            try:
                sigv4.verify(view.method, view.url, view.headers, view.raw_body, ph.aws(spec, actor))
            except sigv4.SignatureError as exc:
                return Refusal(spec.name, "bad_signature", f"credential {spec.name}: {exc}")
        (slot_params if kind == "query" else slot_headers).add(i)
        plan.uses.append(Use(spec.name, kind, fld, token, raw))
    return None


def _candidates(spec: CredentialSpec, view: RequestView) -> Iterator[tuple[int, str, str, str, str]]:
    """(index, kind, field, token, raw) for every value in one of the credential's slots."""
    for i, (name, value) in enumerate(view.headers):
        lower = name.lower()
        for header, fmt in spec.headers:
            if lower == header and (token := unformat(fmt, value)) is not None:
                yield i, "header", lower, token, ""
        if lower != "authorization":
            continue
        if spec.basic_username is not None and value[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            yield i, "basic", lower, decoded.partition(":")[2], value[6:].strip()
        elif spec.aws is not None and (m := _SIGV4.match(value.strip())):
            yield i, "aws_sigv4", lower, m.group(1), value  # all of it: the signature looks like a secret
    if spec.query is not None:
        for i, (name, value) in enumerate(view.query):
            if name == spec.query:
                yield i, "query", name, value, ""


def unformat(fmt: str, value: str) -> str | None:
    """The token in a header value written as `fmt` ("Bearer {value}"); the scheme word in any case."""
    before, _, after = fmt.partition("{value}")
    value = value.strip()
    if not value.lower().startswith(before.lower()) or not value.endswith(after):
        return None
    token = value[len(before) : len(value) - len(after) if after else None].strip()
    return token or None


def _views(text: str) -> Iterator[str]:
    """The text, and the text decoded the ways a placeholder may be hidden: URL-encoding, JSON \\u escapes,
    base64 (only runs around an encoded marker are decoded)."""
    yield text
    if "%" in text or "+" in text:
        yield unquote_plus(text)
    if "\\u00" in text:
        yield _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if any(m in text for m in B64_MARKERS):
        for run in _B64_RUN.finditer(text):
            chunk = run.group(0)
            if any(m in chunk for m in B64_MARKERS):
                yield from _b64_decodings(chunk)


def _b64_decodings(chunk: str) -> Iterator[str]:
    chunk = chunk.rstrip("=").replace("-", "+").replace("_", "/")
    for offset in range(4):
        part = chunk[offset:]
        part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
        try:
            yield base64.b64decode(part + "=" * (-len(part) % 4)).decode("latin-1")
        except binascii.Error:
            continue
