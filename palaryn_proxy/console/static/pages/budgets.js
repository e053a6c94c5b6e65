// Budgets: each configured budget's limit, spent, reserved (held by requests in flight), remaining and reset
// time — the fields of `budget status --json`, refreshed every 5 seconds.

import { get } from "../api.js";
import { empty, fmtInt, fmtRelative, fmtTime, fmtUsd, h, headerCell, numHeader, replace } from "../dom.js";
import { errorLine, pageHeader, poll } from "./common.js";

const NUMERIC = new Set(["Limit", "Spent", "Reserved", "Remaining"]);
const HEADERS = ["Budget", "Scope", "Period", "Limit", "Spent", "Reserved", "Remaining", "Used", "Resets"].map((t) =>
  NUMERIC.has(t) ? numHeader(t) : t,
);

function money(b, usdKey, tokenKey) {
  if (b.limit_usd != null) return fmtUsd(b[usdKey]);
  const tokens = b[tokenKey];
  return tokens == null ? "—" : `${fmtInt(tokens)} tokens`;
}

function usedFraction(b) {
  if (b.limit_usd != null) {
    return b.limit_usd > 0 ? ((b.spent_usd || 0) + (b.reserved_usd || 0)) / b.limit_usd : 1;
  }
  if (b.limit_tokens != null) {
    return b.limit_tokens > 0 ? ((b.spent_tokens || 0) + (b.reserved_tokens || 0)) / b.limit_tokens : 1;
  }
  return 0;
}

function remaining(b) {
  if (b.limit_usd != null) return fmtUsd(b.remaining_usd);
  if (b.limit_tokens == null) return "—";
  return `${fmtInt(Math.max(0, b.limit_tokens - (b.spent_tokens || 0) - (b.reserved_tokens || 0)))} tokens`;
}

function row(b) {
  const used = usedFraction(b);
  const pct = Math.round(used * 100);
  const meter = h("meter", {
    min: "0",
    max: "1",
    low: "0.75",
    high: "0.9",
    optimum: "0",
    value: String(Math.min(used, 1)),
    "aria-label": `${b.name}: ${pct}% used`,
  });
  const level = used >= 1 ? "bad" : used >= 0.9 ? "warn" : "ok";
  return h(
    "tr",
    { "data-budget": b.name },
    h("th", { scope: "row" }, b.name),
    h("td", {}, b.scope_value ? `${b.scope} ${b.scope_value}` : b.scope),
    h("td", {}, b.period),
    h("td", { class: "num" }, money(b, "limit_usd", "limit_tokens")),
    h("td", { class: "num" }, money(b, "spent_usd", "spent_tokens")),
    h("td", { class: "num" }, money(b, "reserved_usd", "reserved_tokens")),
    h("td", { class: "num" }, remaining(b)),
    h("td", { class: "nowrap" }, meter, " ", h("span", { class: `pct pct-${level}` }, used > 0 && pct === 0 ? "<1%" : `${pct}%`)),
    h("td", { class: "nowrap", title: b.resets_at ? fmtTime(b.resets_at) : "" }, b.resets_at ? `${fmtTime(b.resets_at)} (${fmtRelative(b.resets_at)})` : "never"),
  );
}

export async function render(view) {
  const errors = errorLine();
  const body = h("div");
  view.append(pageHeader("Budgets"), errors, body);

  async function load() {
    const data = await get("budgets");
    const budgets = Array.isArray(data) ? data : data.budgets || [];
    if (!budgets.length) {
      replace(body, empty("No budgets apply yet: configure them under the config key budgets (see README, Budgets)."));
      return;
    }
    replace(
      body,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "budgets" },
          h("thead", {}, h("tr", {}, HEADERS.map(headerCell))),
          h("tbody", {}, budgets.map(row)),
        ),
      ),
      h("p", { class: "muted" }, "Reserved is money held by requests still in flight; it is settled to the real cost when they finish. Refreshed every 5 seconds."),
    );
  }

  await load();
  return poll(load, 5000, errors, { immediate: false });
}
