// The console page: sign in with an API key, look up a user, list their
// active sessions in a table and on a map, and revoke them. Every change
// goes through the public API and the page then re-reads the API's answer,
// so what it shows is what sessiond says, never a local guess.

import { ApiError, clearKey, getKey, pagination, request, setKey, userPath } from "./api.js";
import { exactTime, isoTime, place, relativeTime } from "./format.js";
import { WorldMap, project } from "./map.js";
import { parseUserAgent } from "./ua.js";

const $ = (sel) => document.querySelector(sel);

const state = {
  userId: "",
  sort: "last_updated:-1",
  clientId: "",
  page: 1,
  size: 10,
  sessions: [],
  pagination: null,
  selected: null,
  clients: new Set(), // every application seen for this user, for the filter's suggestions
  seq: 0, // numbers loads, so an answer that arrives late cannot overwrite a newer one
};

const map = new WorldMap($("#map"), select, (shown) => ($("#trail-key").hidden = !shown));

// ---- messages -------------------------------------------------------------

// say announces progress in the polite live region.
function say(text) {
  $("#status").textContent = text;
}

// showError puts a readable message (a string, an ApiError or any error) (and a 422's field messages) in the
// alert region, which screen readers announce at once.
function showError(err) {
  const box = $("#alert");
  const p = document.createElement("p");
  p.textContent =
    typeof err === "string" ? err : err instanceof ApiError ? err.message : `Something went wrong: ${err.message ?? err}`;
  box.replaceChildren(p);
  if (err.details?.length) {
    const ul = document.createElement("ul");
    for (const d of err.details) {
      const li = document.createElement("li");
      li.textContent = d;
      ul.append(li);
    }
    box.append(ul);
  }
  box.hidden = false;
  say("");
}

function clearError() {
  $("#alert").hidden = true;
  $("#alert").replaceChildren();
}

// failed handles an error of any call: a 401 means the key is no good
// any more, so the console forgets it and asks for another.
function failed(err) {
  if (err instanceof ApiError && err.status === 401) {
    signOut({ quiet: true });
  }
  showError(err);
}

// ---- signing in and out ---------------------------------------------------

function showSignedIn(signedIn) {
  $("#sign-in").hidden = signedIn;
  $("#workspace").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
}

function signIn(ev) {
  ev.preventDefault();
  const input = $("#api-key");
  const key = input.value.trim();
  if (!key) {
    showError("Enter an API key.");
    input.focus();
    return;
  }
  setKey(key);
  // The field is cleared so the key is not left in the DOM.
  input.value = "";
  clearError();
  showSignedIn(true);
  say("Signed in. Look up a user by id.");
  $("#user-id").focus();
}

function signOut({ quiet = false } = {}) {
  clearKey();
  state.seq++; // drop answers still on their way
  Object.assign(state, { userId: "", page: 1, clientId: "", sessions: [], pagination: null, selected: null });
  state.clients.clear();
  $("#results").hidden = true;
  $("#user-id").value = "";
  $("#client-filter").value = "";
  showSignedIn(false);
  if (!quiet) {
    clearError();
    say("Signed out. The API key was forgotten.");
  }
  $("#api-key").focus();
}

// ---- loading --------------------------------------------------------------

function lookUp(ev) {
  ev.preventDefault();
  const userId = $("#user-id").value.trim();
  if (!userId) {
    showError("Enter a user id.");
    $("#user-id").focus();
    return;
  }
  if (userId !== state.userId) {
    state.clients.clear();
    state.clientId = "";
    $("#client-filter").value = "";
  }
  state.userId = userId;
  state.page = 1;
  load();
}

// load fetches the current page of the user's sessions and shows it.
async function load() {
  const seq = ++state.seq;
  $("#results").setAttribute("aria-busy", "true");
  say("Loading…");
  try {
    const { body, headers } = await request("GET", userPath(state.userId), {
      action: "list sessions",
      notFound: `No user “${state.userId}” in this tenant`,
      query: { page: state.page, size: state.size, sort: state.sort, client_id: state.clientId },
    });
    if (seq !== state.seq) return;
    const pg = pagination(headers);
    const sessions = Array.isArray(body) ? body : [];
    // After revoking the last session of the last page, step back a page.
    if (!sessions.length && state.page > 1 && pg?.total_count > 0) {
      state.page = Math.max(1, Math.ceil(pg.total_count / state.size));
      return load();
    }
    state.sessions = sessions;
    state.pagination = pg;
    for (const s of sessions) for (const c of s.client_ids ?? []) state.clients.add(c);
    clearError();
    render();
    const total = pg?.total_count ?? sessions.length;
    say(`${total} active ${total === 1 ? "session" : "sessions"} of ${state.userId}${state.clientId ? ` in ${state.clientId}` : ""}.`);
    loadTrails(seq, sessions);
  } catch (err) {
    if (seq !== state.seq) return;
    if (err instanceof ApiError && err.status === 404) $("#results").hidden = true;
    failed(err);
  } finally {
    if (seq === state.seq) $("#results").removeAttribute("aria-busy");
  }
}

// loadTrails asks for each session's activity trail and draws its earlier
// places faintly. Servers without the trail endpoint answer 404 or 405 to
// the first call; then the map simply has no trails. Any other failure of
// a trail is ignored too: the trail is a hint, the table is the record.
async function loadTrails(seq, sessions) {
  const fetchTrail = (s) =>
    request("GET", `${userPath(state.userId, s.session_id)}/activity`, { action: "read activity" });
  const draw = (s, body) => {
    if (seq !== state.seq) return;
    let records = Array.isArray(body) ? body : body?.activity ?? body?.items ?? [];
    if (!Array.isArray(records)) return;
    // Oldest first, so the dotted line runs from the past to the present.
    records = records.toSorted((a, b) => (a?.at ?? 0) - (b?.at ?? 0));
    const md = s.last_metadata ?? {};
    const current = project(md.latitude, md.longitude);
    const points = [];
    for (const r of records) {
      const m = r?.metadata ?? r?.last_metadata ?? r?.location ?? r ?? {};
      const p = project(m.latitude, m.longitude);
      const last = points.at(-1);
      if (!p || (last && last.x === p.x && last.y === p.y)) continue;
      if (current && p.x === current.x && p.y === current.y) continue;
      points.push(p);
    }
    map.addTrail(s.session_id, points, current);
  };
  if (!sessions.length) return;
  const [first, ...rest] = sessions;
  try {
    draw(first, (await fetchTrail(first)).body);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return;
  }
  // A few at a time, and none after a 429: trails must not spend the
  // key's rate budget that the table needs.
  let limited = false;
  const worker = async () => {
    for (let s; !limited && seq === state.seq && (s = rest.shift()); ) {
      try {
        draw(s, (await fetchTrail(s)).body);
      } catch (err) {
        if (err instanceof ApiError && err.status === 429) limited = true;
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  if (seq === state.seq && state.selected) map.select(state.selected);
}

// ---- rendering ------------------------------------------------------------

const SORT_WORDS = {
  last_updated: ["last active", "oldest first", "newest first"],
  initiated_at: ["started", "oldest first", "newest first"],
  expires_at: ["expires", "soonest first", "latest first"],
  session_id: ["session id", "ascending", "descending"],
};

function sortDescription() {
  const [field, order] = state.sort.split(":");
  const w = SORT_WORDS[field];
  return w ? `sorted by ${w[0]}, ${order === "1" ? w[1] : w[2]}` : "";
}

function render() {
  const pg = state.pagination;
  const total = pg?.total_count ?? state.sessions.length;
  $("#results").hidden = false;
  $("#results-title").textContent = `Sessions of ${state.userId}`;
  $("#revoke-all").disabled = total === 0 && !state.clientId;

  const pages = Math.max(1, Math.ceil(total / state.size));
  const filter = state.clientId ? ` in ${state.clientId}` : "";
  $("#sessions-caption").textContent =
    `${total} active ${total === 1 ? "session" : "sessions"}${filter}, ${sortDescription()}; page ${state.page} of ${pages}.`;

  renderRows();
  renderMap();
  renderControls(pages, total);
  if (!state.sessions.some((s) => s.session_id === state.selected)) state.selected = null;
  select(state.selected);
}

function renderRows() {
  const body = $("#sessions-body");
  const rows = state.sessions.map(sessionRow);
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 8;
    td.className = "empty";
    td.textContent = state.clientId
      ? `No active sessions in application “${state.clientId}”.`
      : "No active sessions.";
    tr.append(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

// describe is a short human name of a session, used in labels.
function describe(s) {
  const { device, browser } = parseUserAgent(s.last_metadata?.user_agent);
  return `${device} · ${browser}, ${place(s.last_metadata)}`;
}

function cell(label, ...children) {
  const td = document.createElement("td");
  // The label shows before the value when the table becomes cards.
  td.dataset.label = label;
  // One wrapper, so the card layout's grid sees a label and a value.
  const v = document.createElement("div");
  v.append(...children);
  td.append(v);
  return td;
}

function text(tag, content, className) {
  const e = document.createElement(tag);
  e.textContent = content;
  if (className) e.className = className;
  return e;
}

function timeCell(label, unix) {
  const t = text("time", relativeTime(unix));
  t.dateTime = isoTime(unix);
  t.title = exactTime(unix);
  t.dataset.unix = unix;
  return cell(label, t);
}

function sessionRow(s) {
  const md = s.last_metadata ?? {};
  const { device, browser } = parseUserAgent(md.user_agent);
  const tr = document.createElement("tr");
  tr.dataset.sessionId = s.session_id;
  // Rows are focusable so keyboard users can pick one and see it on the map.
  tr.tabIndex = 0;

  const dev = cell("Device", text("strong", device), " ", text("span", browser));
  dev.title = md.user_agent ?? "Unknown user agent";
  // The id's start tells sessions apart when two look alike; all of it
  // is in the tooltip.
  const sid = text("code", s.session_id.slice(0, 8), "sid");
  sid.title = `Session ${s.session_id}`;
  dev.firstChild.append(sid);

  const apps = document.createElement("ul");
  apps.className = "chips";
  for (const c of s.client_ids ?? []) apps.append(text("li", c));

  const revoke = text("button", "Revoke", "danger small");
  revoke.type = "button";
  revoke.setAttribute("aria-label", `Revoke the session on ${describe(s)}`);
  revoke.addEventListener("click", () => revokeOne(s));

  tr.append(
    dev,
    cell("Location", place(md)),
    cell("IP address", text("span", md.ip_address ?? "Unknown", "ip")),
    cell("Applications", apps),
    timeCell("Started", s.initiated_at),
    timeCell("Last active", s.last_updated),
    timeCell("Expires", s.expires_at),
    cell("Actions", revoke),
  );
  tr.addEventListener("click", () => select(s.session_id));
  tr.addEventListener("focusin", () => select(s.session_id));
  return tr;
}

function renderMap() {
  const items = state.sessions.map((s) => ({
    id: s.session_id,
    label: describe(s),
    point: project(s.last_metadata?.latitude, s.last_metadata?.longitude),
  }));
  const unplaced = map.setSessions(items);
  $("#map-note").textContent = unplaced
    ? `${unplaced} ${unplaced === 1 ? "session has" : "sessions have"} no known location.`
    : "";
}

function renderControls(pages, total) {
  const pg = state.pagination;
  $("#sort").value = state.sort;
  $("#size").value = String(state.size);
  const [field, order] = state.sort.split(":");
  for (const th of document.querySelectorAll("th[data-sort]")) {
    if (th.dataset.sort === field) th.setAttribute("aria-sort", order === "1" ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  const list = $("#client-list");
  list.replaceChildren(...[...state.clients].sort().map((c) => Object.assign(document.createElement("option"), { value: c })));

  $("#page-info").textContent = `Page ${state.page} of ${pages} · ${total} in all`;
  $("#prev").disabled = !(pg ? pg.has_previous : state.page > 1);
  $("#next").disabled = !(pg ? pg.has_next : false);
  // A pager button that just disabled itself would drop focus to the page.
  if (document.activeElement?.disabled) $("#page-info").parentElement.querySelector("button:not(:disabled)")?.focus();
}

// select highlights a session in both the table and the map. From the map,
// a click (or Enter) also brings its row into view and focuses it; focus
// alone only highlights, so tabbing through markers does not scroll away.
function select(sessionId, { fromMap = false, focusOnly = false } = {}) {
  state.selected = sessionId;
  let row = null;
  for (const tr of document.querySelectorAll("#sessions-body tr")) {
    const on = sessionId != null && tr.dataset.sessionId === sessionId;
    tr.classList.toggle("selected", on);
    if (on) row = tr;
  }
  map.select(sessionId);
  if (fromMap && !focusOnly && row) {
    row.scrollIntoView({ block: "nearest" });
    row.focus({ preventScroll: true });
  }
}

// Relative times go stale while the page is open; refresh them in place.
setInterval(() => {
  for (const t of document.querySelectorAll("time[data-unix]")) t.textContent = relativeTime(Number(t.dataset.unix));
}, 30_000);

// ---- changing the view ----------------------------------------------------

// applyControls reads the sort, filter and page size, and reloads from the
// first page when any of them changed.
function applyControls(ev) {
  ev?.preventDefault();
  const next = {
    sort: $("#sort").value,
    clientId: $("#client-filter").value.trim(),
    size: Number($("#size").value) || 10,
  };
  if (next.sort === state.sort && next.clientId === state.clientId && next.size === state.size) return;
  Object.assign(state, next, { page: 1 });
  load();
}

function sortBy(field) {
  const [cur, order] = state.sort.split(":");
  // A second click on a column flips its order; a first click starts with
  // what an operator most often wants: latest activity, or soonest expiry.
  const first = field === "expires_at" ? "1" : "-1";
  const next = cur === field ? (order === "1" ? "-1" : "1") : first;
  $("#sort").value = `${field}:${next}`;
  applyControls();
}

function goToPage(delta) {
  state.page = Math.max(1, state.page + delta);
  load();
}

// ---- revoking -------------------------------------------------------------

// confirmAction asks in a modal dialog and resolves to true on "ok". It
// listens to the form's submit (a button) and the dialog's cancel (Escape),
// which fire at once; the close event is queued, and one left over from an
// earlier closing could answer a later question.
function confirmAction(title, body, okLabel) {
  const dialog = $("#confirm");
  const form = dialog.querySelector("form");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = body;
  $("#confirm-ok").textContent = okLabel;
  dialog.showModal();
  return new Promise((resolve) => {
    const onSubmit = (ev) => done(ev.submitter?.value === "ok");
    const onCancel = () => done(false);
    const done = (ok) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      resolve(ok);
    };
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
  });
}

async function revokeOne(s) {
  const ok = await confirmAction(
    "Revoke this session?",
    `${describe(s)}, IP address ${s.last_metadata?.ip_address ?? "unknown"}. ` +
      "It is signed out of every application at once; the user signs in again to continue.",
    "Revoke session",
  );
  if (!ok) return;
  try {
    await request("DELETE", userPath(state.userId, s.session_id), {
      action: "revoke sessions",
      notFound: "That session has already ended",
    });
    say("Session revoked.");
  } catch (err) {
    // Ended meanwhile (by the user, or another operator): nothing to do
    // but show the fresh list.
    if (!(err instanceof ApiError) || err.status !== 404) return failed(err);
    say(`${err.message}`);
  }
  await reloadAfterChange();
}

async function revokeAll() {
  const ok = await confirmAction(
    `Revoke all sessions of ${state.userId}?`,
    "Every active session of this user ends now, in every application" +
      (state.clientId ? ", not only those shown by the filter" : "") +
      ". The user has to sign in again everywhere.",
    "Revoke all sessions",
  );
  if (!ok) return;
  try {
    await request("DELETE", userPath(state.userId), {
      action: "revoke sessions",
      notFound: `No user “${state.userId}” in this tenant`,
    });
  } catch (err) {
    failed(err);
    return;
  }
  say(`All sessions of ${state.userId} were revoked.`);
  await reloadAfterChange();
}

// reloadAfterChange re-reads the page after a revocation and announces
// what was done together with what is left. If the control
// that had focus went away with its row, focus moves to the results title
// rather than being lost.
async function reloadAfterChange() {
  const done = $("#status").textContent;
  await load();
  if (!$("#alert").hidden) return;
  say(`${done} ${$("#status").textContent}`);
  if (!document.activeElement || document.activeElement === document.body) $("#results-title").focus();
}

// ---- wiring ---------------------------------------------------------------

$("#sign-in-form").addEventListener("submit", signIn);
$("#sign-out").addEventListener("click", () => signOut());
$("#lookup-form").addEventListener("submit", lookUp);
$("#controls").addEventListener("submit", applyControls);
$("#controls").addEventListener("change", () => applyControls());
for (const th of document.querySelectorAll("th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.sort));
}
$("#prev").addEventListener("click", () => goToPage(-1));
$("#next").addEventListener("click", () => goToPage(1));
$("#revoke-all").addEventListener("click", revokeAll);

showSignedIn(Boolean(getKey()));
(getKey() ? $("#user-id") : $("#api-key")).focus();
