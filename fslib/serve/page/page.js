// The Redis docs demo's page: every action is one same-origin fetch to the server's JSON API.
// No framework, no build step. Values from the server go into the page as text, never as HTML.
"use strict";

const TOKEN_KEY = "fslib-serve-token"; // sessionStorage: gone when the tab closes, never in a URL
const STATE_EVERY_MS = 1500;

class ApiError extends Error {
  constructor(status, detail) {
    super(status ? `${status}: ${detail}` : detail);
    this.status = status;
  }
}

/** The server's `detail`: a message, or FastAPI's list of validation errors. */
function describe(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  }
  return response.statusText || "no detail";
}

/** One request to the API: JSON in and out, the token (if any) as a bearer header. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "same-origin" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json"; // the server takes state changes as JSON only
    init.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `the server did not answer (${err.message})`);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null; // not JSON: the status line says what happened
  }
  if (!response.ok) throw new ApiError(response.status, describe(answer, response));
  return answer;
}

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function table(headings, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows),
  );
}

const ms = (seconds) => `${(seconds * 1000).toFixed(2)} ms`;
const shown = (value) => (value === null || value === undefined ? "null" : JSON.stringify(value));

/** An event's age as words, as the dashboard says it: seconds up to 100, then the largest whole unit. */
function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (seconds >= Math.max(size, 100)) return `${Math.round(seconds / size).toLocaleString("en")} ${unit} ago`;
  }
  return `${seconds.toFixed(1)} s ago`;
}

/** The max-age field (shared by the read and batch scoring) as a request value, or null for no limit. */
function maxAge() {
  const text = $("max-age").value.trim();
  return text ? Number(text) : null;
}

function ttl(seconds) {
  if (seconds === -1) return "-1 (no own TTL)";
  if (seconds === -2) return "-2 (none)";
  return `${seconds} s`;
}

/** Run `action` for a button or form, showing its result or its error in `output`. */
async function run(output, control, action) {
  control.disabled = true;
  output.setAttribute("aria-busy", "true"); // until the answer is shown (the browser tests wait on it too)
  output.classList.remove("error");
  try {
    output.replaceChildren(await action());
  } catch (err) {
    output.classList.add("error");
    output.replaceChildren(el("span", { role: "alert" }, err.message));
  } finally {
    control.disabled = false;
    output.setAttribute("aria-busy", "false");
  }
}

function onSubmit(formId, outputId, action) {
  const form = $(formId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run($(outputId), form.querySelector("button[type=submit]"), action);
  });
}

function pickedFeatures() {
  return [...document.querySelectorAll("#features input[name=feature]:checked")].map((box) => box.value);
}

// -- state, refreshed every STATE_EVERY_MS --------------------------------------------------

function showWorker(status) {
  $("worker-status").textContent = status;
  $("worker-status").className = `worker-${status}`;
  const next = { stopped: "Start", running: "Pause", paused: "Resume" }[status] || "Toggle";
  $("worker-toggle").textContent = `${next} the worker`;
}

function showState(state) {
  const stats = state.worker.stats;
  const rows = [
    ["Redis", state.redis_url],
    ["Key prefix", state.key_prefix],
    ["Entities", state.entity_count],
    ["Batch TTL", `${state.batch_ttl_seconds} s`],
    ["Streaming TTL", `${state.streaming_ttl_seconds} s`],
    ["Worker", state.worker.status],
    ["Worker ticks", stats.ticks],
    ["Worker writes", stats.writes],
    ["Worker errors", stats.last_error ? `${stats.errors} (last: ${stats.last_error})` : stats.errors],
    ...Object.entries(state.store_stats).map(([name, count]) => [name.replaceAll("_", " "), count]),
  ];
  $("state-values").replaceChildren(
    ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-key": name }, value)]),
  );
  showWorker(state.worker.status);
  showFeatures(state.features);
}

// The picker comes from the schema in /state, so the page itself holds no data and needs no token.
function showFeatures(features) {
  const picker = $("features");
  if (picker.querySelector("input[name=feature]")) return; // filled once; the picks stay
  for (const [name, kind] of Object.entries(features)) {
    const box = el("input", { type: "checkbox", name: "feature", value: name });
    picker.append(el("label", {}, box, ` ${name} `, el("small", {}, kind)));
  }
}

async function refreshState() {
  try {
    showState(await api("GET", "/state"));
    $("state-error").hidden = true;
    $("state-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("state-error").textContent = err.message;
    $("state-error").hidden = false;
  }
}

async function keepStateFresh() {
  await refreshState();
  setTimeout(keepStateFresh, STATE_EVERY_MS); // after the answer: a slow server never piles requests up
}

// -- actions ------------------------------------------------------------------------------

async function bulkLoad() {
  const body = { count: Number($("load-count").value) };
  if ($("load-ttl").value !== "") body.ttl_seconds = Number($("load-ttl").value);
  const done = await api("POST", "/bulk-load", body);
  refreshState();
  return el("p", {}, `wrote ${done.written} users with a key TTL of ${done.ttl_seconds} s in `,
    ms(done.elapsed_seconds));
}

async function toggleWorker() {
  const done = await api("POST", "/worker/toggle", {});
  showWorker(done.status);
  return el("p", {}, `worker ${done.status}`);
}

async function readFeatures() {
  const query = new URLSearchParams({ id: $("read-id").value });
  for (const name of pickedFeatures()) query.append("features", name);
  const limit = maxAge();
  if (limit !== null) query.set("max_age_seconds", String(limit));
  const done = await api("GET", `/read?${query}`);
  const rows = done.features.map((f) =>
    el(
      "tr",
      { "data-feature": f.name },
      el("td", {}, f.name),
      el("td", {}, f.kind),
      el("td", { class: "value" }, shown(f.value)),
      el("td", { class: `status status-${f.status}` }, f.status),
      el("td", { class: "ttl" }, ttl(f.field_ttl_seconds)),
      el("td", { class: "age" }, age(f.event_age_seconds)),
      el("td", { class: "error-text" }, f.error || ""),
    ),
  );
  return el(
    "div",
    {},
    el("p", {}, `${done.entity_id}: key TTL ${ttl(done.key_ttl_seconds)}, read in `,
      el("span", { class: "latency" }, ms(done.latency_seconds))),
    table(["feature", "kind", "value", "status", "field TTL", "event age", "error"], rows),
  );
}

async function batchRead() {
  const body = { count: Number($("batch-count").value) };
  const features = pickedFeatures();
  if (features.length) body.features = features;
  const limit = maxAge();
  if (limit !== null) body.max_age_seconds = limit;
  const done = await api("POST", "/batch-read", body);
  const stale = done.vectors.reduce(
    (count, vector) => count + Object.values(vector.statuses).filter((status) => status === "stale").length, 0);
  return el(
    "dl",
    { class: "inline" },
    ...[
      ["requested", done.requested],
      ["found", done.found],
      ["fields present", done.fields_present],
      ["fields stale", stale],
      ["latency", ms(done.latency_seconds)],
    ].flatMap(([name, value]) => [el("dt", {}, name), el("dd", { "data-key": name }, value)]),
  );
}

async function inspectHash() {
  const done = await api("GET", `/inspect?${new URLSearchParams({ id: $("inspect-id").value })}`);
  const rows = Object.entries(done.fields).map(([name, f]) =>
    el(
      "tr",
      { "data-field": name },
      el("td", {}, name),
      el("td", {}, f.kind),
      el("td", { class: "value" }, f.value),
      el("td", { class: "ttl" }, ttl(f.field_ttl_seconds)),
    ),
  );
  const summary = done.exists
    ? `${done.key} exists, key TTL ${ttl(done.key_ttl_seconds)}, ${rows.length} fields (HGETALL + TTL + HTTL)`
    : `${done.key} does not exist`;
  return el("div", {}, el("p", { class: "summary" }, summary),
    rows.length ? table(["field", "kind", "stored value", "field TTL"], rows) : "");
}

async function resetStore() {
  if (!window.confirm("Delete every entity under this server's key prefix?")) {
    return el("p", {}, "reset cancelled: nothing deleted");
  }
  const done = await api("POST", "/reset", {});
  refreshState();
  return el("p", {}, `deleted ${done.deleted} entities`);
}

// -- the token ----------------------------------------------------------------------------

function showToken() {
  $("token-state").textContent = sessionStorage.getItem(TOKEN_KEY) ? "token set for this tab" : "no token";
}

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    showToken();
    refreshState();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showToken();
    refreshState();
  });
  for (const [id, checked] of [["features-all", true], ["features-none", false]]) {
    $(id).addEventListener("click", () => {
      for (const box of document.querySelectorAll("#features input[name=feature]")) box.checked = checked;
    });
  }
  onSubmit("load-form", "load-result", bulkLoad);
  onSubmit("read-form", "read-result", readFeatures);
  onSubmit("batch-form", "batch-result", batchRead);
  onSubmit("inspect-form", "inspect-result", inspectHash);
  $("worker-toggle").addEventListener("click", (event) => run($("worker-result"), event.target, toggleWorker));
  $("reset-button").addEventListener("click", (event) => run($("reset-result"), event.target, resetStore));
  showToken();
  keepStateFresh();
}

document.addEventListener("DOMContentLoaded", wire);
