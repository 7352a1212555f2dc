// hookwire's dashboard: plain DOM code over the HTTP API. Everything shown is set as text
// (never parsed as HTML); the key lives in this tab's sessionStorage and travels only in the
// X-Api-Key header.
"use strict";

const KEY = "hookwire.apiKey";
const $ = (id) => document.getElementById(id);
const state = { tab: null, timers: [], cursor: null, query: null, open: new Set(), qr: new Map(),
                socket: null, watching: new Set() };

// -- the API ------------------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers["X-Api-Key"] = key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) data = await response.json();
  if (response.status === 401) {
    showLogin(key ? "The key was refused: enter it again." : "");
    throw new Error("unauthorized");
  }
  if (!response.ok) throw new Error(data && data.detail ? data.detail : `${method} ${path}: HTTP ${response.status}`);
  return { data, headers: response.headers };
}

function say(text, error = false) {
  const line = $("status-line");
  line.textContent = text;
  line.classList.toggle("error", error);
}

async function attempt(what, fn) {
  try { return await fn(); } catch (err) { if (err.message !== "unauthorized") say(`${what}: ${err.message}`, true); }
}

// -- small helpers --------------------------------------------------------------------------

function el(tag, props = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k.startsWith("data-") || k === "title" || k === "colspan") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
}

function badge(text) { return el("span", { class: `badge ${text}`, text }); }

function when(ms) {
  if (!ms) return "–";
  const date = new Date(ms);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function ago(ms) {
  if (!ms) return "never";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(ms);
}

function cell(content, cls) {
  const td = el("td", cls ? { class: cls } : {});
  if (content instanceof Node) td.append(content); else td.textContent = content ?? "–";
  return td;
}

function button(text, fn, props = {}) {
  return el("button", { type: "button", text, ...props, on: { click: (e) => { e.stopPropagation(); fn(e); } } });
}

function replaceRows(tbody, rows) { tbody.replaceChildren(...rows); }

// -- the key ------------------------------------------------------------------------------

function showLogin(message = "") {
  sessionStorage.removeItem(KEY);
  stopTimers();
  $("login").hidden = false;
  $("nav").hidden = true;
  $("forget-key").hidden = true;
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = true;
  $("key-error").textContent = message;
  $("key").focus();
}

async function start() {
  try {
    await api("GET", "/api/server/status");
  } catch (err) {
    if (err.message !== "unauthorized") say(`Cannot reach the API: ${err.message}`, true);
    return;
  }
  $("login").hidden = true;
  $("nav").hidden = false;
  $("forget-key").hidden = !sessionStorage.getItem(KEY);
  say("");
  showTab();
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  $("key").value = "";
  start();
});
$("forget-key").addEventListener("click", () => showLogin());

// -- tabs -----------------------------------------------------------------------------------

const TABS = { sessions: loadSessions, endpoints: loadEndpoints, deliveries: () => loadDeliveries(true), events: () => {} };
const POLL = { sessions: 2000, endpoints: 5000 };

function stopTimers() { for (const t of state.timers) clearInterval(t); state.timers = []; }

function showTab() {
  const name = (location.hash || "#sessions").slice(1);
  const tab = name in TABS ? name : "sessions";
  state.tab = tab;
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== tab;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.tab === tab);
  stopTimers();
  TABS[tab]();
  if (POLL[tab]) state.timers.push(setInterval(TABS[tab], POLL[tab]));
}

window.addEventListener("hashchange", () => { if (!$("nav").hidden) showTab(); });
for (const refresh of document.querySelectorAll("[data-refresh]"))
  refresh.addEventListener("click", () => TABS[refresh.dataset.refresh]());

// -- sessions -------------------------------------------------------------------------------

async function sessionAction(name, action) {
  if (action === "logout" && !confirm(`Log session ${name} out? Its account must scan a new QR code.`)) return;
  await attempt(`${action} ${name}`, async () => {
    say(`${action}: ${name} …`);
    await api("POST", `/api/sessions/${encodeURIComponent(name)}/${action}`);
    say(`${name}: ${action} done`);
    loadSessions();
  });
}

async function loadSessions() {
  await attempt("sessions", async () => {
    const { data } = await api("GET", "/api/sessions?all=true");
    replaceRows($("sessions-body"), data.map((s) => {
      const me = s.me ? `${s.me.pushName ? s.me.pushName + " · " : ""}${s.me.id}` : "–";
      const restarts = `${s.restarts ?? 0} / ${s.stalls ?? 0}`;
      const running = s.running;
      const actions = el("div", { class: "actions" },
        button("Start", () => sessionAction(s.name, "start"), { disabled: running }),
        button("Stop", () => sessionAction(s.name, "stop"), { disabled: !running }),
        button("Restart", () => sessionAction(s.name, "restart")),
        button("Logout", () => sessionAction(s.name, "logout"), { disabled: !running || s.engine.source !== "bridge" }));
      return el("tr", { "data-session": s.name },
        cell(el("div", {}, el("strong", { text: s.name }), el("div", { class: "hint", text: `${s.engine.engine} · ${s.engine.source}` }))),
        cell(badge(s.status)), cell(me, "mono"),
        cell(s.last_error ? el("span", { class: "error", text: s.last_error, title: when(s.last_error_at) }) : "–"),
        cell(restarts, "num"), cell(actions));
    }));
    await showQrCodes(data.filter((s) => s.status === "SCAN_QR_CODE").map((s) => s.name));
  });
}

async function showQrCodes(names) {
  const panel = $("qr-panel");
  for (const name of [...state.qr.keys()]) {
    if (!names.includes(name)) { state.qr.get(name).box.remove(); state.qr.delete(name); }
  }
  for (const name of names) {
    let entry = state.qr.get(name);
    if (!entry) {
      const img = el("img", { alt: `QR code of session ${name}` });
      const box = el("div", { class: "qr", "data-qr-session": name },
        el("strong", { text: name }), img,
        el("div", { class: "hint", text: "WhatsApp → Linked devices → Link a device" }));
      entry = { box, img, value: null };
      state.qr.set(name, entry);
      panel.append(box);
    }
    try {
      const { data } = await api("GET", `/api/${encodeURIComponent(name)}/auth/qr?format=raw`);
      if (data.value !== entry.value) {  // a new code: fetch its picture
        const png = await api("GET", `/api/${encodeURIComponent(name)}/auth/qr`);
        entry.value = data.value;
        entry.img.src = `data:${png.data.mimetype};base64,${png.data.data}`;
        entry.box.dataset.qrValue = data.value;
      }
    } catch (err) { /* it may have been scanned meanwhile: the next poll tells */ }
  }
}

// -- endpoints ------------------------------------------------------------------------------

async function loadEndpoints() {
  await attempt("endpoints", async () => {
    const { data } = await api("GET", "/api/endpoints");
    replaceRows($("endpoints-body"), data.map((e) => {
      const name = el("div", {}, el("strong", { text: e.endpoint }));
      if (e.url !== e.endpoint) name.append(el("div", { class: "hint mono", text: e.url }));
      const stateCell = el("div", {}, badge(e.state));
      if (e.reason) stateCell.append(el("div", { class: "hint", text: e.reason }));
      const actions = el("div", { class: "actions" },
        button("Enable", () => enableEndpoint(e.endpoint), { disabled: e.state === "active" }),
        button("Dead deliveries", () => showDeliveries({ status: "dead", endpoint: e.endpoint }), { disabled: !e.dead }));
      return el("tr", { "data-endpoint": e.endpoint },
        cell(name), cell(stateCell), cell(String(e.consecutive_failures), "num"),
        cell(ago(e.last_success_at)), cell(ago(e.last_failure_at)),
        cell(String(e.pending), "num"), cell(String(e.dead), "num"), cell(actions));
    }));
  });
}

async function enableEndpoint(endpoint) {
  await attempt(`enable ${endpoint}`, async () => {
    const { data } = await api("POST", "/api/endpoints/enable", { endpoint });
    say(`${endpoint} enabled; ${data.queued} held deliveries queued again`);
    loadEndpoints();
  });
}

// -- deliveries -----------------------------------------------------------------------------

function showDeliveries(filters) {
  const form = $("filters");
  form.reset();
  for (const [k, v] of Object.entries(filters)) form.elements[k].value = v;
  if (location.hash === "#deliveries") loadDeliveries(true); else location.hash = "#deliveries";
}

function filterValues() {
  const form = $("filters");
  const values = {};
  for (const name of ["status", "session", "event", "endpoint", "order"]) {
    const v = form.elements[name].value.trim();
    if (v) values[name] = v;
  }
  for (const name of ["since", "until"]) {
    const v = form.elements[name].value;
    if (v) values[name] = new Date(v).getTime() + (name === "until" ? 999 : 0);
  }
  return values;
}

async function loadDeliveries(reset) {
  await attempt("deliveries", async () => {
    if (reset) { state.cursor = null; state.query = filterValues(); state.open.clear(); }
    const params = new URLSearchParams({ ...state.query, limit: "50" });
    if (!reset && state.cursor) params.set("cursor", state.cursor);
    const { data, headers } = await api("GET", `/api/deliveries?${params}`);
    state.cursor = headers.get("X-Next-Cursor");
    const rows = data.flatMap((d) => deliveryRows(d));
    if (reset) replaceRows($("deliveries-body"), rows); else $("deliveries-body").append(...rows);
    $("more").hidden = !state.cursor;
    const shown = $("deliveries-body").querySelectorAll("tr.delivery").length;
    $("deliveries-count").textContent = `${shown} shown${state.cursor ? "; more with “Load more”" : ""}`;
  });
}

function deliveryRows(d) {
  const last = d.last_status ? `HTTP ${d.last_status}` : (d.last_error || "–");
  const resend = button("Re-send", () => resendOne(d.id), { disabled: !["dead", "delivered"].includes(d.status) });
  const row = el("tr", { class: "delivery", "data-id": d.id, "data-status": d.status, title: "show the attempts",
                         on: { click: () => toggleAttempts(d.id) } },
    cell(when(d.created_at)), cell(d.id, "mono"), cell(d.session), cell(d.event_name),
    cell(el("div", { class: "ellipsis", text: d.endpoint, title: d.url })), cell(badge(d.status)),
    cell(String(d.attempts), "num"),
    cell(el("div", { class: "ellipsis", text: last, title: d.last_error || "" })), cell(resend));
  return [row];
}

async function toggleAttempts(id) {
  const row = document.querySelector(`tr.delivery[data-id="${CSS.escape(id)}"]`);
  const next = row.nextElementSibling;
  if (next && next.classList.contains("attempts")) { next.remove(); state.open.delete(id); return; }
  state.open.add(id);
  await renderAttempts(id);
}

async function renderAttempts(id) {
  const { data } = await api("GET", `/api/deliveries/${encodeURIComponent(id)}`);
  const row = document.querySelector(`tr.delivery[data-id="${CSS.escape(id)}"]`);
  if (!row) return data;
  const fresh = deliveryRows(data)[0];
  row.replaceWith(fresh);
  const old = fresh.nextElementSibling;
  if (old && old.classList.contains("attempts")) old.remove();
  if (!state.open.has(id)) return data;
  const body = data.attempt_log.map((a) => el("tr", { class: "attempt", "data-attempt": a.attempt },
    cell(String(a.attempt), "num"), cell(when(a.started_at)),
    cell(a.status === null ? badge("no answer") : `HTTP ${a.status}`), cell(`${a.duration_ms.toFixed(1)} ms`, "num"),
    cell(a.error ? el("span", { class: "error", text: a.error }) : "–"),
    cell(a.response_body ? el("pre", { class: "excerpt", text: a.response_body.slice(0, 600) }) : "–")));
  const table = el("table", {},
    el("thead", {}, el("tr", {}, ...["#", "Started", "Answer", "Duration", "Error", "Response (excerpt)"].map((h) => el("th", { text: h })))),
    el("tbody", {}, ...body));
  const extra = el("tr", { class: "attempts", "data-for": id },
    el("td", { colspan: "9" }, data.attempt_log.length ? table : el("span", { class: "hint", text: "no attempt yet" })));
  fresh.after(extra);
  return data;
}

async function resendOne(id) {
  await attempt(`re-send ${id}`, async () => {
    const before = (await api("GET", `/api/deliveries/${encodeURIComponent(id)}`)).data.attempt_log.length;
    await api("POST", `/api/deliveries/${encodeURIComponent(id)}/retry`);
    say(`${id} queued for re-sending; waiting for its attempt …`);
    state.open.add(id);
    watchDelivery(id, before);
  });
}

function watchDelivery(id, attemptsBefore) {
  if (state.watching.has(id)) return;
  state.watching.add(id);
  const started = Date.now();
  const tick = async () => {
    const data = await attempt(`delivery ${id}`, () => renderAttempts(id));
    const done = data && data.attempt_log.length > attemptsBefore && !["pending", "in_flight"].includes(data.status);
    if (done) say(`${id}: new attempt, ${data.status}`);
    if (done || Date.now() - started > 60000) { state.watching.delete(id); return; }
    setTimeout(tick, 700);
  };
  tick();
}

$("filters").addEventListener("submit", (event) => { event.preventDefault(); loadDeliveries(true); });
$("more").addEventListener("click", () => loadDeliveries(false));
$("resend-all").addEventListener("click", async () => {
  const values = filterValues();
  if (values.status !== "dead") { say("Re-send all matching re-sends dead deliveries: choose status “dead” first.", true); return; }
  delete values.order;
  await attempt("re-send all", async () => {
    const { data } = await api("POST", "/api/deliveries/retry", values);
    say(`${data.queued} dead deliveries queued for re-sending`);
    loadDeliveries(true);
  });
});

// -- live events ----------------------------------------------------------------------------

function summary(envelope) {
  const p = envelope.payload || {};
  if (typeof p.body === "string" && p.body) return p.body;
  if (typeof p.status === "string") return p.status;
  const text = JSON.stringify(p);
  return text.length > 160 ? text.slice(0, 160) + "…" : text;
}

$("tail-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (state.socket) state.socket.close();
  const form = event.target;
  await attempt("live events", async () => {
    const { data } = await api("POST", "/api/ws/ticket");
    const params = new URLSearchParams({ ticket: data.ticket, session: form.elements.session.value || "*",
                                         events: form.elements.events.value || "*" });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    state.socket = socket;
    $("tail-state").textContent = "connecting …";
    socket.onopen = () => { $("tail-state").textContent = "connected"; $("tail-stop").disabled = false; };
    socket.onclose = () => {
      if (state.socket === socket) state.socket = null;
      $("tail-state").textContent = "not connected"; $("tail-stop").disabled = true;
    };
    socket.onmessage = (message) => {
      const envelope = JSON.parse(message.data);
      const item = el("li", { "data-event": envelope.event, title: message.data.slice(0, 2000) },
        el("span", { class: "when", text: when(envelope.timestamp) }),
        el("span", { class: "name", text: `${envelope.session} · ${envelope.event}` }),
        el("span", { text: summary(envelope) }));
      const list = $("tail");
      list.prepend(item);
      while (list.children.length > 300) list.lastChild.remove();
    };
  });
});
$("tail-stop").addEventListener("click", () => { if (state.socket) state.socket.close(); });
$("tail-clear").addEventListener("click", () => $("tail").replaceChildren());

start();
