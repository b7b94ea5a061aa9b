// The showroom page: each demo's rows change in place as `showroom` events arrive on /events (the
// showroom announces its demos after every change), and the buttons call the JSON API: logged in,
// with the session's cookie and the page's CSRF token (X-CSRFToken); else with the admin token a
// person pasted, kept in sessionStorage (this tab only). A demo's link is made from
// the host the page was opened on, as the server makes it (appliance/web/showroom.py).
"use strict";

const SR_TOKEN_KEY = "appliance.showroom.token";
const srToken = document.getElementById("showroom-token");  // none while logged in, or the showroom is off
const srCsrf = document.querySelector('meta[name="csrf-token"]');  // there while logged in

function srElement(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

function srUrl(demo) {
  return demo.status === "RUNNING" && demo.port ? `http://${location.hostname}:${demo.port}/` : null;
}

function srPath(name) {
  return "/api/showroom/demos/" + encodeURIComponent(name);
}

// A call to the API: its JSON answer, or an Error with the server's message (and its answer).
async function srCall(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = srToken ? srToken.value.trim() : "";
  if (token) {
    headers.Authorization = "Bearer " + token;
  } else if (srCsrf && method !== "GET") {
    headers["X-CSRFToken"] = srCsrf.content;
  }
  const options = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (failure) {
    throw new Error("the appliance does not answer: " + failure.message);
  }
  let answer = null;
  try { answer = await response.json(); } catch (failure) { answer = null; }
  if (!response.ok) {
    const error = new Error((answer && answer.error) || `HTTP ${response.status}`);
    error.answer = answer || {};
    throw error;
  }
  return answer;
}

function srRows() {
  return [...document.querySelectorAll("#demos tbody[data-demo]")];
}

function srFind(name) {
  return srRows().find((tbody) => tbody.dataset.demo === name);
}

function srEmptyNote() {
  document.getElementById("no-demos").hidden = srRows().length > 0;
}

// Its buttons as its status allows (as the server renders them).
function srButtons(tbody) {
  const status = tbody.dataset.status;
  tbody.querySelector('[data-action="start"]').disabled = ["RUNNING", "STARTING"].includes(status);
  tbody.querySelector('[data-action="stop"]').disabled = status === "STOPPED";
  tbody.querySelector('[data-action="destroy"]').disabled = false;
}

// Fill a demo's rows (the server's, or a copy of the skeleton) with what the demo now is; its
// open logs and the last action's error stay as they are.
function srFill(tbody, demo) {
  tbody.dataset.demo = demo.name;
  const field = (name) => tbody.querySelector(`[data-field="${name}"]`);
  field("name").textContent = demo.name;
  field("type").textContent = demo.type || "?";
  field("status").replaceChildren(srElement("span", "state state-" + demo.status.toLowerCase(), demo.status));
  field("port").textContent = demo.port === null ? "" : String(demo.port);
  const url = srUrl(demo);
  if (url) {
    const link = srElement("a", "", url);
    link.href = url;
    field("url").replaceChildren(link);
  } else {
    field("url").replaceChildren();
  }
  field("params").querySelector("ul").replaceChildren(
    ...Object.entries(demo.params).map(([key, value]) => srElement("li", "", `${key}=${value}`)));
  field("created_at").textContent = demo.created_at || "";
  tbody.dataset.status = demo.status;
  srButtons(tbody);
  field("apache_error").textContent = demo.apache_error || "";
  tbody.querySelector(".apache-error").hidden = !demo.apache_error;
}

// Show a demo: in place if it is shown, else a new copy of the skeleton where its name sorts.
function srShow(demo) {
  let tbody = srFind(demo.name);
  if (!tbody) {
    tbody = document.getElementById("demo-skeleton").content.firstElementChild.cloneNode(true);
    const next = srRows().find((other) => other.dataset.demo > demo.name) || document.getElementById("no-demos");
    next.before(tbody);
  }
  srFill(tbody, demo);
  srEmptyNote();
  srFollowPassingStates();
}

// The showroom announces its demos after each change made through it, not when supervisord moves a
// demo on by itself (a process that does not stay up is retried, then FATAL): while a shown demo is
// in such a passing state, the page asks again every few seconds until it settles. EXITED passes
// too while supervisord restarts a process at once, and stays otherwise: it is asked about a few
// times only.
const SR_PASSING = ["STARTING", "BACKOFF", "STOPPING"];
const SR_ASK_AGAIN_MS = 2000;
const SR_EXITED_ASKS = 5;
let srAsking = null;
let srExitedAsks = SR_EXITED_ASKS;

function srNeedsAsking() {
  const statuses = srRows().map((tbody) => tbody.dataset.status);
  if (statuses.some((status) => SR_PASSING.includes(status))) {
    srExitedAsks = SR_EXITED_ASKS;
    return true;
  }
  if (statuses.includes("EXITED") && srExitedAsks > 0) {
    srExitedAsks -= 1;
    return true;
  }
  return false;
}

function srFollowPassingStates() {
  if (srAsking !== null || !srNeedsAsking()) { return; }
  srAsking = setTimeout(async () => {
    try {
      const state = await srCall("GET", "/api/showroom");
      if (state.reachable) { srApply(state.demos); }
    } catch (failure) {
      // asked again below
    }
    srAsking = null;
    srFollowPassingStates();
  }, SR_ASK_AGAIN_MS);
}

// The showroom's demos as an event tells them: every one of them, by name.
function srApply(demos) {
  const names = new Set(demos.map((demo) => demo.name));
  for (const tbody of srRows()) {
    if (!names.has(tbody.dataset.demo)) { tbody.remove(); }
  }
  demos.forEach(srShow);
  srEmptyNote();
  // It answered: what it has is known now.
  document.getElementById("showroom-error").hidden = true;
  document.querySelector("#no-demos td").textContent = "No demo is deployed: deploy one below.";
}

// --- a demo's buttons and logs --------------------------------------------------------------------

async function srAct(event) {
  const button = event.target.closest("button[data-action]");
  const tbody = button && button.closest("tbody[data-demo]");
  if (!tbody) { return; }
  const name = tbody.dataset.demo;
  const action = button.dataset.action;
  if (action === "destroy" && !confirm(`Destroy the demo ${name}? Its files are removed.`)) { return; }
  const error = tbody.querySelector(".demo-error");
  error.hidden = true;
  tbody.querySelectorAll("button[data-action]").forEach((other) => { other.disabled = true; });
  try {
    if (action === "destroy") {
      await srCall("DELETE", srPath(name));
      tbody.remove();
      srEmptyNote();
      return;
    }
    srShow(await srCall("POST", `${srPath(name)}/${action}`));
  } catch (failure) {
    srButtons(tbody);  // as its status now is: an event may have told it meanwhile
    error.textContent = `${action}: ${failure.message}`;
    error.hidden = false;
  }
}

async function srLoadLogs(details) {
  const tbody = details.closest("tbody[data-demo]");
  for (const pre of details.querySelectorAll("pre")) { pre.textContent = "loading…"; }
  try {
    const logs = await srCall("GET", srPath(tbody.dataset.demo) + "/logs");
    for (const pre of details.querySelectorAll("pre[data-log]")) {
      pre.textContent = logs[pre.dataset.log] || "(empty)";
    }
  } catch (failure) {
    for (const pre of details.querySelectorAll("pre")) { pre.textContent = failure.message; }
  }
}

// Fetched each time they are opened.
function srToggled(event) {
  const details = event.target;
  if (details.matches && details.matches("#demos details.logs") && details.open) { srLoadLogs(details); }
}

// --- the deploy form ------------------------------------------------------------------------------

function srFieldset(form, type) {
  return [...form.querySelectorAll("fieldset[data-recipe]")].find((set) => set.dataset.recipe === type);
}

function srFollowForm(srForm) {
  const type = document.getElementById("deploy-type");
  type.addEventListener("change", () => {
    for (const set of srForm.querySelectorAll("fieldset[data-recipe]")) {
      const chosen = set.dataset.recipe === type.value;
      set.hidden = !chosen;
      set.disabled = !chosen;
    }
  });

  srForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = document.getElementById("deploy-name");
    const button = document.getElementById("deploy-button");
    const error = document.getElementById("deploy-error");
    const log = document.getElementById("deploy-log");
    const params = {};
    for (const input of srFieldset(srForm, type.value).querySelectorAll("input[data-param]")) {
      params[input.dataset.param] = input.value;
    }
    error.hidden = true;
    log.hidden = true;
    button.disabled = true;
    button.textContent = "Deploying…";
    try {
      srShow(await srCall("POST", "/api/showroom/demos", { type: type.value, name: name.value.trim(), params }));
      name.value = "";
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      if (failure.answer && failure.answer.log) {
        log.querySelector("pre").textContent = failure.answer.log;
        log.hidden = false;
      }
    } finally {
      button.disabled = false;
      button.textContent = "Deploy";
    }
  });
}

// --- the page -------------------------------------------------------------------------------------

if (document.getElementById("demos")) {
  if (srToken) {
    srToken.value = sessionStorage.getItem(SR_TOKEN_KEY) || "";
    srToken.addEventListener("input", () => sessionStorage.setItem(SR_TOKEN_KEY, srToken.value.trim()));
    document.getElementById("token-form").addEventListener("submit", (event) => event.preventDefault());
  }
  document.getElementById("demos").addEventListener("click", srAct);
  // "toggle" does not bubble: it is caught on its way down.
  document.addEventListener("toggle", srToggled, true);
  const form = document.getElementById("deploy-form");
  if (form) { srFollowForm(form); }
  live.on("showroom", (state) => srApply(state.demos));
  srFollowPassingStates();
} else {
  live.on("showroom", () => {});  // none come while it is off; followed all the same, as on every page
}
