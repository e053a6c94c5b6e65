// Policy: the loaded packs and their rules with hit counts, including what report-mode rules would have denied.

import { get } from "../api.js";
import { empty, fmtInt, h, numHeader, replace, section, table } from "../dom.js";
import { errorLine, pageHeader, rangeSelect, refreshButton } from "./common.js";

function modeBadge(report) {
  return h("span", { class: `badge ${report ? "badge-warn" : "badge-ok"}` }, report ? "report" : "enforce");
}

function packSection(pack, hits, used) {
  const rules = pack.rules || [];
  const rows = rules.map((rule) => {
    const hit = hits.get(rule.name);
    if (hit) used.add(rule.name);
    return [
      rule.name,
      rule.effect || "",
      modeBadge(rule.report || pack.report),
      { value: fmtInt(hit ? hit.hits : 0), class: "num" },
      { value: fmtInt(hit ? hit.report_only : 0), class: "num" },
    ];
  });
  const meta = h(
    "p",
    { class: "muted" },
    pack.file ? ["File ", h("code", {}, pack.file), " · "] : null,
    "Pack mode: ",
    modeBadge(pack.report),
    pack.default ? [" · Default effect: ", pack.default] : null,
  );
  return section(
    `Pack ${pack.name}`,
    meta,
    rows.length
      ? table(["Rule", "Effect", "Mode", numHeader("Hits"), numHeader("Would have denied (report mode)")], rows, { class: "rules", "data-pack": pack.name })
      : empty("This pack has no rules (only lists or a default effect)."),
  );
}

function otherHits(hits, used) {
  const rest = [...hits.values()].filter((h) => !used.has(h.rule));
  if (!rest.length) return null;
  return section(
    "Other policy reasons",
    h("p", { class: "muted" }, "Hits of pack-level lists and defaults (domain blocklists, default effects) rather than named rules."),
    table(
      ["Rule", numHeader("Hits"), numHeader("Would have denied (report mode)")],
      rest.map((r) => [r.rule, { value: fmtInt(r.hits), class: "num" }, { value: fmtInt(r.report_only), class: "num" }]),
      { class: "rules-other" },
    ),
  );
}

export async function render(view, { params, navigate }) {
  const range = params.get("since") || "7d";
  const errors = errorLine();
  const body = h("div");

  async function load() {
    const data = await get("policy", { since: range });
    const hits = new Map((data.hits || []).map((r) => [r.rule, r]));
    const used = new Set();
    const packs = data.packs || [];
    const sections = packs.map((p) => packSection(p, hits, used));
    replace(
      body,
      packs.length ? sections : empty("No policy packs are loaded (config key policy_packs)."),
      otherHits(hits, used),
    );
  }

  const refresh = () => load().then(() => replace(errors), (err) => replace(errors, err.message));
  view.append(
    pageHeader("Policy", rangeSelect("policy-range", range, (v) => navigate("policy", { since: v })), refreshButton(refresh)),
    errors,
    body,
  );
  await load();
}
