// Overview: spend today and over the last 7 days, requests, blocks, top actors and models, cost over time.

import { get } from "../api.js";
import { barList, bucketRange, columnChart } from "../charts.js";
import { empty, fmtCompact, fmtInt, fmtUsd, fmtUsdShort, h, kpi, replace, section, usdNumber } from "../dom.js";
import { errorLine, pageHeader, poll, refreshButton, startOfToday } from "./common.js";

const TOP = 8;

function sumBlocked(blocked) {
  return Object.values(blocked || {}).reduce((a, b) => a + Number(b), 0);
}

function blockedDetail(blocked) {
  const parts = Object.entries(blocked || {}).map(([decision, n]) => `${decision} ${fmtInt(n)}`);
  return parts.length ? parts.join(" · ") : null;
}

function kpis(today, week) {
  const pending = week.pending_approvals ?? 0;
  return h(
    "div",
    { class: "kpis" },
    kpi("Spend today", fmtUsd(today.cost_usd), { "data-kpi": "cost-today", title: "since local midnight" }),
    kpi("Spend, 7 days", fmtUsd(week.cost_usd), { "data-kpi": "cost-7d" }),
    kpi("Requests, 7 days", fmtInt(week.requests), { "data-kpi": "requests-7d" }),
    kpi("LLM calls, 7 days", fmtInt(week.llm_requests), { "data-kpi": "llm-7d" }),
    kpi("Tokens in / out", `${fmtCompact(week.input_tokens)} / ${fmtCompact(week.output_tokens)}`, {
      "data-kpi": "tokens-7d",
      title: `${fmtInt(week.input_tokens)} input, ${fmtInt(week.output_tokens)} output tokens`,
    }),
    kpi("Blocked, 7 days", fmtInt(sumBlocked(week.blocked)), { "data-kpi": "blocked-7d" }, blockedDetail(week.blocked)),
    kpi("DLP findings", fmtInt(week.dlp_findings), { "data-kpi": "dlp-7d" }),
    kpi("Anomalies", fmtInt(week.anomalies), { "data-kpi": "anomalies-7d" }),
    kpi("Pending approvals", pending ? h("a", { href: "#/approvals" }, fmtInt(pending)) : "0", {
      "data-kpi": "pending",
    }),
  );
}

function costSeries(rows, sinceMs, bucketMs) {
  const byBucket = new Map();
  for (const row of rows) {
    const t = Date.parse(row.bucket_start);
    byBucket.set(t, (byBucket.get(t) || 0) + usdNumber(row.cost_usd));
  }
  return bucketRange(sinceMs, bucketMs).map((t) => {
    const v = byBucket.get(t) || 0;
    return { t, v, text: fmtUsdShort(v) };
  });
}

function topRows(rows, param) {
  return rows
    .slice()
    .sort((a, b) => usdNumber(b.cost_usd) - usdNumber(a.cost_usd) || b.requests - a.requests)
    .slice(0, TOP)
    .map((r) => ({
      label: r.group,
      value: usdNumber(r.cost_usd),
      text: fmtUsd(r.cost_usd),
      extra: fmtInt(r.requests),
      href: param && r.group ? `#/flows?${new URLSearchParams({ [param]: r.group })}` : null,
    }));
}

export async function render(view) {
  const errors = errorLine();
  const body = h("div", { class: "overview" }, h("p", { class: "loading" }, "Loading…"));
  let disposeChart = () => {};

  async function load() {
    const since = Date.now() - 7 * 86400e3;
    const [today, week, byHour, byActor, byModel] = await Promise.all([
      get("summary", { since: startOfToday() }),
      get("summary", { since: "7d" }),
      get("spend", { by: "model", since: "7d", bucket: "1h" }),
      get("spend", { by: "actor", since: "7d", bucket: "none" }),
      get("spend", { by: "model", since: "7d", bucket: "none" }),
    ]);
    disposeChart();
    const chartBox = h("div", { class: "chart-box" });
    const models = byModel.filter((r) => r.group !== "");
    replace(
      body,
      kpis(today, week),
      section("Cost over time (7 days, hourly)", chartBox),
      h(
        "div",
        { class: "columns" },
        section("Top actors", byActor.length ? barList(topRows(byActor, "actor")) : empty("No traffic in the last 7 days.")),
        section("Top models", models.length ? barList(topRows(models, null)) : empty("No LLM calls in the last 7 days.")),
      ),
    );
    disposeChart = columnChart(chartBox, {
      points: costSeries(byHour, since, 3600e3),
      label: "Cost per hour over the last 7 days",
      formatValue: fmtUsdShort,
    });
  }

  const refresh = async () => {
    try {
      await load();
      replace(errors);
    } catch (err) {
      replace(errors, err.message);
    }
  };
  view.append(pageHeader("Overview", refreshButton(refresh)), errors, body);
  await load();
  // Refresh on its own, except while the keyboard focus is inside (a re-render would drop it).
  const stop = poll(() => (body.contains(document.activeElement) ? null : load()), 30000, errors, { immediate: false });
  return () => {
    stop();
    disposeChart();
  };
}
