// Approvals: requests held by a REQUIRE_APPROVAL rule, with approve and deny buttons, refreshed every 2 seconds.
// Rows are updated in place (keyed by approval id) so a refresh never steals the keyboard focus.

import { canApprove, get, post, session } from "../api.js";
import { append, empty, fmtRelative, fmtTime, h, replace, section, table, toDate, urlPath } from "../dom.js";
import { errorLine, pageHeader, poll } from "./common.js";

const HEADERS = ["Requested", "Actor", "Method", "Host", "Path", "Policy rule", "Reason", "Client", "Decision"];

function ruleName(a) {
  return [a.pack, a.rule].filter(Boolean).join(" / ") || "—";
}

function waiting(a) {
  const expires = toDate(a.expires);
  if (!expires) return "";
  return expires.getTime() > Date.now()
    ? `held, gives up ${fmtRelative(a.expires)}`
    : "gave up waiting; approving lets its retry through";
}

function pendingRow(a, decide) {
  const reason = h("input", {
    type: "text",
    class: "deny-reason",
    placeholder: "reason (optional)",
    "aria-label": `Reason for denying ${a.method} ${a.host}${urlPath(a.url)}`,
  });
  const allowed = canApprove();
  const approve = h("button", { type: "button", class: "approve", disabled: !allowed }, "Approve");
  const deny = h("button", { type: "button", class: "deny danger", disabled: !allowed }, "Deny");
  approve.addEventListener("click", () => decide(a, "approve", null, [approve, deny]));
  deny.addEventListener("click", () => decide(a, "deny", reason.value.trim(), [approve, deny]));
  const clientCell = h("td", { class: "client-state" }, waiting(a));
  const row = h(
    "tr",
    { "data-approval-id": a.id },
    h("td", { class: "nowrap", title: fmtTime(a.created) }, fmtRelative(a.created)),
    h("td", { class: "actor" }, a.actor || "—"),
    h("td", {}, a.method || "—"),
    h("td", { class: "host" }, a.host || "—"),
    h("td", { class: "path", title: a.url }, urlPath(a.url)),
    h("td", {}, ruleName(a)),
    h("td", {}, a.reason || ""),
    clientCell,
    h("td", {}, h("div", { class: "actions" }, allowed ? reason : null, approve, deny)),
  );
  row.refresh = (fresh) => {
    replace(clientCell, waiting(fresh));
    replace(row.cells[0], fmtRelative(fresh.created));
  };
  return row;
}

function decidedTable(approvals) {
  const rows = approvals.map((a) => [
    h("span", { class: `badge badge-${a.status === "approved" ? "ok" : "bad"}` }, a.status),
    a.actor || "—",
    a.method || "—",
    a.host || "—",
    { value: urlPath(a.url), class: "path", title: a.url },
    ruleName(a),
    a.decided_by || "",
    a.decision_reason || "",
  ]);
  return table(["Decision", "Actor", "Method", "Host", "Path", "Policy rule", "Decided by", "Reason"], rows, { class: "decided" });
}

export async function render(view) {
  const errors = errorLine();
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const tbody = h("tbody");
  const pendingTable = h(
    "table",
    { class: "approvals" },
    h("thead", {}, h("tr", {}, HEADERS.map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );
  const none = empty("No requests are waiting for approval.");
  const decidedBox = h("div");
  const rows = new Map();
  const note = canApprove()
    ? null
    : h("p", { class: "muted" }, `Your role (${session.role}) can see approvals; deciding them needs an approver token.`);

  async function decide(a, verb, reason, buttons) {
    buttons.forEach((b) => (b.disabled = true));
    const what = `${a.method} ${a.host}${urlPath(a.url)} (${a.actor})`;
    try {
      await post(`approvals/${encodeURIComponent(a.id)}/${verb}`, reason ? { reason } : {});
      replace(status, `${verb === "approve" ? "Approved" : "Denied"} ${what}.`);
      removeRow(a.id);
    } catch (err) {
      replace(status, `Could not ${verb} ${what}: ${err.message}`);
      buttons.forEach((b) => (b.disabled = !canApprove()));
    }
  }

  function removeRow(id) {
    const row = rows.get(id);
    if (!row) return;
    const hadFocus = row.contains(document.activeElement);
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    rows.delete(id);
    if (hadFocus) (next ? next.querySelector("button:not([disabled])") || next : view.querySelector("h1")).focus();
    none.hidden = rows.size > 0;
  }

  async function load() {
    const [pending, all] = await Promise.all([get("approvals", { status: "pending" }), get("approvals", { status: "all" })]);
    const current = (pending.approvals || []).slice().sort((x, y) => x.created - y.created);
    const ids = new Set(current.map((a) => a.id));
    for (const id of [...rows.keys()]) if (!ids.has(id)) removeRow(id);
    for (const a of current) {
      if (rows.has(a.id)) rows.get(a.id).refresh(a);
      else {
        const row = pendingRow(a, decide);
        rows.set(a.id, row);
        tbody.append(row);
      }
    }
    none.hidden = rows.size > 0;
    const decided = (all.approvals || []).filter((a) => a.status !== "pending").sort((x, y) => y.created - x.created);
    replace(decidedBox, decided.length ? decidedTable(decided.slice(0, 20)) : empty("Nothing decided in the last 24 hours."));
  }

  append(view, [
    pageHeader("Approvals"),
    note,
    errors,
    status,
    section("Waiting", h("div", { class: "table-wrap" }, pendingTable), none),
    section("Recently decided", decidedBox),
  ]);
  view.querySelector("h1").setAttribute("tabindex", "-1");
  await load();
  return poll(load, 2000, errors, { immediate: false });
}
