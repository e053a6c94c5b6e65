// Small SVG charts drawn at the container's real width (no chart library): columns for one series over time,
// lines for several, and a horizontal bar list for top-N tables.

import { fmtAxisTime, fmtTime, h, s } from "./dom.js";

const HEIGHT = 200;
const PAD = { top: 12, right: 12, bottom: 26, left: 64 };

/** Counts on an axis: whole numbers as such, halves with one decimal (a max of 1 has a 0.5 grid line). */
function fmtCount(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Zero-filled buckets from `sinceMs` to now, keyed by bucket start (ms). */
export function bucketRange(sinceMs, bucketMs, untilMs = Date.now()) {
  const out = [];
  for (let t = Math.floor(sinceMs / bucketMs) * bucketMs; t <= untilMs; t += bucketMs) out.push(t);
  return out;
}

/** Draw with `draw(width)` now and again whenever the container's width changes; returns a disposer. */
function responsive(container, draw) {
  let last = 0;
  const redraw = () => {
    const width = Math.max(320, Math.floor(container.clientWidth || 640));
    if (width === last) return;
    last = width;
    container.replaceChildren(draw(width));
  };
  redraw();
  if (typeof ResizeObserver === "undefined") return () => {};
  const observer = new ResizeObserver(redraw);
  observer.observe(container);
  return () => observer.disconnect();
}

function niceMax(max) {
  if (max <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= max) return step * exp;
  return 10 * exp;
}

function frame(width, times, maxValue, formatValue, label) {
  const svg = s("svg", {
    class: "chart",
    width,
    height: HEIGHT,
    viewBox: `0 0 ${width} ${HEIGHT}`,
    role: "img",
    "aria-label": label,
  });
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const top = niceMax(maxValue);
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  for (const frac of [0, 0.5, 1]) {
    const yy = y(top * frac);
    svg.append(s("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy }));
    svg.append(s("text", { class: "axis", x: PAD.left - 6, y: yy + 4, "text-anchor": "end" }, formatValue(top * frac)));
  }
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 1;
  const x = (i) => PAD.left + (times.length > 1 ? (i / (times.length - 1)) * plotW : plotW / 2);
  const ticks = Math.min(times.length, Math.max(2, Math.floor(plotW / 110)));
  for (let k = 0; k < ticks; k += 1) {
    const i = ticks === 1 ? 0 : Math.round((k * (times.length - 1)) / (ticks - 1));
    const anchor = k === 0 ? "start" : k === ticks - 1 ? "end" : "middle";
    svg.append(s("text", { class: "axis", x: x(i), y: HEIGHT - 8, "text-anchor": anchor }, fmtAxisTime(times[i], span)));
  }
  return { svg, x, y, plotW, plotH };
}

/**
 * One series as columns. `points`: [{t: ms, v: number, text: "tooltip value"}] in time order.
 * Returns a disposer (the chart redraws on resize).
 */
export function columnChart(container, { points, label, formatValue }) {
  return responsive(container, (width) => {
    const times = points.map((p) => p.t);
    const max = Math.max(0, ...points.map((p) => p.v));
    const { svg, y, plotW } = frame(width, times, max, formatValue, label);
    const slot = plotW / Math.max(points.length, 1);
    const barW = Math.max(1, slot * 0.8);
    points.forEach((p, i) => {
      const left = PAD.left + i * slot + (slot - barW) / 2;
      const hit = s("rect", { class: "hit", x: PAD.left + i * slot, y: PAD.top, width: slot, height: HEIGHT - PAD.top - PAD.bottom });
      hit.append(s("title", {}, `${fmtTime(p.t / 1000)}: ${p.text}`));
      const bar = s("rect", { class: "bar", x: left, y: y(p.v), width: barW, height: Math.max(0, y(0) - y(p.v)) });
      svg.append(bar, hit);
    });
    return svg;
  });
}

/**
 * Several series as lines over shared times. `series`: [{name, values: [number]}]; `times`: [ms].
 * Returns a disposer.
 */
export function lineChart(container, { times, series, label, formatValue = fmtCount }) {
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((sr, i) => h("li", {}, h("span", { class: `swatch series-${i}`, "aria-hidden": "true" }), sr.name)),
  );
  const plot = h("div", { class: "chart-plot" });
  container.replaceChildren(legend, plot);
  return responsive(plot, (width) => {
    const max = Math.max(0, ...series.flatMap((sr) => sr.values));
    const { svg, x, y, plotW } = frame(width, times, max, formatValue, label);
    series.forEach((sr, i) => {
      const pts = sr.values.map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      svg.append(s("polyline", { class: `line series-${i}`, points: pts }));
    });
    const slot = plotW / Math.max(times.length - 1, 1);
    times.forEach((t, j) => {
      const hit = s("rect", { class: "hit", x: x(j) - slot / 2, y: PAD.top, width: slot, height: HEIGHT - PAD.top - PAD.bottom });
      const lines = series.map((sr) => `${sr.name}: ${formatValue(sr.values[j])}`);
      hit.append(s("title", {}, [fmtTime(t / 1000), ...lines].join("\n")));
      svg.append(hit);
    });
    return svg;
  });
}

/** Horizontal bars for a top-N list: rows [{label, value: number, text}]. */
export function barList(rows, { caption, valueHeader = "Cost" } = {}) {
  const max = Math.max(0, ...rows.map((r) => r.value));
  const body = rows.map((r) => {
    const fill = h("span", { class: "barlist-fill" });
    fill.style.width = `${max > 0 ? Math.max(1, (r.value / max) * 100) : 0}%`;
    return h(
      "tr",
      {},
      h("th", { scope: "row", class: "barlist-label", title: r.label }, r.href ? h("a", { href: r.href }, r.label || "(none)") : r.label || "(none)"),
      h("td", { class: "barlist-bar", "aria-hidden": "true" }, fill),
      h("td", { class: "num" }, r.text),
      r.extra === undefined ? null : h("td", { class: "num" }, r.extra),
    );
  });
  const extraHead = rows.length && rows[0].extra !== undefined ? h("th", { scope: "col", class: "num" }, "Requests") : null;
  return h(
    "table",
    { class: "barlist" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Share")), h("th", { scope: "col", class: "num" }, valueHeader), extraHead)),
    h("tbody", {}, body),
  );
}
