// reko search site: plain JS, no build step, no CDN. Every string from the server or from video
// (OCR text, file names, person names) is inserted with textContent, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { page: 1, persons: [], lastQuery: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function fmtMs(ms) {
  const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

async function api(path, options = {}) {
  const opts = { ...options, headers: { ...(options.headers || {}) } };
  if (opts.method && opts.method !== "GET") opts.headers["X-Reko-Request"] = "1";
  const response = await fetch(path, opts);
  if (response.status === 401) { await login(); return api(path, options); }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.message || `${response.status} ${response.statusText}`);
  return body;
}

function login() {
  return new Promise((resolve) => {
    const dialog = $("#login-dialog");
    $("#login-form").onsubmit = async (event) => {
      event.preventDefault();
      const r = await fetch("api/login", { method: "POST", headers: { "Content-Type": "application/json", "X-Reko-Request": "1" },
        body: JSON.stringify({ token: $("#login-token").value }) });
      if (r.ok) { dialog.close(); resolve(); } else { $("#login-error").textContent = "Wrong token"; }
    };
    if (!dialog.open) dialog.showModal();
  });
}

// Highlight query terms inside text, building DOM nodes (no innerHTML).
function highlighted(text, terms) {
  const frag = document.createDocumentFragment();
  const lower = text.toLowerCase();
  let i = 0;
  while (i < text.length) {
    let best = -1, len = 0;
    for (const t of terms) {
      const at = lower.indexOf(t, i);
      if (at >= 0 && (best < 0 || at < best)) { best = at; len = t.length; }
    }
    if (best < 0) { frag.append(text.slice(i)); break; }
    frag.append(text.slice(i, best), el("mark", { text: text.slice(best, best + len) }));
    i = best + len;
  }
  return frag;
}

function queryTerms(q) {
  const terms = [];
  q.normalize("NFKC").replace(/"([^"]*)"|(\S+)/g, (_, phrase, word) => { const t = (phrase || word || "").trim(); if (t) terms.push(t.toLowerCase()); });
  return terms;
}

function personName(id) {
  const p = state.persons.find((x) => x.person_id === id);
  return p ? (p.name || p.person_id) : id;
}

function thumbnail(seg) {
  const wrap = el("div", { class: "thumb" }, el("img", { src: seg.frame_url, alt: "", loading: "lazy" }));
  for (const b of seg.boxes || []) {
    const box = el("div", { class: `box box-${b.kind}`, title: b.text || personName(b.person_id) || "" });
    box.style.left = `${b.box.Left * 100}%`; box.style.top = `${b.box.Top * 100}%`;
    box.style.width = `${b.box.Width * 100}%`; box.style.height = `${b.box.Height * 100}%`;
    wrap.append(box);
  }
  wrap.append(el("span", { class: "badge", text: `${fmtMs(seg.start_ms)} – ${fmtMs(seg.end_ms)}` }));
  return wrap;
}

function renderResults(data, terms) {
  const results = $("#results");
  results.replaceChildren();
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const videos = new Set(data.segments.map((s) => s.video_id)).size;
  $("#search-summary").textContent = data.total_segments
    ? `${plural(data.total_segments, "moment")} in ${plural(videos, "video")} (${plural(data.total_frames, "frame")})`
    : "No moment matches. Try fewer or shorter words.";
  let group = null, current = null;
  for (const seg of data.segments) {
    if (seg.video_id !== current) {
      current = seg.video_id;
      group = el("div", { class: "segments" });
      results.append(el("article", { class: "video-group" },
        el("h3", {}, el("a", { href: `#/video/${seg.video_id}`, text: seg.filename || seg.video_id })), group));
    }
    const lines = seg.matched_lines.length ? seg.matched_lines : (seg.text ? seg.text.split("\n") : []);
    const caption = el("div", { class: "caption" });
    for (const line of lines.slice(0, 3)) caption.append(el("div", {}, highlighted(line, terms)));
    const people = (seg.person_ids || []).map((p) => el("span", { class: "chip", text: personName(p) }));
    group.append(el("div", { class: "segment", dataset: { start: seg.start_ms } },
      el("button", { class: "play", "aria-label": "Play this moment", onclick: () => play(seg) }, thumbnail(seg)),
      caption, el("div", { class: "chips" }, ...people),
      el("div", { class: "actions" },
        el("button", { text: "▶ Play", onclick: () => play(seg) }),
        el("a", { class: "button", href: seg.clip_url, download: "", text: "⬇ Clip" }))));
  }
  const pager = $("#pager");
  pager.replaceChildren();
  const pages = Math.ceil(data.total_segments / data.per_page);
  if (data.total_segments) {
    pager.append(el("a", { class: "button", href: `api/clips.zip?${state.lastQuery}`, download: "", text: "⬇ All clips (zip)" }));
  }
  if (pages > 1) {
    if (data.page > 1) pager.append(el("button", { text: "← Previous", onclick: () => runSearch(data.page - 1) }));
    pager.append(el("span", { text: ` page ${data.page} of ${pages} ` }));
    if (data.page < pages) pager.append(el("button", { text: "Next →", onclick: () => runSearch(data.page + 1) }));
  }
}

function searchParams() {
  const params = new URLSearchParams();
  const q = $("#q").value.trim();
  if (q) params.set("q", q);
  if ($("#person-filter").value) params.append("person", $("#person-filter").value);
  if ($("#label-filter").value.trim()) params.append("label", $("#label-filter").value.trim());
  return params;
}

async function runSearch(page = 1) {
  const params = searchParams();
  if (![...params.keys()].length) { $("#search-summary").textContent = "Type something to search for."; return; }
  state.lastQuery = params.toString();
  params.set("page", page);
  $("#search-summary").textContent = "Searching…";
  try {
    const data = await api(`api/search?${params}`);
    renderResults(data, queryTerms($("#q").value));
  } catch (err) { $("#search-summary").textContent = err.message; $("#results").replaceChildren(); }
}

function play(seg) {
  const dialog = $("#player-dialog"), video = $("#segment-player");
  $("#player-title").textContent = `${seg.filename || seg.video_id} · ${fmtMs(seg.start_ms)} – ${fmtMs(seg.end_ms)}`;
  video.src = `${seg.video_url}#t=${seg.start_ms / 1000}`;
  video.onloadedmetadata = () => { video.currentTime = seg.start_ms / 1000; video.play().catch(() => {}); };
  video.ontimeupdate = () => { if (video.currentTime * 1000 >= seg.end_ms + 250) video.pause(); };
  $("#player-actions").replaceChildren(el("a", { class: "button", href: seg.clip_url, download: "", text: "⬇ Download clip" }));
  dialog.showModal();
}

async function loadPersons() {
  try { state.persons = (await api("api/persons")).persons || []; } catch { state.persons = []; }
  const select = $("#person-filter");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "Any person" }),
    ...state.persons.map((p) => el("option", { value: p.person_id, text: p.name || p.person_id })));
  select.value = chosen;
}

async function renderPeople() {
  await loadPersons();
  const gallery = $("#people");
  gallery.replaceChildren();
  $("#people-status").textContent = state.persons.length ? "" : "No people yet: faces appear here after videos are analysed.";
  for (const p of state.persons) {
    const name = el("input", { value: p.name || "", placeholder: "Name this person", "aria-label": "Name" });
    gallery.append(el("div", { class: "person" },
      el("img", { src: p.thumbnail_url, alt: "" }),
      name,
      el("div", { class: "meta", text: `${fmtMs(p.screen_time_ms || 0)} on screen · ${p.face_count} faces` }),
      el("div", { class: "actions" },
        el("button", { text: "Save", onclick: async () => {
          await api(`api/persons/${p.person_id}`, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: name.value }) });
          renderPeople(); } }),
        el("button", { text: "Find", onclick: () => {
          location.hash = "#/search";
          $("#q").value = ""; $("#label-filter").value = ""; $("#person-filter").value = p.person_id;
          runSearch(); } }),
        el("select", { "aria-label": "Merge into", onchange: async (e) => {
          if (!e.target.value) return;
          await api(`api/persons/${p.person_id}/merge`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ into: e.target.value }) });
          renderPeople(); } },
          el("option", { value: "", text: "Merge into…" }),
          ...state.persons.filter((o) => o.person_id !== p.person_id).map((o) => el("option", { value: o.person_id, text: o.name || o.person_id }))))));
  }
}

async function renderVideos() {
  const rows = $("#video-rows");
  const data = await api("api/videos");
  rows.replaceChildren(...data.videos.map((v) => el("tr", {},
    el("td", {}, el("a", { href: `#/video/${v.video_id}`, text: v.filename })),
    el("td", { text: fmtMs(v.duration_ms) }),
    el("td", {}, el("span", { class: `status status-${v.status}`, text: v.status === "ready" ? "ready" : `${v.status} ${Math.round(v.progress * 100)}%` })),
    el("td", { text: `${v.frames_analysed} / ${v.frames_sampled}` }),
    el("td", {}, el("button", { text: "Delete", onclick: async () => {
      if (!confirm(`Delete ${v.filename}?`)) return;
      await api(`api/videos/${v.video_id}`, { method: "DELETE" }); renderVideos(); } })))));
}

async function renderVideo(videoId) {
  const [video, tl] = await Promise.all([api(`api/videos/${videoId}`), api(`api/videos/${videoId}/timeline`)]);
  $("#video-title").textContent = video.filename;
  const player = $("#video-player");
  player.src = `api/videos/${videoId}/media`;
  const timeline = $("#timeline");
  timeline.replaceChildren();
  const lane = (title, items) => {
    const track = el("div", { class: "track" });
    for (const item of items) {
      const bar = el("button", { class: "bar", title: `${fmtMs(item.start)} ${item.label}`, onclick: () => { player.currentTime = item.start / 1000; player.play().catch(() => {}); } },
        el("span", { text: item.label }));
      bar.style.left = `${(item.start / tl.duration_ms) * 100}%`;
      bar.style.width = `${Math.max(0.6, ((item.end - item.start) / tl.duration_ms) * 100)}%`;
      track.append(bar);
    }
    timeline.append(el("div", { class: "lane" }, el("div", { class: "lane-title", text: title }), track));
  };
  lane("Text", tl.text.map((t) => ({ start: t.start_ms, end: t.end_ms, label: t.text.replace(/\n/g, " / ") })));
  for (const [pid, spans] of Object.entries(tl.persons)) lane(`Person · ${personName(pid)}`, spans.map(([s, e]) => ({ start: s, end: e, label: personName(pid) })));
  for (const [name, spans] of Object.entries(tl.labels)) lane(`Label · ${name}`, spans.map(([s, e]) => ({ start: s, end: e, label: name })));
}

function upload(file) {
  const row = el("div", { class: "upload" }, el("div", { class: "name", text: file.name }));
  const bar = el("progress", { max: "100", value: "0" });
  const status = el("div", { class: "meta", text: "Uploading…" });
  row.append(bar, status);
  $("#uploads").prepend(row);
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "api/videos");
  xhr.setRequestHeader("X-Reko-Request", "1");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (e.loaded / e.total) * 100; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status >= 400) { status.textContent = `Rejected: ${body.message || xhr.statusText}`; row.classList.add("failed"); return; }
    poll(body.video_id, bar, status, row);
  };
  xhr.onerror = () => { status.textContent = "Upload failed (connection lost)"; row.classList.add("failed"); };
  xhr.send(form);
}

async function poll(videoId, bar, status, row) {
  const v = await api(`api/videos/${videoId}`);
  if (v.status === "ready") {
    bar.value = 100; status.replaceChildren("Searchable ✓ ", el("a", { href: `#/video/${videoId}`, text: "open" }));
    row.classList.add("done"); row.dataset.videoId = videoId; return;
  }
  if (v.status === "failed") { status.textContent = `Failed: ${v.error}`; row.classList.add("failed"); return; }
  bar.value = Math.round(v.progress * 100);
  status.textContent = v.status === "queued" ? "Waiting to be analysed…" : `Analysing… ${Math.round(v.progress * 100)}%`;
  setTimeout(() => poll(videoId, bar, status, row), 700);
}

function route() {
  const [, view, arg] = (location.hash || "#/search").split("/");
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === view);
  if (view === "people") renderPeople();
  if (view === "videos") renderVideos();
  if (view === "video" && arg) renderVideo(arg);
  if (!document.querySelector(".view:not([hidden])")) { $("#view-search").hidden = false; }
}

async function searchByPhoto(file) {
  const form = new FormData();
  form.append("photo", file);
  $("#people-status").textContent = "Looking for this face…";
  try {
    const data = await api("api/search/face", { method: "POST", body: form });
    location.hash = "#/search";
    renderResults(data, []);
  } catch (err) { $("#people-status").textContent = err.message; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(1); });
  $("#player-close").addEventListener("click", () => { $("#segment-player").pause(); $("#player-dialog").close(); });
  $("#file-input").addEventListener("change", (e) => { for (const f of e.target.files) upload(f); e.target.value = ""; });
  $("#face-photo").addEventListener("change", (e) => { if (e.target.files[0]) searchByPhoto(e.target.files[0]); e.target.value = ""; });
  const zone = $("#dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); for (const f of e.dataTransfer.files) upload(f); });
  window.addEventListener("hashchange", route);
  route();
  loadPersons();
  api("api/labels").then((d) => {
    $("#label-options").replaceChildren(...Object.keys(d.labels || {}).map((n) => el("option", { value: n })));
  }).catch(() => {});
});
