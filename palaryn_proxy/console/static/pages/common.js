// Pieces every page uses: the page heading with its controls, a time-range picker, polling, error notes.

import { h, replace } from "../dom.js";

export const RANGES = [
  ["24h", "Last 24 hours"],
  ["7d", "Last 7 days"],
  ["30d", "Last 30 days"],
];

/** Bucket size for a range, and its length in ms (for zero-filling charts). */
export function bucketFor(range) {
  return range === "30d" ? { bucket: "1d", ms: 86400e3 } : { bucket: "1h", ms: 3600e3 };
}

export function rangeMs(range) {
  const m = /^(\d+)([mhd])$/.exec(range);
  if (!m) return 7 * 86400e3;
  return Number(m[1]) * { m: 60e3, h: 3600e3, d: 86400e3 }[m[2]];
}

/** <h1> plus a toolbar of controls on the right. */
export function pageHeader(title, ...controls) {
  return h("div", { class: "page-head" }, h("h1", {}, title), h("div", { class: "toolbar" }, controls));
}

/** A labelled <select> of time ranges; calls onChange(value). */
export function rangeSelect(id, value, onChange) {
  const select = h(
    "select",
    { id, onchange: (e) => onChange(e.target.value) },
    RANGES.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
  );
  return h("span", { class: "field-inline" }, h("label", { for: id }, "Range"), select);
}

export function refreshButton(onClick) {
  return h("button", { type: "button", class: "secondary", onclick: onClick }, "Refresh");
}

/**
 * Run `fn` every `ms` (and at once unless `immediate` is false); a failing run shows its error in `errorBox`
 * and polling goes on. Returns the function that stops it.
 */
export function poll(fn, ms, errorBox, { immediate = true } = {}) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await fn();
      if (errorBox) replace(errorBox);
    } catch (err) {
      if (errorBox && err.status !== 401) replace(errorBox, err.message || String(err));
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  if (immediate) tick();
  else timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** An (initially empty) alert line for a page's load errors. */
export function errorLine() {
  return h("p", { class: "error", role: "alert" });
}

/** ISO-8601 of local midnight today (the API accepts ISO-8601 for `since`). */
export function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}
