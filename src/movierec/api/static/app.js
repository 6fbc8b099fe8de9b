// movierec web page: vanilla JS over the JSON API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const ratings = new Map(); // movieId -> {movie, rating}
const scaleMax = Math.round(Number(document.body.dataset.scaleMax || 5));
let recTimer = null;
let recSeq = 0;

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

async function api(path, options = {}) {
  const res = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const d = body.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ") : d;
    throw new Error(msg || `HTTP ${res.status}`);
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
  const name = `rate-${movie.id}`;
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

async function search(event) {
  if (event) event.preventDefault();
  const q = $("#search").value.trim();
  const genre = $("#genre").value;
  const params = new URLSearchParams({ limit: "15" });
  if (q) params.set("query", q);
  if (genre) params.set("genre", genre);
  status("#search-status", "Searching…");
  try {
    const body = await api(`/movies?${params}`);
    const list = $("#search-results");
    list.replaceChildren(...body.movies.map((m) => el("li", { class: "movie", "data-movie-id": m.id },
      el("div", { class: "title" }, m.title), el("div", { class: "meta" }, movieMeta(m)), starWidget(m))));
    status("#search-status", body.total ? `${body.total} movie(s) found${body.total > body.movies.length ? `, showing ${body.movies.length}` : ""}.` : "No movie matches.");
  } catch (err) {
    status("#search-status", err.message, true);
  }
}

function rate(movie, value) {
  ratings.set(movie.id, { movie, rating: value });
  renderRated();
  scheduleRecs();
}

function renderRated() {
  const items = [...ratings.values()].map(({ movie, rating }) => el("li", { class: "rated-item" },
    el("span", { class: "title" }, movie.title), ` — ${rating}★`,
    el("button", { class: "remove", type: "button", "aria-label": `Remove rating of ${movie.title}`,
      onclick: () => { ratings.delete(movie.id); renderRated(); scheduleRecs(); } }, "remove")));
  $("#rated").replaceChildren(...items);
  $("#rated-empty").hidden = items.length > 0;
}

function scheduleRecs() {
  clearTimeout(recTimer);
  recTimer = setTimeout(loadRecs, 150);
}

function recItem(r) {
  return el("li", { class: "rec", "data-movie-id": r.movie.id },
    el("span", { class: "title" }, r.movie.title),
    el("div", { class: "meta" }, movieMeta(r.movie)),
    el("div", { class: "why" }, r.explanation));
}

async function loadRecs() {
  const seq = ++recSeq;
  if (!ratings.size) {
    $("#new-recs").replaceChildren();
    status("#recs-status", "Rate at least one movie.");
    return;
  }
  status("#recs-status", "Updating…");
  const payload = { n: 10, ratings: [...ratings.values()].map(({ movie, rating }) => ({ movieId: movie.id, rating })) };
  try {
    const body = await api("/recommendations", { method: "POST", body: JSON.stringify(payload) });
    if (seq !== recSeq) return; // a newer request is on its way
    $("#new-recs").replaceChildren(...body.recommendations.map(recItem));
    status("#recs-status", `${body.recommendations.length} recommendations from ${ratings.size} rating(s) (${body.model}, ${body.method}).`);
  } catch (err) {
    if (seq === recSeq) status("#recs-status", err.message, true);
  }
}

$("#search-form").addEventListener("submit", search);
$("#genre").addEventListener("change", () => search());

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
    $("#user-recs").replaceChildren(...recs.recommendations.map(recItem));
    $("#user-recs-source").textContent = recs.source === "store"
      ? `From stored run ${recs.run_id} (${recs.model}).` : `Computed live by the ${recs.model} model.`;
    status("#user-status", `User ${id} rated ${hist.n_ratings} movies${hist.n_ratings > hist.ratings.length ? ` (best ${hist.ratings.length} shown)` : ""}.`);
  } catch (err) {
    status("#user-status", err.message, true);
  }
}
$("#user-form").addEventListener("submit", showUser);

// ---------------------------------------------------------------- models
function table(node, rows) {
  if (!rows.length) { node.replaceChildren(); return; }
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4))
    : v && typeof v === "object" ? JSON.stringify(v) : v ?? "");
  node.replaceChildren(node.querySelector("caption") || "",
    el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col" }, c)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...cols.map((c) => el("td", { class: typeof r[c] === "number" ? "num" : "" }, fmt(r[c])))))));
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
    const facts = [["model", h.model.name], ["parameters", JSON.stringify(h.model.params)],
      ["training data", `${h.model.n_users} users × ${h.model.n_items} movies (fingerprint ${h.model.data_fingerprint})`],
      ["current run", h.run ? `#${h.run.id} ${h.run.model}, ${h.run.n_recommendations} recommendations, ${when(h.run.created)}` : "none stored"],
      ["store", h.store.available ? "available" : `unavailable ${h.store.detail}`]];
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
