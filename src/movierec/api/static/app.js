// movierec web page: vanilla JS over the JSON API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const ratings = new Map(); // movieId -> {movie, rating}
const scaleMax = Math.round(Number(document.body.dataset.scaleMax || 5));
const PAGE = 15; // search results per "show more"
const narrow = window.matchMedia("(max-width: 50rem)");
let recTimer = null;
let recSeq = 0;
let searchState = { params: null, shown: 0, total: 0 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// A failed call throws an Error with the API's message, the status and Retry-After (s).
async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
  const res = await fetch(path, { ...options, headers });
  if (res.status === 204) return {};
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const d = body.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ") : d;
    const err = new Error(msg || `HTTP ${res.status}`);
    err.status = res.status;
    err.retryAfter = Number(res.headers.get("Retry-After")) || 0;
    throw err;
  }
  return body;
}

const when = (iso) => iso.replace("T", " ").slice(0, 19) + " UTC";

function status(sel, text, isError = false) {
  const node = $(sel);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

function movieMeta(m) {
  const bits = [];
  if (m.year) bits.push(m.year);
  if (m.genres.length) bits.push(m.genres.join(", "));
  if (m.n_ratings) bits.push(`${m.n_ratings} ratings, mean ${m.mean_rating.toFixed(1)}`);
  return bits.join(" · ");
}

// ---------------------------------------------------------------- tabs
function showTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
  }
  updatePeek();
  if (tab.id === "tab-models") loadModels();
}
for (const t of document.querySelectorAll('[role="tab"]')) {
  t.addEventListener("click", () => showTab(t));
  t.addEventListener("keydown", (e) => {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const i = tabs.indexOf(t);
    const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length]
      : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
    if (next) { next.focus(); showTab(next); }
  });
}

// ---------------------------------------------------------------- rate movies
function starWidget(movie) {
  const name = `rate-${movie.id}-${Math.random().toString(36).slice(2, 8)}`;
  const fs = el("fieldset", { class: "stars" }, el("legend", {}, `Your rating of ${movie.title}`));
  for (let v = scaleMax; v >= 1; v--) {
    const id = `${name}-${v}`;
    const input = el("input", { type: "radio", name, id, value: String(v) });
    if (ratings.get(movie.id)?.rating === v) input.checked = true;
    input.addEventListener("change", () => rate(movie, v));
    fs.append(input, el("label", { for: id, title: `${v} star${v > 1 ? "s" : ""}`, "aria-label": `${v} star${v > 1 ? "s" : ""}` }, "★"));
  }
  return fs;
}

function movieItem(m) {
  const item = el("li", { class: "movie", "data-movie-id": m.id },
    el("div", { class: "title" }, m.title), el("div", { class: "meta" }, movieMeta(m)));
  if (!m.n_ratings) {
    item.append(el("div", { class: "note" },
      "Not in the model's training data: rating it will not change your recommendations."));
  }
  item.append(starWidget(m));
  return item;
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("#search").value.trim();
  const genre = $("#genre").value;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set("query", q);
  if (genre) params.set("genre", genre);
  searchState = { params, shown: 0, total: 0 };
  $("#search-results").replaceChildren();
  await searchPage();
}

async function searchPage() {
  const params = new URLSearchParams(searchState.params);
  params.set("offset", String(searchState.shown));
  status("#search-status", "Searching…");
  $("#show-more").hidden = true;
  try {
    const body = await api(`/movies?${params}`);
    $("#search-results").append(...body.movies.map(movieItem));
    searchState.shown += body.movies.length;
    searchState.total = body.total;
    const shown = searchState.shown;
    status("#search-status", body.total
      ? `${body.total} movie(s) found${body.total > shown ? `, showing ${shown}` : ""}.`
      : "No movie matches.");
    $("#show-more").hidden = shown >= body.total;
  } catch (err) {
    status("#search-status", err.message, true);
  }
}

// ---------------------------------------------------------------- the visitor's account
// The visitor is a user of the store: created by POST /users on the first rating, its id
// and token kept in localStorage, every rating written with PUT/DELETE, so the ratings
// (and the recommendations folded in from them) are still there after a reload. Without a
// store (the server answers 503) the page keeps the ratings in memory and asks
// POST /recommendations, as before.
const ACCOUNT_KEY = "movierec.account";
let account = null; // {id, token}
let memoryOnly = false;

function loadAccount() {
  try {
    const saved = JSON.parse(localStorage.getItem(ACCOUNT_KEY) || "null");
    if (saved && Number.isInteger(saved.id) && typeof saved.token === "string") account = saved;
  } catch (err) { account = null; }
}

async function ensureAccount() {
  if (account || memoryOnly) return account;
  try {
    const made = await api("/users", { method: "POST" });
    account = { id: made.id, token: made.token };
    localStorage.setItem(ACCOUNT_KEY, JSON.stringify(account));
  } catch (err) {
    if (err.status !== 503) throw err;
    memoryOnly = true; // no store: this visit only
  }
  return account;
}

const authorised = () => ({ Authorization: `Bearer ${account.token}` });

async function rate(movie, value) {
  const before = ratings.get(movie.id);
  ratings.set(movie.id, { movie, rating: value });
  renderRated();
  try {
    if (await ensureAccount()) {
      await api(`/users/${account.id}/ratings/${movie.id}`,
        { method: "PUT", headers: authorised(), body: JSON.stringify({ rating: value }) });
    }
  } catch (err) {
    if (before) ratings.set(movie.id, before); else ratings.delete(movie.id);
    renderRated();
    status("#recs-status", `Not saved: ${err.message}`, true);
    return;
  }
  renderRated(); // names the account once it exists
  scheduleRecs();
}

async function unrate(movie) {
  const before = ratings.get(movie.id);
  ratings.delete(movie.id);
  renderRated();
  try {
    if (account) {
      await api(`/users/${account.id}/ratings/${movie.id}`, { method: "DELETE", headers: authorised() });
    }
  } catch (err) {
    if (before) ratings.set(movie.id, before);
    renderRated();
    status("#recs-status", `Not removed: ${err.message}`, true);
    return;
  }
  scheduleRecs();
}

// A returning visitor: their ratings from the store (a stale account, e.g. after the store
// was reset, is forgotten).
async function restoreAccount() {
  loadAccount();
  if (!account) return;
  try {
    const hist = await api(`/users/${account.id}/ratings?limit=1000`);
    for (const h of hist.ratings) ratings.set(h.movie.id, { movie: h.movie, rating: h.rating });
    renderRated();
    scheduleRecs(0);
  } catch (err) {
    if (err.status === 404) { localStorage.removeItem(ACCOUNT_KEY); account = null; }
    else status("#recs-status", err.message, true);
  }
}

function renderRated() {
  const items = [...ratings.values()].map(({ movie, rating }) => el("li", { class: "rated-item" },
    el("span", { class: "title" }, movie.title), ` — ${rating}★`,
    el("button", { class: "remove", type: "button", "aria-label": `Remove rating of ${movie.title}`,
      onclick: () => unrate(movie) }, "remove")));
  $("#rated").replaceChildren(...items);
  $("#rated-empty").hidden = items.length > 0;
  $("#account-note").textContent = account
    ? `Saved on the server as user ${account.id}; this browser remembers you.` : "";
}

function scheduleRecs(delay = 150) {
  clearTimeout(recTimer);
  recTimer = setTimeout(loadRecs, delay);
}

// "More like this": the movie's nearest movies, each rateable in place.
async function toggleSimilar(movie, button, holder, rateable) {
  if (!holder.hidden) { holder.hidden = true; button.setAttribute("aria-expanded", "false"); return; }
  button.setAttribute("aria-expanded", "true");
  holder.hidden = false;
  holder.replaceChildren(el("li", { class: "meta" }, "Loading…"));
  try {
    const body = await api(`/movies/${movie.id}/similar?n=5`);
    holder.replaceChildren(...body.similar.map((s) => el("li", { class: "movie", "data-movie-id": s.movie.id },
      el("div", { class: "title" }, s.movie.title),
      el("div", { class: "meta" }, `${movieMeta(s.movie)}${s.explanation ? ` · ${s.explanation}` : ""}`),
      rateable ? starWidget(s.movie) : "")));
    if (!body.similar.length) holder.replaceChildren(el("li", { class: "meta" }, "No similar movies known."));
  } catch (err) {
    holder.replaceChildren(el("li", { class: "meta error" }, err.message));
  }
}

function recItem(r, rateable = true) {
  const holder = el("ul", { class: "similar", hidden: "" });
  const more = el("button", { class: "more-like", type: "button", "aria-expanded": "false",
    title: `Movies like ${r.movie.title}` }, "More like this");
  more.addEventListener("click", () => toggleSimilar(r.movie, more, holder, rateable));
  return el("li", { class: "rec", "data-movie-id": r.movie.id },
    el("span", { class: "title" }, r.movie.title),
    el("div", { class: "meta" }, movieMeta(r.movie)),
    el("div", { class: "why" }, r.explanation),
    more, holder);
}

function ignoredNote(ids) {
  if (!ids.length) return "";
  const names = ids.map((id) => ratings.get(id)?.movie.title || `movie ${id}`);
  return `Not used: ${names.join(", ")} (no ratings in the training data, so the model cannot learn from ${ids.length > 1 ? "them" : "it"}).`;
}

async function loadRecs() {
  const seq = ++recSeq;
  if (!ratings.size) {
    $("#new-recs").replaceChildren();
    $("#recs-note").textContent = "";
    status("#recs-status", "Rate at least one movie.");
    updatePeek();
    return;
  }
  status("#recs-status", "Updating…");
  const payload = { n: 10, ratings: [...ratings.values()].map(({ movie, rating }) => ({ movieId: movie.id, rating })) };
  try {
    // a visitor with an account: their stored ratings, folded in by the server
    const body = account
      ? await api(`/users/${account.id}/recommendations?n=10`)
      : await api("/recommendations", { method: "POST", body: JSON.stringify(payload) });
    if (seq !== recSeq) return; // a newer request is on its way
    if (account) body.ignored = [...ratings.values()].filter(({ movie }) => !movie.n_ratings).map(({ movie }) => movie.id);
    $("#new-recs").replaceChildren(...body.recommendations.map(recItem));
    $("#recs-note").textContent = ignoredNote(body.ignored);
    const how = body.method === "popularity" ? "popular movies: none of your rated movies is known to the model" : body.method;
    status("#recs-status", `${body.recommendations.length} recommendations from ${ratings.size} rating(s) (${body.model}, ${how}).`);
  } catch (err) {
    if (seq !== recSeq) return;
    if (err.status === 503 && err.retryAfter) { // busy: keep the list, try again
      status("#recs-status", `The server is busy; retrying in ${err.retryAfter} s…`, true);
      scheduleRecs(Math.min(err.retryAfter, 10) * 1000);
    } else {
      status("#recs-status", err.message, true);
    }
  }
  updatePeek();
}

// On a phone the list sits below the search results: a bar at the bottom shows the top
// picks whenever the list itself is out of view.
let recsInView = false;
function updatePeek() {
  const peek = $("#recs-peek");
  const recs = [...document.querySelectorAll("#new-recs > li .title")].slice(0, 3).map((t) => t.textContent);
  const show = narrow.matches && recs.length > 0 && !recsInView && !$("#view-rate").hidden;
  if (show) $("#peek-list").textContent = recs.map((t, i) => `${i + 1}. ${t}`).join(" · ");
  peek.hidden = !show;
  document.body.classList.toggle("with-peek", show);
}
new IntersectionObserver((entries) => {
  recsInView = entries.some((e) => e.isIntersecting);
  updatePeek();
}).observe($("#recs"));
narrow.addEventListener("change", updatePeek);
$("#peek-show").addEventListener("click", () => $("#recs").scrollIntoView({ behavior: "smooth", block: "start" }));

restoreAccount();
$("#search-form").addEventListener("submit", search);
$("#genre").addEventListener("change", () => search());
$("#show-more").addEventListener("click", searchPage);

// ---------------------------------------------------------------- existing user
async function showUser(event) {
  event.preventDefault();
  const id = $("#user-id").value.trim();
  if (!/^\d+$/.test(id)) { status("#user-status", "Enter a whole number.", true); return; }
  status("#user-status", "Loading…");
  $("#user-history").replaceChildren();
  $("#user-recs").replaceChildren();
  $("#user-recs-source").textContent = "";
  try {
    const [hist, recs] = await Promise.all([api(`/users/${id}/ratings?limit=30`), api(`/users/${id}/recommendations?n=10`)]);
    $("#user-history").replaceChildren(...hist.ratings.map((h) => el("li", { class: "rated-item" },
      el("span", { class: "title" }, h.movie.title), ` — ${h.rating}★`, el("div", { class: "meta" }, movieMeta(h.movie)))));
    $("#user-recs").replaceChildren(...recs.recommendations.map((r) => recItem(r, false)));
    $("#user-recs-source").textContent = recs.source === "store"
      ? `From stored run ${recs.run_id} (${recs.model}).`
      : recs.source === "fold-in" ? `From the user's current ratings (${recs.model}, ${recs.method}).`
        : `Computed live by the ${recs.model} model.`;
    status("#user-status", `User ${id} rated ${hist.n_ratings} movies${hist.n_ratings > hist.ratings.length ? ` (best ${hist.ratings.length} shown)` : ""}.`);
  } catch (err) {
    status("#user-status", err.message, true);
  }
}
$("#user-form").addEventListener("submit", showUser);

// ---------------------------------------------------------------- models
function fmtValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (v && typeof v === "object") return JSON.stringify(v);
  return v ?? "";
}

function table(node, rows) {
  if (!rows.length) { node.replaceChildren(); return; }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : fmtValue(v));
  node.replaceChildren(node.querySelector("caption") || "",
    el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...cols.map((c) => el("td", { class: typeof r[c] === "number" ? "num" : "" }, fmt(r[c])))))));
}

// The model's hyperparameters: one row each (nested values, e.g. a blend's parts, flattened
// to "part.name").
function paramsTable(params) {
  const rows = [];
  const walk = (prefix, value) => {
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else {
      rows.push([prefix, fmtValue(value)]);
    }
  };
  walk("", params);
  return el("table", { class: "params" }, el("caption", { class: "sr-only" }, "Model parameters"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "parameter"), el("th", { scope: "col" }, "value"))),
    el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))));
}

function boardRows(board) {
  // reports/<protocol>/leaderboard.json: {"summary": [{model, <metric>_mean, ...}], ...}
  const isRows = (v) => Array.isArray(v) && v.length > 0 && v.every((r) => r && typeof r === "object" && !Array.isArray(r));
  if (isRows(board)) return board;
  if (board && typeof board === "object") {
    for (const key of ["summary", "rows", "leaderboard", "results"]) if (isRows(board[key])) return board[key];
    const lists = Object.values(board).filter(isRows);
    if (lists.length) return lists[0];
  }
  return [];
}

async function loadBoard() {
  const protocol = $("#protocol").value;
  if (!protocol) return;
  try {
    const b = await api(`/leaderboards/${encodeURIComponent(protocol)}`);
    // show means only ("NDCG@10_mean" -> "NDCG@10"); the ± std are in leaderboard.md
    const rows = boardRows(b.leaderboard).map((r) => Object.fromEntries(Object.entries(r)
      .filter(([k]) => !k.endsWith("_std")).map(([k, v]) => [k.replace(/_mean$/, ""), v])));
    table($("#leaderboard"), rows);
    $("#plots").replaceChildren(...b.plots.map((src) => el("figure", {}, el("img", { src, alt: `Plot ${src.split("/").pop()} for ${protocol}`, loading: "lazy" }),
      el("figcaption", { class: "meta" }, src.split("/").pop()))));
    status("#board-status", "");
  } catch (err) {
    status("#board-status", err.message, true);
  }
}

let modelsLoaded = false;
async function loadModels() {
  if (modelsLoaded) return;
  modelsLoaded = true;
  try {
    const [h, runs, idx] = await Promise.all([api("/health"), api("/runs"), api("/leaderboards")]);
    const store = h.store.kind ? `${h.store.kind} database ${h.store.name}` : "none";
    const facts = [["model", h.model.name], ["parameters", paramsTable(h.model.params)],
      ["training data", `${h.model.n_users} users × ${h.model.n_items} movies (fingerprint ${h.model.data_fingerprint})`],
      ["current run", h.run ? `#${h.run.id} ${h.run.model}, ${h.run.n_recommendations} recommendations, ${when(h.run.created)}` : "none stored"],
      ["store", h.store.available ? `${store}, available` : `${store}, unavailable: ${h.store.detail}`]];
    $("#health").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    table($("#runs"), runs.map((r) => ({ id: r.id, model: r.model, status: r.status, current: r.is_current ? "yes" : "",
      users: r.n_users, recommendations: r.n_recommendations, created: when(r.created), data: r.data_fingerprint })));
    $("#protocol").replaceChildren(...idx.protocols.map((p) => el("option", {}, p)));
    if (idx.protocols.length) await loadBoard();
    else status("#board-status", "No leaderboard yet: run 'movierec evaluate'.");
  } catch (err) {
    modelsLoaded = false;
    status("#board-status", err.message, true);
  }
}
$("#protocol").addEventListener("change", loadBoard);
