// The console shell: session check and login, hash routing (#/overview, #/flows?actor=..., #/flows/<id>, ...),
// one page mounted at a time (each page returns a cleanup that stops its timers and streams).

import { currentSession, login, logout, onUnauthorized, session } from "./api.js";
import { h, replace } from "./dom.js";
import * as approvals from "./pages/approvals.js";
import * as budgets from "./pages/budgets.js";
import * as flowDetail from "./pages/flowdetail.js";
import * as flows from "./pages/flows.js";
import * as overview from "./pages/overview.js";
import * as policy from "./pages/policy.js";
import * as security from "./pages/security.js";

const PAGES = {
  overview: { title: "Overview", page: overview },
  flows: { title: "Flows", page: flows },
  budgets: { title: "Budgets", page: budgets },
  approvals: { title: "Approvals", page: approvals },
  security: { title: "Security", page: security },
  policy: { title: "Policy", page: policy },
};

const main = document.getElementById("main");
const top = document.getElementById("top");
const loginBox = document.getElementById("login");
let cleanup = null;
let mounted = 0; // bumps on every navigation so a slow page that lost the race does not mount

/** "#/flows/abc?x=1" -> {name: "flows", id: "abc", params: URLSearchParams("x=1")} */
export function parseRoute(hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?", 2);
  const [name, ...rest] = path.split("/");
  return {
    name: name || "overview",
    id: rest.length ? decodeURIComponent(rest.join("/")) : null,
    params: new URLSearchParams(query),
  };
}

/** Go to a page: navigate("flows", {actor: "bob"}) or navigate("flows", {}, id). */
export function navigate(name, params = {}, id = null) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString();
  const path = id ? `${name}/${encodeURIComponent(id)}` : name;
  location.hash = `#/${path}${query ? `?${query}` : ""}`;
}

function stopPage() {
  if (cleanup) {
    try {
      cleanup();
    } finally {
      cleanup = null;
    }
  }
}

async function route() {
  stopPage();
  const { name, id, params } = parseRoute(location.hash);
  const entry = PAGES[name];
  const token = ++mounted;
  for (const link of document.querySelectorAll("nav a[data-route]")) {
    if (link.dataset.route === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!entry) {
    document.title = "Not found · palaryn-proxy";
    replace(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/overview" }, "Back to the overview")));
    return;
  }
  const page = id && name === "flows" ? flowDetail : entry.page;
  document.title = `${entry.title} · palaryn-proxy`;
  const view = h("div", { class: "page" });
  replace(main, view);
  try {
    const result = await page.render(view, { params, id, navigate });
    if (token !== mounted) {
      if (typeof result === "function") result();
      return;
    }
    cleanup = typeof result === "function" ? result : null;
  } catch (err) {
    if (token !== mounted) return;
    if (err && err.status === 401) return; // the login screen is already up
    replace(view, h("h1", {}, entry.title), h("p", { class: "error", role: "alert" }, err.message || String(err)));
  }
}

function showApp() {
  loginBox.hidden = true;
  top.hidden = false;
  main.hidden = false;
  replace(document.getElementById("role"), session.open ? `${session.role} (open on loopback)` : session.role);
  document.getElementById("logout").hidden = session.open;
  window.addEventListener("hashchange", route);
  if (!location.hash) history.replaceState(null, "", "#/overview");
  route();
}

function showLogin(message = "") {
  stopPage();
  window.removeEventListener("hashchange", route);
  top.hidden = true;
  main.hidden = true;
  replace(main);
  loginBox.hidden = false;
  replace(document.getElementById("login-error"), message);
  document.getElementById("login-token").focus();
}

async function submitLogin(event) {
  event.preventDefault();
  const input = document.getElementById("login-token");
  const button = event.target.querySelector("button");
  button.disabled = true;
  try {
    await login(input.value.trim());
    input.value = "";
    showApp();
  } catch (err) {
    replace(document.getElementById("login-error"), err.message);
    input.select();
  } finally {
    button.disabled = false;
  }
}

async function start() {
  document.getElementById("login-form").addEventListener("submit", submitLogin);
  document.getElementById("logout").addEventListener("click", async () => {
    await logout().catch(() => {});
    showLogin("You are logged out.");
  });
  onUnauthorized((err) => showLogin(`${err.message} Log in again.`));
  try {
    const live = await currentSession();
    if (live) showApp();
    else showLogin();
  } catch (err) {
    showLogin(err.message);
  }
}

start();
