// One flow: what was asked, the decision with every reason, DLP findings (types and locations, never values),
// anomalies, usage and cost — the audit record, laid out.

import { get } from "../api.js";
import { decisionBadge, empty, fmtBytes, fmtInt, fmtTime, fmtUsd, h, section, table } from "../dom.js";
import { lastList } from "./flows.js";

/** A definition list from [label, value] pairs; empty values are left out. */
function facts(pairs) {
  const items = pairs.filter(([, v]) => v !== null && v !== undefined && v !== "");
  return h("dl", { class: "facts" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function list(values) {
  return values && values.length ? values.join(", ") : "";
}

function reasons(rec) {
  const rows = (rec.reasons || []).map((r) => [r.stage || "", r.rule || "", r.message || ""]);
  return section("Reasons", rows.length ? table(["Stage", "Rule", "Message"], rows, { class: "reasons" }) : empty("No reasons recorded (allowed with no rule involved)."));
}

function dlp(rec) {
  const rows = (rec.dlp || []).map((f) => [f.type || "", f.direction || "", f.location || "", f.action || ""]);
  return section(
    "DLP findings",
    rows.length ? table(["Type", "Direction", "Location", "Action"], rows, { class: "dlp" }) : empty("No DLP findings."),
  );
}

function anomalyDetail(a) {
  const skip = new Set(["type", "severity", "first"]);
  return Object.entries(a)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
    .join(" · ");
}

function anomalies(rec) {
  const rows = (rec.anomalies || []).map((a) => [a.type || "", a.severity || "", a.first ? "yes" : "", anomalyDetail(a)]);
  return section(
    "Anomalies",
    rows.length ? table(["Type", "Severity", "First", "Details"], rows, { class: "anomalies" }) : empty("No anomalies."),
  );
}

function usage(rec) {
  const u = rec.usage;
  if (!u && rec.cost_usd == null) return section("Usage and cost", empty("No LLM usage on this flow."));
  return section(
    "Usage and cost",
    facts([
      ["Provider", rec.provider],
      ["API", rec.api],
      ["Model", rec.model],
      ["Input tokens", u ? fmtInt(u.input_tokens) : ""],
      ["Output tokens", u ? fmtInt(u.output_tokens) : ""],
      ["Cache read tokens", u && u.cache_read_tokens ? fmtInt(u.cache_read_tokens) : ""],
      ["Cache write tokens", u && u.cache_write_tokens ? fmtInt(u.cache_write_tokens) : ""],
      ["Reasoning tokens", u && u.reasoning_tokens ? fmtInt(u.reasoning_tokens) : ""],
      ["Estimated", u ? (u.estimated ? "yes (the provider reported no usage)" : "no") : ""],
      ["Cost", rec.cost_usd == null ? "not priced" : fmtUsd(rec.cost_usd)],
      ["Tools the model called", list(rec.model_tools)],
    ]),
  );
}

function tags(value) {
  if (!value) return "";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}=${v}`).join(", ");
  return String(value);
}

function overview(rec) {
  return section(
    "Request",
    facts([
      ["Request id", h("code", {}, rec.request_id)],
      ["Time", fmtTime(rec.ts)],
      ["Decision", decisionBadge(rec.decision)],
      ["Status", rec.status == null ? "" : String(rec.status)],
      ["Actor", rec.actor],
      ["Workspace", rec.workspace],
      ["Task", rec.task],
      ["Tags", tags(rec.tags)],
      ["Client", rec.client],
      ["Method", rec.method],
      ["URL", h("code", { class: "wrap" }, rec.url || "")],
      ["Kind", rec.kind],
      ["Capability", rec.capability],
      ["Tool", rec.tool],
      ["Duration", rec.duration_ms == null ? "" : `${fmtInt(Math.round(rec.duration_ms))} ms`],
      ["Request bytes", rec.request_bytes == null ? "" : fmtBytes(rec.request_bytes)],
      ["Response bytes", rec.response_bytes == null ? "" : fmtBytes(rec.response_bytes)],
    ]),
  );
}

export async function render(view, { id }) {
  const back = h("a", { href: lastList.hash, class: "back" }, "← Back to flows");
  view.append(h("div", { class: "page-head" }, h("h1", {}, "Flow"), h("div", { class: "toolbar" }, back)));
  let rec;
  try {
    rec = await get(`flows/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    view.append(h("p", { class: "error", role: "alert" }, `No flow with id ${id}: it may be older than events.retention_days, or not stored yet.`));
    return;
  }
  view.append(
    h("p", { class: "subtitle" }, `${rec.method || ""} ${rec.host || ""} · ${rec.actor || "unknown actor"}`),
    h("div", { class: "columns" }, overview(rec), h("div", {}, usage(rec), anomalies(rec))),
    reasons(rec),
    dlp(rec),
  );
}
