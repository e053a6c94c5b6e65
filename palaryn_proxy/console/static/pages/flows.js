// Flows: the filterable table (actor, decision, host, kind, time range), older pages by cursor, and a live tail
// of the event stream that prepends new flows matching the filters. Enter or a click on a row opens its detail.

import { get, streamFlows } from "../api.js";
import { decisionBadge, empty, fmtInt, fmtTime, fmtUsd, h, headerCell, numHeader, replace, urlPath } from "../dom.js";
import { errorLine, pageHeader } from "./common.js";

export const DECISIONS = ["allow", "redact", "deny", "approval_required", "rate_limited", "budget_exceeded", "error"];
const KINDS = ["llm", "mcp", "http", "passthrough"];
const SINCE = [["", "Any time"], ["15m", "Last 15 minutes"], ["1h", "Last hour"], ["24h", "Last 24 hours"], ["7d", "Last 7 days"]];
const FILTERS = ["actor", "decision", "host", "kind", "since"];
const PAGE = 50;
const MAX_ROWS = 500;
const HEADERS = ["Time", "Actor", "Decision", "Method", "Host", "Path", "Kind", "Model"].concat(
  ["Status", "Cost", "ms"].map(numHeader),
);

/** The hash of the flows list last shown, so a detail page can link back to the same filters. */
export const lastList = { hash: "#/flows" };

function textField(name, label, value) {
  const id = `filter-${name}`;
  return h(
    "span",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name, type: "search", value: value || "", autocomplete: "off", spellcheck: "false" }),
  );
}

function selectField(name, label, value, options) {
  const id = `filter-${name}`;
  return h(
    "span",
    { class: "field" },
    h("label", { for: id }, label),
    h("select", { id, name }, options.map(([v, text]) => h("option", { value: v, selected: v === (value || "") }, text))),
  );
}

function filterForm(filters, navigate) {
  const any = (values) => [["", "Any"], ...values.map((v) => [v, v])];
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter flows" },
    textField("actor", "Actor", filters.actor),
    selectField("decision", "Decision", filters.decision, any(DECISIONS)),
    textField("host", "Host", filters.host),
    selectField("kind", "Kind", filters.kind, any(KINDS)),
    selectField("since", "Time", filters.since, SINCE),
    h("button", { type: "submit" }, "Apply"),
    h("button", { type: "button", class: "secondary", onclick: () => navigate("flows", {}) }, "Clear"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    navigate("flows", Object.fromEntries(FILTERS.map((k) => [k, String(data.get(k) || "").trim()])));
  });
  return form;
}

function openFlow(navigate, id) {
  navigate("flows", {}, id);
}

/** One <tr>, focusable, opened with Enter or a click. */
export function flowRow(rec, navigate) {
  const open = () => openFlow(navigate, rec.request_id);
  const row = h(
    "tr",
    {
      class: "clickable",
      tabindex: "0",
      "data-request-id": rec.request_id,
      title: "Open the details (Enter)",
      onclick: open,
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          open();
        }
      },
    },
    h("td", { class: "nowrap" }, fmtTime(rec.ts)),
    h("td", { class: "actor" }, rec.actor || "—"),
    h("td", {}, decisionBadge(rec.decision)),
    h("td", {}, rec.method || "—"),
    h("td", { class: "host" }, rec.host || "—"),
    h("td", { class: "path", title: urlPath(rec.url) }, urlPath(rec.url)),
    h("td", {}, rec.kind || "—"),
    h("td", {}, rec.model || ""),
    h("td", { class: "num" }, rec.status ?? "—"),
    h("td", { class: "num" }, rec.cost_usd == null ? "" : fmtUsd(rec.cost_usd)),
    h("td", { class: "num" }, rec.duration_ms == null ? "" : fmtInt(Math.round(rec.duration_ms))),
  );
  return row;
}

function matches(rec, filters) {
  return ["actor", "decision", "host", "kind"].every((k) => !filters[k] || rec[k] === filters[k]);
}

export async function render(view, { params, navigate }) {
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) || ""]));
  lastList.hash = location.hash || "#/flows";
  const errors = errorLine();
  const tbody = h("tbody");
  const tableEl = h(
    "table",
    { class: "flows", "aria-describedby": "flows-count" },
    h("thead", {}, h("tr", {}, HEADERS.map(headerCell))),
    tbody,
  );
  const count = h("p", { id: "flows-count", class: "muted", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load older flows");
  const liveButton = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Live tail");
  const liveState = h("span", { class: "live-state", "aria-live": "polite" });
  let cursor = null;
  let shown = 0;
  let added = 0;
  let stopStream = null;
  const none = empty("No flows match these filters.");

  function setCount() {
    const liveNote = stopStream ? ` · ${fmtInt(added)} new since live tail started` : "";
    replace(count, `${fmtInt(shown)} flows shown${cursor ? " (more available)" : ""}${liveNote}`);
    none.hidden = shown > 0;
  }

  async function loadPage() {
    const query = { ...filters, limit: PAGE, cursor };
    const data = await get("flows", query);
    for (const rec of data.flows) tbody.append(flowRow(rec, navigate));
    shown += data.flows.length;
    cursor = data.next_cursor;
    more.hidden = !cursor;
    setCount();
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await loadPage();
      replace(errors);
    } catch (err) {
      replace(errors, err.message);
    } finally {
      more.disabled = false;
    }
  });

  function onFlow(rec) {
    if (!matches(rec, filters)) return;
    if (tbody.querySelector(`tr[data-request-id="${CSS.escape(rec.request_id)}"]`)) return;
    const row = flowRow(rec, navigate);
    row.classList.add("new");
    tbody.prepend(row);
    added += 1;
    shown += 1;
    while (tbody.rows.length > MAX_ROWS) {
      tbody.lastElementChild.remove();
      shown -= 1;
      cursor = null; // older pages no longer line up with what is shown
      more.hidden = true;
    }
    setCount();
  }

  function toggleLive() {
    if (stopStream) {
      stopStream();
      stopStream = null;
      liveButton.setAttribute("aria-pressed", "false");
      replace(liveState);
    } else {
      added = 0;
      stopStream = streamFlows(onFlow, (state) => replace(liveState, state === "live" ? "● live" : "reconnecting…"));
      liveButton.setAttribute("aria-pressed", "true");
      replace(liveState, "connecting…");
    }
    setCount();
  }
  liveButton.addEventListener("click", toggleLive);

  view.append(
    pageHeader("Flows", liveState, liveButton),
    filterForm(filters, navigate),
    errors,
    count,
    h("div", { class: "table-wrap" }, tableEl),
    none,
    more,
  );
  await loadPage();
  if (params.get("live") === "1") toggleLive();
  return () => stopStream && stopStream();
}
