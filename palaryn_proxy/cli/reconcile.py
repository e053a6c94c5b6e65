"""`palaryn-proxy reconcile`: our audit-log costs beside the provider's own daily cost report, per day and model.

Sources: OpenAI's organization costs API (`GET /v1/organization/costs`, `bucket_width=1d`,
`group_by[]=line_item` as the SDKs send arrays; each result's `line_item` is "<model>, <input|output|...>"
and `amount.value` is in USD) and Anthropic's cost report API (`GET /v1/organizations/cost_report`,
`group_by[]=description`; each result names its `model`, and `amount` is a decimal string in cents). Both
need an admin key, read from OPENAI_ADMIN_KEY / ANTHROPIC_ADMIN_KEY, and are fetched directly: never
through a proxy (trust_env off).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import click
import httpx

from palaryn_proxy.audit import chain_files, read_records
from palaryn_proxy.cli.report import parse_since
from palaryn_proxy.config import Config

PROVIDERS = {
    "openai": ("https://api.openai.com", "OPENAI_ADMIN_KEY"),
    "anthropic": ("https://api.anthropic.com", "ANTHROPIC_ADMIN_KEY"),
}
_MAX_PAGES = 100
_TIMEOUT = 30.0
Key = tuple[str, str]  # (day YYYY-MM-DD, model)


class ReportError(Exception):
    """The provider's cost report could not be fetched or read; the message says why."""


@dataclass
class Line:
    day: str
    model: str
    ours: Decimal
    theirs: Decimal

    @property
    def drift(self) -> Decimal:
        return self.ours - self.theirs

    def to_dict(self) -> dict[str, Any]:
        pct = None if not self.theirs else str((self.drift / self.theirs * 100).quantize(Decimal("0.01")))
        return {"day": self.day, "model": self.model, "ours_usd": str(self.ours),
                "theirs_usd": str(self.theirs), "drift_usd": str(self.drift), "drift_pct": pct}  # fmt: skip


def _get_pages(client: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    page: str | None = None
    for _ in range(_MAX_PAGES):
        query = {**params, **({"page": page} if page else {})}
        try:
            resp = client.get(path, params=query)
        except httpx.HTTPError as exc:
            raise ReportError(f"{client.base_url}{path}: {exc}") from None
        if resp.status_code != 200:
            raise ReportError(f"{client.base_url}{path}: HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            body = resp.json()
        except ValueError:
            raise ReportError(f"{client.base_url}{path}: the answer is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ReportError(f"{client.base_url}{path}: the answer has no `data` list")
        yield body
        page = body.get("next_page") if body.get("has_more") else None
        if not page:
            return
    raise ReportError(f"{client.base_url}{path}: more than {_MAX_PAGES} pages")


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ReportError(f"{where}: amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise ReportError(f"{where}: amount {value!r} is not a number")
    return amount


def openai_costs(client: httpx.Client, start: datetime, end: datetime) -> dict[Key, Decimal]:
    """Daily USD per model from OpenAI's organization costs API (line items "<model>, <kind>")."""
    params = {"start_time": int(start.timestamp()), "end_time": int(end.timestamp()), "bucket_width": "1d",
              "group_by[]": ["line_item"], "limit": 180}  # fmt: skip
    out: dict[Key, Decimal] = {}
    for body in _get_pages(client, "/v1/organization/costs", params):
        for bucket in body["data"]:
            day = datetime.fromtimestamp(int(bucket["start_time"]), UTC).date().isoformat()
            for result in bucket.get("results") or []:
                amount = result.get("amount") or {}
                if str(amount.get("currency", "usd")).lower() != "usd":
                    raise ReportError(f"OpenAI cost in {amount.get('currency')!r}, not USD")
                model = str(result.get("line_item") or "-").split(",", 1)[0].strip()
                out[(day, model)] = out.get((day, model), Decimal(0)) + _money(amount.get("value", 0), model)
    return out


def anthropic_costs(client: httpx.Client, start: datetime, end: datetime) -> dict[Key, Decimal]:
    """Daily USD per model from Anthropic's cost report (amounts in cents)."""
    params = {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end), "bucket_width": "1d",
              "group_by[]": ["description"], "limit": 31}  # fmt: skip
    out: dict[Key, Decimal] = {}
    for body in _get_pages(client, "/v1/organizations/cost_report", params):
        for bucket in body["data"]:
            day = str(bucket["starting_at"])[:10]
            for result in bucket.get("results") or []:
                if str(result.get("currency", "USD")).upper() != "USD":
                    raise ReportError(f"Anthropic cost in {result.get('currency')!r}, not USD")
                model = str(result.get("model") or result.get("description") or "-")
                cents = _money(result.get("amount", 0), model)
                out[(day, model)] = out.get((day, model), Decimal(0)) + cents / 100
    return out


def our_costs(records: Iterable[dict[str, Any]], provider: str, start: datetime) -> dict[Key, Decimal]:
    """Daily USD per model of this provider's LLM calls in the audit log (unpriced calls count 0)."""
    cutoff = _rfc3339(start)
    out: dict[Key, Decimal] = {}
    for record in records:
        if record.get("kind") != "llm" or record.get("provider") != provider:
            continue
        ts = str(record.get("ts", ""))
        if ts < cutoff or record.get("cost_usd") is None:
            continue
        key = (ts[:10], str(record.get("model") or "-"))
        out[key] = out.get(key, Decimal(0)) + Decimal(str(record["cost_usd"]))
    return out


def reconcile(ours: dict[Key, Decimal], theirs: dict[Key, Decimal]) -> list[Line]:
    """One line per (day, model) seen on either side, in day then model order."""
    keys = sorted(set(ours) | set(theirs))
    return [Line(day, model, ours.get((day, model), Decimal(0)), theirs.get((day, model), Decimal(0)))
            for day, model in keys]  # fmt: skip


def fetch_theirs(
    provider: str, base_url: str, key: str, start: datetime, end: datetime
) -> dict[Key, Decimal]:
    headers = (
        {"Authorization": f"Bearer {key}"}
        if provider == "openai"
        else {"x-api-key": key, "anthropic-version": "2023-06-01"}
    )
    with httpx.Client(base_url=base_url, headers=headers, timeout=_TIMEOUT, trust_env=False) as client:
        fetch = openai_costs if provider == "openai" else anthropic_costs
        return fetch(client, start, end)


def render(lines: list[Line]) -> str:
    rows = [("day", "model", "ours_usd", "theirs_usd", "drift_usd", "drift_pct")]
    for line in lines:
        d = line.to_dict()
        rows.append((d["day"], d["model"], _usd(line.ours), _usd(line.theirs), _usd(line.drift),
                     f"{d['drift_pct']}%" if d["drift_pct"] is not None else "-"))  # fmt: skip
    ours = sum((x.ours for x in lines), Decimal(0))
    theirs = sum((x.theirs for x in lines), Decimal(0))
    rows.append(("TOTAL", "", _usd(ours), _usd(theirs), _usd(ours - theirs), ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _usd(value: Decimal) -> str:
    return f"{value:.6f}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    @main.command(name="reconcile")
    @proxy_options
    @click.option("--provider", required=True, type=click.Choice(sorted(PROVIDERS)), help="Whose bill.")
    @click.option("--since", default="7d", show_default=True, help="Time window: 24h, 7d, 2w.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
    @click.option(
        "--api-base",
        default=None,
        help="The provider's API base URL (default its public one; for a gateway or a test double).",
    )
    def reconcile_cmd(provider: str, since: str, as_json: bool, api_base: str | None, **kwargs: Any) -> None:
        """Our costs beside the provider's own daily cost report, per day and model, with the drift.

        Needs an admin key in OPENAI_ADMIN_KEY or ANTHROPIC_ADMIN_KEY; the report is fetched directly,
        never through a proxy."""
        config = load(kwargs)
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        if start is None:
            raise click.BadParameter("--since all is not supported: cost reports need a start time")
        default_base, key_env = PROVIDERS[provider]
        key = os.environ.get(key_env, "").strip()
        if not key:
            raise click.ClickException(f"set {key_env} to an admin API key to read {provider}'s cost report")
        end = datetime.now(UTC)
        try:
            theirs = fetch_theirs(provider, (api_base or default_base).rstrip("/"), key, start, end)
        except ReportError as exc:
            raise click.ClickException(str(exc)) from None
        ours = our_costs(read_records(chain_files(config.audit_log)), provider, start)
        lines = reconcile(ours, theirs)
        if as_json:
            click.echo(json.dumps([line.to_dict() for line in lines], indent=2))
        else:
            click.echo(render(lines))
