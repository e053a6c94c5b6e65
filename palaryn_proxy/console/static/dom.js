// DOM building and value formatting. Data from agents (actors, URLs, messages) only ever reaches the page as
// text nodes or attribute values set through the DOM, never as markup.

/** Build an element: h("td", {class: "num", onclick: fn}, "text", childNode, [more, children]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Build an SVG element the same way (attributes only; text through children). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

/** Append children: strings and numbers become text nodes; arrays are flattened; null is skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** Local time as "YYYY-MM-DD HH:MM:SS" (ISO strings, epoch seconds or Dates). */
export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return "—";
  return `${fmtDay(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDay(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Short local label for a chart axis: "HH:MM" within a day, "MM-DD HH:MM" otherwise. */
export function fmtAxisTime(ms, spanMs) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return spanMs <= 26 * 3600e3 ? hm : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "in 3m 20s" / "5m ago" relative to now. */
export function fmtRelative(value) {
  const d = toDate(value);
  if (!d) return "—";
  const secs = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(secs);
  let text;
  if (abs < 60) text = `${abs}s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)}m ${abs % 60}s`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)}h ${Math.floor((abs % 3600) / 60)}m`;
  else text = `${Math.floor(abs / 86400)}d ${Math.floor((abs % 86400) / 3600)}h`;
  return secs >= 0 ? `in ${text}` : `${text} ago`;
}

/**
 * Dollars exactly as the API gives them (decimal strings or numbers): "$1,234.5" -> "$1,234.50";
 * small amounts keep every digit ("$0.000375") so the console never rounds a cost away.
 */
export function fmtUsd(value) {
  if (value === null || value === undefined || value === "") return "—";
  let text = typeof value === "number" ? numberToPlain(value) : String(value).trim();
  if (!/^-?\d+(\.\d+)?$/.test(text)) return String(value);
  const negative = text.startsWith("-");
  if (negative) text = text.slice(1);
  let [whole, frac = ""] = text.split(".");
  frac = frac.replace(/0+$/, "");
  if (frac.length < 2) frac = frac.padEnd(2, "0");
  whole = whole.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}$${whole}.${frac}`;
}

function numberToPlain(n) {
  // Avoid exponent notation (1e-7) for tiny costs.
  if (Math.abs(n) < 1e-6 && n !== 0) return n.toFixed(12).replace(/0+$/, "");
  return String(n);
}

/** Cost as a float, for sorting and chart heights only (displayed values use fmtUsd). */
export function usdNumber(value) {
  const n = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(n) ? n : 0;
}

export function fmtInt(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en-US");
}

export function fmtBytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let n = Number(value);
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The path and query of a URL as recorded (the audit log's URLs are already masked; nothing re-encoded). */
export function urlPath(url) {
  if (!url) return "";
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "") || "/";
}

/** A decision badge: its class says how alarming it is. */
export function decisionBadge(decision) {
  const level = decision === "allow" ? "ok" : decision === "redact" ? "warn" : "bad";
  return h("span", { class: `badge badge-${level}` }, decision || "—");
}

/** A labelled key figure for the overview and security pages, with an optional small note under it. */
export function kpi(label, value, attrs = {}, note = null) {
  return h(
    "div",
    { class: "kpi" },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value", ...attrs }, value),
    note ? h("div", { class: "kpi-note" }, note) : null,
  );
}

/**
 * A table with a header row. `headers` are strings or {value, class}; `rows` are arrays of cells (strings,
 * nodes or {value, class, title}) or <tr> nodes.
 */
export function table(headers, rows, attrs = {}) {
  const head = h("thead", {}, h("tr", {}, headers.map(headerCell)));
  const body = h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => cell(c))))));
  return h("table", attrs, head, body);
}

export function headerCell(content) {
  const obj = content && typeof content === "object" && !(content instanceof Node);
  return h("th", { scope: "col", class: obj ? content.class : null }, obj ? content.value : content);
}

/** A right-aligned header (numbers). */
export const numHeader = (value) => ({ value, class: "num" });

/** Integers in short form for tight spaces: 12,345 -> "12.3K". */
export function fmtCompact(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(Number(value));
}

export function cell(content) {
  if (content && typeof content === "object" && !(content instanceof Node) && "value" in content) {
    return h("td", { class: content.class || null, title: content.title || null }, content.value);
  }
  return h("td", {}, content);
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A section with a heading. */
export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), children);
}

/** A float in dollars for axes and tooltips, to 3 significant digits without exponent notation: "$0.00123". */
export function fmtUsdShort(n) {
  if (!Number.isFinite(n) || n === 0) return "$0";
  if (Math.abs(n) >= 1) return fmtUsd(n.toFixed(2));
  const digits = Math.min(12, 2 - Math.floor(Math.log10(Math.abs(n))));
  return fmtUsd(n.toFixed(digits));
}
