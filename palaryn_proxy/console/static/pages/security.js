// Security: DLP findings by type and direction, injection flags, SSRF refusals and anomalies, over time.

import { get } from "../api.js";
import { bucketRange, lineChart } from "../charts.js";
import { empty, fmtInt, h, kpi, numHeader, replace, section, table } from "../dom.js";
import { bucketFor, errorLine, pageHeader, rangeMs, rangeSelect, refreshButton } from "./common.js";

const SERIES = [
  ["dlp_findings", "DLP findings"],
  ["injection_flags", "Injection flags"],
  ["ssrf_refusals", "SSRF refusals"],
  ["anomalies", "Anomalies"],
];

function sum(rows) {
  return (rows || []).reduce((a, r) => a + Number(r.count || 0), 0);
}

function overTime(data, range) {
  const { ms } = bucketFor(range);
  const times = bucketRange(Date.now() - rangeMs(range), ms);
  const byTime = new Map((data.over_time || []).map((r) => [Date.parse(r.bucket_start), r]));
  const series = SERIES.map(([key, name]) => ({
    name,
    values: times.map((t) => Number((byTime.get(t) || {})[key] || 0)),
  }));
  return { times, series };
}

function dlpTable(rows) {
  if (!rows || !rows.length) return empty("No DLP findings in this range.");
  const sorted = rows.slice().sort((a, b) => b.count - a.count);
  return table(
    ["Type", "Direction", "Action", numHeader("Count")],
    sorted.map((r) => [r.type, r.direction, r.action || "", { value: fmtInt(r.count), class: "num" }]),
    { class: "dlp-types" },
  );
}

function anomalyTable(rows) {
  if (!rows || !rows.length) return empty("No anomalies in this range.");
  const sorted = rows.slice().sort((a, b) => b.count - a.count);
  return table(["Type", numHeader("Count")], sorted.map((r) => [r.type, { value: fmtInt(r.count), class: "num" }]), { class: "anomaly-types" });
}

export async function render(view, { params, navigate }) {
  const range = params.get("since") || "7d";
  const errors = errorLine();
  const body = h("div");
  let disposeChart = () => {};

  async function load() {
    const data = await get("security", { since: range, bucket: bucketFor(range).bucket });
    disposeChart();
    const chartBox = h("div", { class: "chart-box" });
    replace(
      body,
      h(
        "div",
        { class: "kpis" },
        kpi("DLP findings", fmtInt(sum(data.dlp)), { "data-kpi": "dlp" }),
        kpi("Injection flags", fmtInt(data.injection_flags || 0), { "data-kpi": "injection" }),
        kpi("SSRF refusals", fmtInt(data.ssrf_refusals || 0), { "data-kpi": "ssrf" }),
        kpi("Anomalies", fmtInt(sum(data.anomalies)), { "data-kpi": "anomalies" }),
      ),
      section("Over time", chartBox),
      h(
        "div",
        { class: "columns" },
        section("DLP findings by type and direction", dlpTable(data.dlp)),
        section("Anomalies by type", anomalyTable(data.anomalies)),
      ),
    );
    const { times, series } = overTime(data, range);
    disposeChart = lineChart(chartBox, { times, series, label: "Security events per bucket" });
  }

  const refresh = () => load().then(() => replace(errors), (err) => replace(errors, err.message));
  view.append(
    pageHeader("Security", rangeSelect("security-range", range, (v) => navigate("security", { since: v })), refreshButton(refresh)),
    errors,
    body,
  );
  await load();
  return () => disposeChart();
}
