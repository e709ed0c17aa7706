// reko search site: plain JS, no build step, no CDN, no framework. Every string from the server
// or from video (OCR text, file names, person names) is inserted with textContent, never as HTML.
// State lives in the URL (#/view/arg?params): refresh, back, bookmarks and shared links work.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const VIEWS = ["search", "photo", "people", "person", "videos", "video", "upload"];
const TITLES = { search: "Search", photo: "Found by photo", people: "People", person: "Person",
  videos: "Videos", video: "Video", upload: "Upload" };
const state = {
  persons: [], personsById: new Map(), labels: {}, videos: new Map(),
  playlist: [], current: -1, stopAt: null, inMs: 0, outMs: 0, frameMs: 40,
  overview: null, showAll: false, pendingFile: null, pollers: new Map(), lastView: null, renderToken: 0,
  nearSeq: 0, exportParams: null, uploadMode: null,
};
const NEAR_KINDS = ["person", "label", "text"];
const NEAR_NAMES = { person: "Near person", label: "Near label", text: "Near text" };

// ---------------------------------------------------------------------------------------------
// small helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

function pad(n, width = 2) { return String(n).padStart(width, "0"); }

function fmtMs(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function fmtPrecise(ms) {
  ms = Math.max(0, Math.round(ms));
  return `${fmtMs(ms)}.${pad(ms % 1000, 3)}`;
}

function fileTime(ms) {
  ms = Math.max(0, Math.round(ms));
  const s = Math.floor(ms / 1000);
  return `${pad(Math.floor(s / 3600))}-${pad(Math.floor((s % 3600) / 60))}-${pad(s % 60)}.${pad(ms % 1000, 3)}`;
}

function clipName(filename, startMs, endMs) {
  const dot = filename.lastIndexOf(".");
  let stem = dot > 0 ? filename.slice(0, dot) : filename;
  stem = stem.replace(/[/\\:*?"<>|\u0000-\u001f]/g, "_").trim() || "clip";
  return `${stem}_${fileTime(startMs)}-${fileTime(endMs)}.mp4`;
}

function fmtWait(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return `about ${minutes} min`;
}

function plural(n, word, many = `${word}s`) { return `${n} ${n === 1 ? word : many}`; }

// Seconds for people: "2.5 s" under 10 s, whole seconds above.
function fmtSeconds(ms) {
  const s = Math.max(0, ms) / 1000;
  return s < 10 ? `${Number(s.toFixed(1))} s` : `${Math.round(s)} s`;
}

// Dollars: cents for amounts of a dollar or more, more digits for the small prices of one call.
function fmtUsd(usd) {
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  if (usd >= 0.01) return `$${usd.toFixed(3)}`;
  return `$${Number(usd.toPrecision(2))}`;
}

// A "within" value of the URL (5s, 1.5s, 500ms, 2m or seconds) as seconds, or null.
function withinSeconds(value) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$/i.exec(value || "");
  if (!match) return null;
  const amount = Number(match[1]), unit = (match[2] || "s").toLowerCase();
  return unit === "ms" ? amount / 1000 : unit.startsWith("m") ? amount * 60 : amount;
}

function pct(value) { return `${Math.round(value)} %`; }

function announce(text) {
  const region = $("#announcer");
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 60);
}

// A message for people: never a path, an object repr or a browser's network jargon.
function plainError(err) {
  let message = (err && err.message) || String(err || "");
  if (err instanceof TypeError || /failed to fetch|networkerror|load failed/i.test(message)) {
    return "The reko server cannot be reached. Check that it is running, then try again.";
  }
  message = message.replace(/\[[^\]\n]* @ 0x[0-9a-f]+\]\s*/gi, "").replace(/<[^<>\n]* at 0x[0-9a-f]+>/gi, "")
    .replace(/(?:^|\s)(?:\/[\w.@+-]+){2,}\/?/g, " ").replace(/\s+/g, " ").trim();
  return message || "Something went wrong. Try again.";
}

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const opts = { ...options, headers: { ...(options.headers || {}) } };
  if (opts.method && opts.method !== "GET") opts.headers["X-Reko-Request"] = "1";
  const response = await fetch(path, opts);
  if (response.status === 401 && !path.endsWith("api/login")) { await login(); return api(path, options); }
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json() : null;
  if (!response.ok) throw new ApiError(plainError(new Error(body?.message || `${response.status} ${response.statusText}`)), response.status);
  return body;
}

function jsonBody(method, data) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) };
}

function login() {
  return new Promise((resolve) => {
    const dialog = $("#login-dialog");
    $("#login-form").onsubmit = async (event) => {
      event.preventDefault();
      try {
        const r = await fetch("api/login", { method: "POST", headers: { "Content-Type": "application/json", "X-Reko-Request": "1" },
          body: JSON.stringify({ token: $("#login-token").value }) });
        if (r.ok) { dialog.close(); resolve(); return; }
        $("#login-error").textContent = r.status === 429 ? "Too many wrong tokens: wait a moment." : "Wrong token.";
      } catch (err) { $("#login-error").textContent = plainError(err); }
    };
    if (!dialog.open) dialog.showModal();
  });
}

// Highlight query terms inside text, building DOM nodes (no innerHTML).
function highlighted(text, terms) {
  const frag = document.createDocumentFragment();
  const lower = text.normalize("NFKC").toLowerCase();
  const source = text.normalize("NFKC");
  let i = 0;
  while (i < source.length) {
    let best = -1, len = 0;
    for (const t of terms) {
      if (!t) continue;
      const at = lower.indexOf(t, i);
      if (at >= 0 && (best < 0 || at < best)) { best = at; len = t.length; }
    }
    if (best < 0) { frag.append(source.slice(i)); break; }
    frag.append(source.slice(i, best), el("mark", { text: source.slice(best, best + len) }));
    i = best + len;
  }
  return frag;
}

function queryTerms(q) {
  const terms = [];
  (q || "").normalize("NFKC").replace(/"([^"]*)"|(\S+)/g, (_, phrase, word) => {
    const t = (phrase || word || "").trim();
    if (t) terms.push(t.toLowerCase());
  });
  return terms;
}

// ---------------------------------------------------------------------------------------------
// the URL is the state: #/view/arg?params

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const at = hash.indexOf("?");
  const path = at >= 0 ? hash.slice(0, at) : hash;
  const query = at >= 0 ? hash.slice(at + 1) : "";
  const [view, arg = ""] = path.split("/");
  let name = VIEWS.includes(view) ? view : "search";
  let decoded = "";
  try { decoded = decodeURIComponent(arg); } catch { decoded = arg; }
  return { view: name, arg: decoded, params: new URLSearchParams(query) };
}

function hashFor(view, arg = "", params = null) {
  let hash = `#/${view}`;
  if (arg) hash += `/${encodeURIComponent(arg)}`;
  const query = params ? params.toString() : "";
  return query ? `${hash}?${query}` : hash;
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function setTitle(...parts) { document.title = [...parts.filter(Boolean), "reko"].join(" · "); }

function route() {
  const { view, arg, params } = parseRoute();
  const changed = state.lastView !== null && state.lastView !== `${view}/${arg}`;
  state.lastView = `${view}/${arg}`;
  state.renderToken += 1;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === view || (view === "person" && link.dataset.nav === "people")
      || (view === "video" && link.dataset.nav === "videos") || (view === "photo" && link.dataset.nav === "search");
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (view !== "video") $("#video-player").pause();
  setTitle(TITLES[view]);
  const renderers = { search: renderSearch, photo: renderPhoto, people: renderPeople, person: renderPerson,
    videos: renderVideos, video: renderVideo, upload: renderUpload };
  Promise.resolve(renderers[view](arg, params)).catch((err) => announce(plainError(err)));
  if (changed) {
    const heading = $(`#view-${view} h1`);
    if (heading && view !== "search") { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: false }); }
  }
}

// ---------------------------------------------------------------------------------------------
// persons and labels (names for display, suggestions)

async function loadPersons() {
  try { state.persons = (await api("api/persons")).persons || []; } catch { state.persons = []; }
  state.personsById = new Map(state.persons.map((p) => [p.person_id, p]));
  const select = $("#person-filter");
  const chosen = select.value;
  select.replaceChildren(...personOptions("Any person"));
  select.value = state.personsById.has(chosen) ? chosen : "";
  return state.persons;
}

async function loadLabels() {
  try { state.labels = (await api("api/labels")).labels || {}; } catch { state.labels = {}; }
  $("#label-options").replaceChildren(...Object.keys(state.labels).sort().map((n) => el("option", { value: n })));
}

function personName(id) {
  const p = state.personsById.get(id);
  return p ? p.display_name : "Someone";
}

// A person value of the URL (an id or a name typed elsewhere) for display.
function personLabel(value) {
  const p = state.personsById.get(value);
  return p ? p.display_name : value;
}

function personOptions(placeholder) {
  return [el("option", { value: "", text: placeholder }),
    ...[...state.persons].sort((a, b) => a.number - b.number).map((p) => el("option", { value: p.person_id, text: p.display_name }))];
}

// ---------------------------------------------------------------------------------------------
// results: cards with boxes on the rendered picture and why each matched

function fitFrame(frame, img) {
  if (!img.naturalWidth || !img.naturalHeight) return;
  frame.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  frame.classList.toggle("wide", img.naturalWidth / img.naturalHeight >= 16 / 9);
  frame.classList.add("ready");
}

function boxTitle(b) {
  if (b.kind === "face") return `Face: ${personName(b.person_id)}`;
  if (b.kind === "label") return `Object: ${b.text}`;
  return `Text: ${b.text}`;
}

function thumbnail(seg) {
  const img = el("img", { src: seg.frame_url, alt: "", loading: "lazy", width: "320", height: "180" });
  const frame = el("div", { class: "frame" }, img);
  img.addEventListener("load", () => fitFrame(frame, img));
  for (const b of seg.boxes || []) {
    const box = el("div", { class: `box box-${b.kind}`, title: boxTitle(b) });
    box.style.left = `${b.box.Left * 100}%`; box.style.top = `${b.box.Top * 100}%`;
    box.style.width = `${b.box.Width * 100}%`; box.style.height = `${b.box.Height * 100}%`;
    frame.append(box);
  }
  return el("div", { class: "thumb" }, frame);
}

function whyBlock(seg, terms) {
  const why = seg.why || { lines: [], labels: [], persons: [] };
  const block = el("div", { class: "why" },
    el("p", { class: "when", text: `${fmtMs(seg.start_ms)} – ${fmtMs(seg.end_ms)}${seg.hits > 1 ? ` · ${seg.hits} frames` : ""}` }));
  for (const line of why.lines.slice(0, 3)) {
    block.append(el("p", { class: "why-line" }, el("span", { class: "tag tag-text", text: "Text" }), " ",
      highlighted(line.text, terms)));
  }
  const chips = el("p", { class: "chips" });
  for (const p of why.persons) {
    const score = p.similarity === null || p.similarity === undefined ? `face ${pct(p.confidence)}` : `${pct(p.similarity)} match`;
    chips.append(el("a", { class: "chip chip-face", href: hashFor("person", p.person_id), text: `${p.display_name} · ${score}` }));
  }
  for (const lab of why.labels) chips.append(el("span", { class: "chip chip-label", text: `${lab.name} · ${pct(lab.confidence)}` }));
  if (!why.persons.length) {
    for (const pid of seg.person_ids || []) {
      chips.append(el("a", { class: "chip chip-face subtle", href: hashFor("person", pid), text: personName(pid) }));
    }
  }
  if (chips.childNodes.length) block.append(chips);
  if (seg.near && seg.near.length) block.append(nearBlock(seg));
  if (!why.lines.length && seg.text) {
    block.append(el("p", { class: "why-line muted" }, el("span", { class: "visually-hidden", text: "On screen: " }),
      seg.text.split("\n").slice(0, 2).join(" / ")));
  }
  return block;
}

// A moment's other signals: for each, its frame nearest to the matching frames and how far apart.
function nearestWitnesses(seg) {
  const best = new Map();
  for (const n of seg.near || []) {
    const known = best.get(n.clause);
    if (!known || n.gap_ms < known.gap_ms) best.set(n.clause, n);
  }
  return [...best.values()].sort((a, b) => a.clause - b.clause);
}

function relationText(n) {
  if (n.relation === "together") return "on screen at the same time";
  return `${fmtSeconds(n.gap_ms)} ${n.relation}`;
}

function nearBlock(seg) {
  const tags = { person: "Person", label: "Label", text: "Text" };
  const list = el("ul", { class: "near-list", "aria-label": "Also on screen near it" });
  for (const n of nearestWitnesses(seg)) {
    list.append(el("li", { class: "near-item" }, el("span", { class: `tag tag-${n.kind}`, text: tags[n.kind] }), " ",
      el("span", { class: "near-what", text: n.kind === "text" ? `“${n.label}”` : n.label }),
      el("span", { class: "near-when", text: ` · ${relationText(n)} (${fmtMs(n.frame_ms)})` })));
  }
  return list;
}

function segmentSummary(seg) {
  const why = seg.why || { lines: [], labels: [], persons: [] };
  return why.lines[0]?.text || why.persons[0]?.display_name || why.labels[0]?.name || (seg.text || "").split("\n")[0] || "";
}

function renderSegments(container, data, terms) {
  container.replaceChildren();
  const list = data.segments;
  let group = null, current = null;
  list.forEach((seg, index) => {
    if (seg.video_id !== current) {
      current = seg.video_id;
      group = el("div", { class: "segments" });
      container.append(el("section", { class: "video-group", "aria-label": seg.filename || seg.video_id },
        el("h2", {}, el("a", { href: hashFor("video", seg.video_id), text: seg.filename || seg.video_id })), group));
    }
    const what = segmentSummary(seg) ? `: ${segmentSummary(seg)}` : "";
    const label = `${fmtMs(seg.start_ms)} – ${fmtMs(seg.end_ms)}, play ${seg.filename || "the video"}${what}`;
    group.append(el("article", { class: "segment", dataset: { start: seg.start_ms, video: seg.video_id } },
      el("button", { type: "button", class: "play", "aria-label": label, onclick: () => openPlayer(list, index) }, thumbnail(seg)),
      whyBlock(seg, terms),
      el("div", { class: "actions" },
        el("button", { type: "button", text: "▶ Play", "aria-label": `Play ${seg.filename || "the video"} from ${fmtMs(seg.start_ms)}${what}`, onclick: () => openPlayer(list, index) }),
        el("a", { class: "button", href: seg.clip_url, download: seg.download_name || "",
          text: "⬇ Clip", "aria-label": `Download the clip ${seg.download_name || ""}` }))));
  });
}

function renderPager(nav, data, hashForPage, zipParams) {
  nav.replaceChildren();
  if (!data.total_segments) return;
  const pages = Math.ceil(data.total_segments / data.per_page);
  if (zipParams) {
    const params = new URLSearchParams(zipParams);
    params.set("names", "file");
    nav.append(el("a", { class: "button", id: "zip-link", href: `api/clips.zip?${params}`, download: "reko-clips.zip",
      text: `⬇ All ${plural(data.total_segments, "clip")} (zip)` }));
  }
  if (pages > 1) {
    if (data.page > 1) nav.append(el("a", { class: "button", href: hashForPage(data.page - 1), rel: "prev", text: "← Previous" }));
    nav.append(el("span", { class: "meta", text: `Page ${data.page} of ${pages}` }));
    if (data.page < pages) nav.append(el("a", { class: "button", href: hashForPage(data.page + 1), rel: "next", text: "Next →" }));
  }
}

// ---------------------------------------------------------------------------------------------
// search view: #/search?q=&person=&label=&video=&near_person=&near_label=&near_text=&within=&page=

const FILTER_KEYS = ["q", "person", "label", "video", "near_person", "near_label", "near_text", "within"];

function filtersFrom(params) {
  const out = new URLSearchParams();
  for (const key of FILTER_KEYS) for (const v of params.getAll(key)) if (v.trim()) out.append(key, v.trim());
  return out;
}

function isMoment(params) {
  return ["within", "near_person", "near_label", "near_text"].some((key) => params.getAll(key).length);
}

function signalsIn(params) {
  return (params.get("q") ? 1 : 0) + ["person", "label", "near_person", "near_label", "near_text"]
    .reduce((n, key) => n + params.getAll(key).length, 0);
}

// moments across signals: extra rows ("near person", "near label", "near text") and "within N s"

function nearControl(kind, id, value) {
  if (kind === "person") {
    const select = el("select", { id, class: "near-value" }, ...personOptions("Choose a person"));
    if (value && !state.personsById.has(value)) select.append(el("option", { value, text: value }));
    select.value = value;
    return select;
  }
  if (kind === "label") return el("input", { id, class: "near-value", list: "label-options", placeholder: "Label (e.g. Car)", value });
  return el("input", { id, class: "near-value", type: "search", placeholder: "Words on screen", value });
}

function addNearRow(kind, value = "", focus = true) {
  state.nearSeq += 1;
  const id = `near-${state.nearSeq}`;
  const control = nearControl(kind, id, value);
  const row = el("div", { class: "near-row", dataset: { kind } },
    el("label", { for: id, class: "near-kind", text: NEAR_NAMES[kind] }), control);
  row.append(el("button", { type: "button", class: "near-remove", text: "✕", "aria-label": `Remove this ${NEAR_NAMES[kind].toLowerCase()}`,
    onclick: () => { row.remove(); updateMomentControls(); $("#q").focus(); } }));
  control.addEventListener("input", updateMomentControls);
  control.addEventListener("change", updateMomentControls);
  $("#near-rows").append(row);
  updateMomentControls();
  if (focus) control.focus();
}

function nearValues() {
  return [...document.querySelectorAll("#near-rows .near-row")]
    .map((row) => ({ kind: row.dataset.kind, value: row.querySelector(".near-value").value.trim() }))
    .filter((n) => n.value);
}

function formSignals() {
  return [$("#q").value.trim(), $("#person-filter").value, $("#label-filter").value.trim()].filter(Boolean).length
    + nearValues().length;
}

// "within N s" is offered as soon as two signals are chosen (text + person, two persons, …).
function updateMomentControls() {
  const show = formSignals() >= 2;
  $("#within-box").hidden = !show;
  $("#within-hint").hidden = !show;
}

function setNearRows(params) {
  $("#near-rows").replaceChildren();
  for (const kind of NEAR_KINDS) for (const value of params.getAll(`near_${kind}`)) addNearRow(kind, value, false);
  const seconds = withinSeconds(params.get("within"));
  $("#within").value = seconds === null ? "" : String(seconds);
  updateMomentControls();
}

function describeWithin(params) {
  const seconds = withinSeconds(params.get("within"));
  return seconds === null ? "" : ` within ${fmtSeconds(seconds * 1000)}`;
}

// timelines out: the current search as EDL / FCPXML / FCP 7 XML / OTIO

function dispositionName(header) {
  if (!header) return "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) { try { return decodeURIComponent(star[1]); } catch { /* fall through */ } }
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : "";
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 30000);
}

async function downloadTimeline() {
  const params = state.exportParams;
  if (!params) return;
  const format = $("#export-format").value;
  const label = $("#export-format").selectedOptions[0].textContent;
  const status = $("#export-status");
  status.textContent = `Writing the ${label} timeline…`;
  try {
    const response = await fetch(`api/export.${format}?${params}`);
    if (response.status === 401) { await login(); return downloadTimeline(); }
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new ApiError(plainError(new Error(body.message || `${response.status} ${response.statusText}`)), response.status);
    }
    const name = dispositionName(response.headers.get("Content-Disposition")) || `reko.${format}`;
    saveBlob(await response.blob(), name);
    status.textContent = `Saved ${name}`;
    announce(status.textContent);
  } catch (err) { status.textContent = `No timeline: ${plainError(err)}`; announce(status.textContent); }
}

function exactMatch(q) {
  const needle = q.normalize("NFKC").trim().toLowerCase();
  if (!needle) return null;
  const person = state.persons.find((p) => p.display_name.toLowerCase() === needle || `person ${p.number}` === needle);
  if (person) return { person: person.person_id, text: q };
  const label = Object.keys(state.labels).find((n) => n.toLowerCase() === needle);
  if (label) return { label, text: q };
  return null;
}

function submitSearch(event) {
  event?.preventDefault();
  closeSuggestions();
  const params = new URLSearchParams();
  const q = $("#q").value.trim();
  const person = $("#person-filter").value;
  const label = $("#label-filter").value.trim();
  const exact = exactMatch(q);
  if (exact && !(exact.person && person) && !(exact.label && label)) {
    if (exact.person) params.set("person", exact.person);
    if (exact.label) params.set("label", exact.label);
    params.set("from", exact.text);
  } else if (q) params.set("q", q);
  if (person && !params.has("person")) params.append("person", person);
  if (label && !params.has("label")) params.append("label", label);
  for (const n of nearValues()) params.append(`near_${n.kind}`, n.value);
  const within = $("#within").value.trim();
  if (within !== "" && signalsIn(params) >= 2) params.set("within", `${Number(within)}s`);
  for (const v of parseRoute().params.getAll("video")) params.append("video", v);
  navigate(hashFor("search", "", params));
}

function describeQuery(params) {
  const parts = [];
  if (params.get("q")) parts.push(`“${params.get("q")}”`);
  for (const p of params.getAll("person")) parts.push(personLabel(p));
  for (const l of params.getAll("label")) parts.push(l);
  const near = [...params.getAll("near_person").map(personLabel), ...params.getAll("near_label"),
    ...params.getAll("near_text").map((t) => `“${t}”`)];
  let text = parts.join(" + ");
  if (near.length) text += `${text ? " near " : ""}${near.join(" + ")}`;
  return text + describeWithin(params);
}

function renderFilterChips(params) {
  const box = $("#filters");
  box.replaceChildren();
  for (const videoId of params.getAll("video")) {
    const rest = new URLSearchParams(params);
    rest.delete("video"); rest.delete("page");
    const name = state.videos.get(videoId)?.filename || "one video";
    box.append(el("span", { class: "chip" }, `In ${name} `,
      el("a", { href: hashFor("search", "", rest), "aria-label": `Search all videos, not only ${name}`, text: "✕" })));
  }
  const from = params.get("from");
  if (from) {
    const asText = new URLSearchParams({ q: from });
    box.append(el("span", { class: "note" }, `Showing ${params.get("person") ? "the person" : "the label"} “${from}”. `,
      el("a", { href: hashFor("search", "", asText), text: `Search “${from}” as on-screen text instead` })));
  }
}

function emptyMessage(params) {
  const labels = params.getAll("label");
  if (isMoment(params) && !labels.some((l) => !Object.keys(state.labels).some((n) => n.toLowerCase() === l.toLowerCase()))) {
    return `No moment has ${describeQuery(params)}. ${params.get("within") ? "Try a longer time, or fewer signals." : "Give a number of seconds to find them near each other, not only at the same time."}`;
  }
  const unknown = labels.filter((l) => !Object.keys(state.labels).some((n) => n.toLowerCase() === l.toLowerCase()));
  if (unknown.length) {
    const known = Object.keys(state.labels).sort().slice(0, 8).join(", ");
    return `No video shows the label “${unknown[0]}”.${known ? ` Labels found so far: ${known}.` : ""}`;
  }
  const others = [...params.getAll("person").map(personLabel), ...labels];
  if (params.get("q") && others.length) {
    return `No frame shows “${params.get("q")}” together with ${others.join(" and ")}. Check the spelling, or find them near each other in time: give a number of seconds in “Within”.`;
  }
  if (params.get("q")) {
    return `Nothing on screen reads “${params.get("q")}”. Check the spelling or try a shorter word (Korean words are found inside longer text).`;
  }
  if (params.getAll("person").length) return `No moment shows ${params.getAll("person").map(personName).join(" and ")}${labels.length ? ` with ${labels.join(", ")}` : ""}.`;
  return "No moment matches.";
}

async function renderSearch(_arg, params) {
  const token = state.renderToken;
  const filters = filtersFrom(params);
  $("#q").value = params.get("q") || "";
  $("#label-filter").value = params.get("label") || "";
  if (!state.persons.length && (params.getAll("person").length || params.getAll("near_person").length)) await loadPersons();
  $("#person-filter").value = params.get("person") || "";
  setNearRows(params);
  renderFilterChips(params);
  const summary = $("#search-summary");
  state.exportParams = null;
  $("#export-box").hidden = true;
  $("#export-status").textContent = "";
  if (![...filters.keys()].length) {
    setTitle("Search");
    summary.textContent = "Type a word you saw on screen, a person's name or a label such as Car.";
    $("#results").replaceChildren(); $("#pager").replaceChildren();
    return;
  }
  setTitle(describeQuery(filters), "Search");
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const apiParams = new URLSearchParams(filters);
  apiParams.set("page", page);
  summary.textContent = "Searching…";
  try {
    const data = await api(`api/search?${apiParams}`);
    if (token !== state.renderToken) return;
    const videos = new Set(data.segments.map((s) => s.video_id)).size;
    summary.textContent = data.total_segments
      ? `${plural(data.total_segments, "moment")} for ${describeQuery(filters)}${data.total_segments > data.per_page ? ` · page ${data.page}` : ""} · ${plural(videos, "video")}`
      : emptyMessage(filters);
    renderSegments($("#results"), data, queryTerms(filters.get("q")));
    renderPager($("#pager"), data, (n) => { const p = new URLSearchParams(params); p.set("page", n); return hashFor("search", "", p); }, filters);
    if (data.total_segments) { state.exportParams = filters; $("#export-box").hidden = false; }
  } catch (err) {
    if (token !== state.renderToken) return;
    summary.textContent = err.status === 400 && filters.getAll("person").length && !isMoment(filters)
      ? "This person is no longer in the archive." : plainError(err);
    $("#results").replaceChildren(); $("#pager").replaceChildren();
  }
}

// suggestions as you type (persons by name or "Person N", labels)

let suggestTimer = 0;
function onSearchInput() {
  window.clearTimeout(suggestTimer);
  suggestTimer = window.setTimeout(loadSuggestions, 150);
}

async function loadSuggestions() {
  const q = $("#q").value.trim();
  if (!q) { closeSuggestions(); return; }
  let persons = [], labels = {};
  try {
    const enc = encodeURIComponent(q);
    [persons, labels] = await Promise.all([api(`api/persons?q=${enc}`).then((d) => d.persons), api(`api/labels?q=${enc}`).then((d) => d.labels)]);
  } catch { closeSuggestions(); return; }
  if ($("#q").value.trim() !== q) return;
  const options = [
    ...persons.slice(0, 5).map((p) => ({ kind: "person", value: p.person_id, text: p.display_name, meta: `person · ${fmtMs(p.screen_time_ms)} on screen` })),
    ...Object.entries(labels).slice(0, 5).map(([name, frames]) => ({ kind: "label", value: name, text: name, meta: `label · ${plural(frames, "frame")}` })),
  ];
  const list = $("#suggestions");
  if (!options.length) { closeSuggestions(); return; }
  list.replaceChildren(...options.map((o, i) => el("li", { id: `suggestion-${i}`, role: "option", class: "suggestion",
    "aria-selected": "false", dataset: { kind: o.kind, value: o.value },
    onmousedown: (e) => { e.preventDefault(); pickSuggestion(o); } },
  el("span", { text: o.text }), el("span", { class: "meta", text: ` ${o.meta}` }))));
  list.options = options;
  list.hidden = false;
  $("#q").setAttribute("aria-expanded", "true");
}

function closeSuggestions() {
  const list = $("#suggestions");
  list.hidden = true; list.replaceChildren(); list.options = [];
  $("#q").setAttribute("aria-expanded", "false");
  $("#q").removeAttribute("aria-activedescendant");
}

function pickSuggestion(option) {
  const params = new URLSearchParams();
  params.set(option.kind, option.value);
  closeSuggestions();
  navigate(hashFor("search", "", params));
}

function onSearchKey(event) {
  const list = $("#suggestions");
  if (list.hidden) return;
  const items = [...list.children];
  let active = items.findIndex((i) => i.getAttribute("aria-selected") === "true");
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    active = event.key === "ArrowDown" ? (active + 1) % items.length : (active <= 0 ? items.length - 1 : active - 1);
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === active)));
    $("#q").setAttribute("aria-activedescendant", items[active].id);
  } else if (event.key === "Enter" && active >= 0) {
    event.preventDefault();
    pickSuggestion(list.options[active]);
  } else if (event.key === "Escape") {
    event.preventDefault();
    closeSuggestions();
  }
}

// ---------------------------------------------------------------------------------------------
// search by photo: its own route, #/photo?person=&similarity=&page=

async function searchByPhoto(file, status) {
  const form = new FormData();
  form.append("photo", file);
  status.textContent = "Looking for this face…";
  try {
    const data = await api("api/search/face", { method: "POST", body: form });
    const params = new URLSearchParams({ person: data.person.person_id, similarity: data.similarity.toFixed(1) });
    navigate(hashFor("photo", "", params));
  } catch (err) {
    status.textContent = err.status === 400 ? `${plainError(err)}. Try a sharper photo with one face, looking at the camera.` : plainError(err);
    announce(status.textContent);
  }
}

async function renderPhoto(_arg, params) {
  const token = state.renderToken;
  const personId = params.get("person");
  const similarity = parseFloat(params.get("similarity") || "");
  const head = $("#photo-person"), summary = $("#photo-summary");
  head.replaceChildren(); $("#photo-results").replaceChildren(); $("#photo-pager").replaceChildren();
  if (!personId) { summary.textContent = "Choose a photo with “Search by photo” on the search or people page."; return; }
  await loadPersons();
  const person = state.personsById.get(personId);
  if (!person) { summary.textContent = "This person is no longer in the archive (merged or deleted)."; return; }
  setTitle(`${person.display_name} (by photo)`);
  head.append(el("img", { src: person.thumbnail_url, alt: `Face of ${person.display_name}`, class: "person-photo small" }),
    el("div", {}, el("p", { class: "big" }, "The photo looks like ", el("a", { href: hashFor("person", personId), text: person.display_name })),
      el("p", { class: "meta", text: Number.isFinite(similarity) ? `Similarity ${pct(similarity)}` : "" })));
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  summary.textContent = "Loading their moments…";
  try {
    const data = await api(`api/search?person=${encodeURIComponent(personId)}&page=${page}`);
    if (token !== state.renderToken) return;
    if (Number.isFinite(similarity)) for (const seg of data.segments) for (const p of seg.why.persons) p.similarity = similarity;
    summary.textContent = `${plural(data.total_segments, "moment")} of ${person.display_name}`;
    renderSegments($("#photo-results"), data, []);
    renderPager($("#photo-pager"), data, (n) => { const p = new URLSearchParams(params); p.set("page", n); return hashFor("photo", "", p); },
      new URLSearchParams({ person: personId }));
  } catch (err) { summary.textContent = plainError(err); }
}

// ---------------------------------------------------------------------------------------------
// people: "Person N" until named, inline naming (Enter saves), merge suggestions

function dismissedMerges() {
  try { return new Set(JSON.parse(localStorage.getItem("reko.notSamePerson") || "[]")); } catch { return new Set(); }
}

function dismissMerge(key) {
  const set = dismissedMerges();
  set.add(key);
  try { localStorage.setItem("reko.notSamePerson", JSON.stringify([...set])); } catch { /* private mode */ }
}

function renameForm(person, onSaved, id) {
  const input = el("input", { id, value: person.name || "", placeholder: `Person ${person.number}`, maxlength: "200" });
  const status = el("span", { class: "meta save-status" });
  const form = el("form", { class: "rename", onsubmit: async (e) => {
    e.preventDefault();
    status.textContent = "Saving…";
    try {
      const saved = await api(`api/persons/${encodeURIComponent(person.person_id)}`, jsonBody("PATCH", { name: input.value }));
      status.textContent = "Saved";
      announce(`Saved: ${saved.display_name}`);
      await loadPersons();
      onSaved(saved);
    } catch (err) { status.textContent = plainError(err); announce(status.textContent); }
  } },
  el("label", { for: id, class: "visually-hidden", text: `Name of ${person.display_name}` }), input,
  el("button", { type: "submit", text: "Save" }), status);
  return form;
}

async function mergePersons(fromId, intoId) {
  const from = personName(fromId), into = personName(intoId);
  try {
    await api(`api/persons/${encodeURIComponent(fromId)}/merge`, jsonBody("POST", { into: intoId }));
    announce(`${from} merged into ${into}`);
    await loadPersons();
    route();
  } catch (err) { announce(plainError(err)); }
}

function mergeItem(a, b, similarity) {
  const key = [a.person_id, b.person_id].sort().join("+");
  const item = el("li", { class: "merge-item" },
    el("img", { src: a.thumbnail_url, alt: "", class: "mini" }), el("img", { src: b.thumbnail_url, alt: "", class: "mini" }),
    el("span", { text: `${a.display_name} and ${b.display_name} look alike (${pct(similarity)})` }),
    el("button", { type: "button", text: `Merge into ${a.display_name}`, onclick: () => mergePersons(b.person_id, a.person_id) }),
    el("button", { type: "button", text: "Not the same", onclick: () => { dismissMerge(key); item.remove(); } }));
  return item;
}

// names from name captions: suggestions with their evidence, accepted with one action (never on their own)

function evidenceFigure(e) {
  const picture = thumbnail({ frame_url: e.frame_url, boxes: [{ kind: "text", text: e.line, box: e.box }] });
  return el("figure", { class: "evidence" }, picture,
    el("figcaption", { class: "meta" }, `${fmtMs(e.frame_ms)} · `, el("span", { text: `“${e.line}”` })));
}

function suggestionCard(person, s) {
  const facts = `With this face for ${fmtSeconds(s.together_ms)} (${plural(s.frames, "frame")})`
    + ` · ${pct(s.specificity * 100)} of the name's screen time`;
  return el("li", { class: "suggestion-card" },
    el("p", { class: "suggested-name" }, el("strong", { text: s.name }), s.title ? el("span", { class: "meta", text: ` ${s.title}` }) : null),
    el("div", { class: "evidence-row" }, ...s.evidence.slice(0, 2).map(evidenceFigure)),
    el("p", { class: "meta", text: facts }),
    el("div", { class: "actions" }, el("button", { type: "button", class: "primary", text: `Accept “${s.name}”`,
      "aria-label": `Accept “${s.name}” as the name of ${person.display_name}`, onclick: (e) => acceptName(person, s.name, e.currentTarget) })));
}

async function acceptName(person, name, button) {
  button.disabled = true;
  try {
    const saved = await api(`api/persons/${encodeURIComponent(person.person_id)}/accept-name`, jsonBody("POST", { name }));
    announce(`Named: ${saved.display_name}`);
    await loadPersons();
    route();
    const heading = $(`#view-${parseRoute().view} h1`);
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  } catch (err) { button.disabled = false; announce(plainError(err)); }
}

async function renderNameSuggestions(token) {
  let data;
  try { data = await api("api/persons?name_suggestions=1"); } catch { return; }
  if (token !== state.renderToken) return;
  const found = Object.entries(data.name_suggestions || {}).filter(([pid]) => state.personsById.has(pid));
  $("#names-panel").hidden = !found.length;
  $("#names-list").replaceChildren(...found.map(([pid, suggestions]) => {
    const person = state.personsById.get(pid);
    return el("li", { class: "names-person" },
      el("a", { href: hashFor("person", pid), class: "names-who" }, el("img", { src: person.thumbnail_url, alt: "", class: "mini" }),
        el("span", { text: person.display_name })),
      el("ul", { class: "suggestion-list", "aria-label": `Names for ${person.display_name}` },
        ...suggestions.slice(0, 3).map((s) => suggestionCard(person, s))));
  }));
}

async function renderPersonNames(person, token) {
  let data;
  try { data = await api(`api/persons/${encodeURIComponent(person.person_id)}/name-suggestions`); } catch { return; }
  if (token !== state.renderToken) return;
  $("#person-names").hidden = !data.suggestions.length;
  $("#person-names-list").replaceChildren(...data.suggestions.slice(0, 3).map((s) => suggestionCard(person, s)));
}

async function renderPeople() {
  const token = state.renderToken;
  const status = $("#people-status");
  status.textContent = "Loading people…";
  let data;
  try { data = await api("api/persons?merge_suggestions=1"); } catch (err) { status.textContent = plainError(err); return; }
  if (token !== state.renderToken) return;
  state.persons = data.persons;
  state.personsById = new Map(state.persons.map((p) => [p.person_id, p]));
  status.textContent = state.persons.length ? `${plural(state.persons.length, "person", "people")} found in your videos. Unnamed people are numbered in the order they first appeared.`
    : "No people yet: faces appear here after videos are analysed.";
  const dismissed = dismissedMerges();
  const pairs = (data.merge_suggestions || []).filter((s) => !dismissed.has([s.person_id, s.other_id].sort().join("+")));
  $("#merge-panel").hidden = !pairs.length;
  $("#merge-list").replaceChildren(...pairs.map((s) => {
    const a = state.personsById.get(s.person_id), b = state.personsById.get(s.other_id);
    const [keep, other] = a.number <= b.number ? [a, b] : [b, a];
    return mergeItem(keep, other, s.similarity);
  }));
  $("#people").replaceChildren(...state.persons.map((p) => el("li", { class: "person" },
    el("a", { href: hashFor("person", p.person_id), class: "person-link" },
      el("img", { src: p.thumbnail_url, alt: "", width: "160", height: "160" }),
      el("span", { class: "person-name", text: p.display_name })),
    renameForm(p, () => renderPeople(), `name-${p.person_id}`),
    el("p", { class: "meta", text: `${fmtMs(p.screen_time_ms || 0)} on screen · ${plural(p.videos, "video")} · ${plural(p.face_count, "face")}` }),
    el("p", { class: "actions" }, el("a", { class: "button", href: hashFor("search", "", new URLSearchParams({ person: p.person_id })), text: "Moments" })))));
  renderNameSuggestions(token);
}

async function renderPerson(personId, params) {
  const token = state.renderToken;
  let person;
  try {
    await loadPersons();
    if (!state.personsById.has(personId)) throw new ApiError("not found", 404);
    person = await api(`api/persons/${encodeURIComponent(personId)}`);
  } catch (err) {
    $("#person-title").textContent = "Person not found";
    $("#person-stats").textContent = err.status === 404 ? "This person is no longer in the archive: they may have been merged into someone else." : plainError(err);
    for (const id of ["#person-videos", "#person-results", "#person-pager"]) $(id).replaceChildren();
    $("#person-rename").hidden = true; $("#person-similar").hidden = true; $("#person-photo").hidden = true;
    $("#person-names").hidden = true;
    $("#person-summary").textContent = "";
    return;
  }
  if (token !== state.renderToken) return;
  setTitle(person.display_name);
  $("#person-title").textContent = person.display_name;
  $("#person-photo").hidden = false;
  $("#person-photo").src = person.thumbnail_url;
  $("#person-photo").alt = `Face of ${person.display_name}`;
  const form = $("#person-rename");
  form.hidden = false;
  $("#person-name").value = person.name || "";
  $("#person-name").placeholder = `Person ${person.number}`;
  form.onsubmit = async (e) => {
    e.preventDefault();
    try {
      const saved = await api(`api/persons/${encodeURIComponent(personId)}`, jsonBody("PATCH", { name: $("#person-name").value }));
      announce(`Saved: ${saved.display_name}`);
      await loadPersons();
      $("#person-title").textContent = saved.display_name;
      setTitle(saved.display_name);
    } catch (err) { announce(plainError(err)); }
  };
  $("#person-stats").textContent = `${fmtMs(person.screen_time_ms)} on screen · ${plural(person.videos, "video")} · ${plural(person.face_count, "face")}`;
  $("#person-names").hidden = true;
  if (!person.name) renderPersonNames(person, token);
  $("#person-videos").replaceChildren(...person.in_videos.map((v) => el("li", {},
    el("a", { href: hashFor("video", v.video_id), text: v.filename || v.video_id }),
    el("span", { class: "meta", text: ` · ${fmtMs(v.screen_time_ms)} on screen · ${plural(v.faces, "face")}` }))));
  const similar = person.similar.filter((s) => state.personsById.has(s.person_id));
  $("#person-similar").hidden = !similar.length;
  $("#similar-list").replaceChildren(...similar.map((s) => {
    const other = state.personsById.get(s.person_id);
    return el("li", { class: "merge-item" }, el("img", { src: other.thumbnail_url, alt: "", class: "mini" }),
      el("a", { href: hashFor("person", other.person_id), text: other.display_name }),
      el("span", { class: "meta", text: ` ${pct(s.similarity)} alike ` }),
      el("button", { type: "button", text: `Merge ${other.display_name} into ${person.display_name}`, onclick: () => mergePersons(other.person_id, person.person_id) }));
  }));
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  try {
    const data = await api(`api/search?person=${encodeURIComponent(personId)}&page=${page}`);
    if (token !== state.renderToken) return;
    $("#person-summary").textContent = `${plural(data.total_segments, "moment")} across ${plural(person.videos, "video")}`;
    renderSegments($("#person-results"), data, []);
    renderPager($("#person-pager"), data, (n) => hashFor("person", personId, new URLSearchParams({ page: n })),
      new URLSearchParams({ person: personId }));
  } catch (err) { $("#person-summary").textContent = plainError(err); }
}

// ---------------------------------------------------------------------------------------------
// the player: an editor's tool

function playerVideo() { return $("#segment-player"); }

async function videoInfo(videoId) {
  if (!state.videos.has(videoId)) {
    try { state.videos.set(videoId, await api(`api/videos/${encodeURIComponent(videoId)}`)); } catch { return null; }
  }
  return state.videos.get(videoId);
}

function openPlayer(list, index) {
  state.playlist = list;
  const dialog = $("#player-dialog");
  if (!dialog.open) dialog.showModal();
  loadMoment(index);
  $("#player-toggle").focus();
}

function snap(ms) { return Math.max(0, Math.round(Math.round(ms / state.frameMs) * state.frameMs)); }

async function loadMoment(index) {
  const seg = state.playlist[index];
  if (!seg) return;
  state.current = index;
  state.stopAt = seg.match_end_ms ?? seg.end_ms;
  state.inMs = seg.start_ms; state.outMs = seg.end_ms;
  const video = playerVideo();
  $("#player-title").textContent = `${seg.filename || seg.video_id} · ${fmtMs(seg.start_ms)} – ${fmtMs(seg.end_ms)}`;
  $("#player-prev").disabled = index <= 0;
  $("#player-next").disabled = index >= state.playlist.length - 1;
  const start = () => { video.currentTime = seg.start_ms / 1000; video.play().catch(() => {}); };
  if (video.dataset.src !== seg.video_url) {
    video.dataset.src = seg.video_url;
    video.src = seg.video_url;
    video.addEventListener("loadedmetadata", start, { once: true });
  } else start();
  const info = await videoInfo(seg.video_id);
  if (state.playlist[state.current] !== seg) return; // another moment was chosen meanwhile
  state.frameMs = info && info.fps ? 1000 / info.fps : 40;
  state.duration = info?.duration_ms || seg.end_ms;
  updateInOut();
  announce(`Playing ${seg.filename || "the video"} from ${fmtMs(seg.start_ms)}`);
}

function updateInOut() {
  const seg = state.playlist[state.current];
  if (!seg) return;
  state.inMs = Math.max(0, Math.min(state.inMs, state.duration - 1));
  state.outMs = Math.max(state.inMs + 1, Math.min(state.outMs, state.duration));
  $("#in-value").textContent = fmtPrecise(state.inMs);
  $("#out-value").textContent = fmtPrecise(state.outMs);
  $("#clip-length").textContent = `${((state.outMs - state.inMs) / 1000).toFixed(3)} s`;
  const link = $("#clip-download");
  link.href = `api/clips/${encodeURIComponent(seg.video_id)}.mp4?start_ms=${Math.round(state.inMs)}&end_ms=${Math.round(state.outMs)}`;
  const name = clipName(seg.filename || seg.video_id, state.inMs, state.outMs);
  link.setAttribute("download", name);
  link.setAttribute("aria-label", `Download clip ${name}`);
  drawScrubber();
}

function drawScrubber() {
  const seg = state.playlist[state.current];
  const video = playerVideo();
  const total = (Number.isFinite(video.duration) && video.duration > 0 ? video.duration * 1000 : state.duration) || 1;
  const place = (node, from, to) => { node.style.left = `${(from / total) * 100}%`; node.style.width = `${Math.max(0.3, ((to - from) / total) * 100)}%`; };
  if (seg) {
    place($("#scrub-segment"), seg.start_ms, seg.end_ms);
    place($("#scrub-match"), seg.match_start_ms ?? seg.start_ms, seg.match_end_ms ?? seg.end_ms);
    place($("#scrub-clip"), state.inMs, state.outMs);
  }
  const now = video.currentTime * 1000;
  $("#scrub-head").style.left = `${(now / total) * 100}%`;
  const scrubber = $("#scrubber");
  scrubber.setAttribute("aria-valuemax", String(Math.round(total / 1000)));
  scrubber.setAttribute("aria-valuenow", String(Math.round(now / 1000)));
  scrubber.setAttribute("aria-valuetext", `${fmtPrecise(now)} of ${fmtMs(total)}`);
  $("#player-time").textContent = `${fmtPrecise(now)} / ${fmtMs(total)}`;
  $("#player-toggle").textContent = video.paused ? "▶ Play" : "❚❚ Pause";
}

// Stop exactly at the end of the matching frames (the padding is only context before).
function watchPlayer() {
  const video = playerVideo();
  if (state.stopAt !== null && !video.paused && video.currentTime * 1000 >= state.stopAt) {
    video.pause();
    state.stopAt = null;
  }
  if ($("#player-dialog").open) drawScrubber();
  window.requestAnimationFrame(watchPlayer);
}

function togglePlay() {
  const video = playerVideo();
  if (video.paused) video.play().catch(() => {}); else video.pause();
}

function replay() {
  const seg = state.playlist[state.current];
  if (!seg) return;
  state.stopAt = seg.match_end_ms ?? seg.end_ms;
  const video = playerVideo();
  video.currentTime = seg.start_ms / 1000;
  video.play().catch(() => {});
}

function closePlayer() {
  playerVideo().pause();
  const dialog = $("#player-dialog");
  if (dialog.open) dialog.close();
}

function seekScrubber(event) {
  const rect = $("#scrubber").getBoundingClientRect();
  const video = playerVideo();
  const ratio = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
  if (Number.isFinite(video.duration)) video.currentTime = ratio * video.duration;
}

function onPlayerKey(event) {
  const tag = event.target.tagName;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(tag) || event.ctrlKey || event.metaKey || event.altKey) return;
  const onButton = tag === "BUTTON" || tag === "A";
  const video = playerVideo();
  const key = event.key.toLowerCase();
  const actions = {
    k: togglePlay, r: replay, p: () => loadMoment(state.current - 1), n: () => loadMoment(state.current + 1),
    i: () => { state.inMs = snap(video.currentTime * 1000); updateInOut(); announce(`In point ${fmtPrecise(state.inMs)}`); },
    o: () => { state.outMs = snap(video.currentTime * 1000); updateInOut(); announce(`Out point ${fmtPrecise(state.outMs)}`); },
  };
  if (key === " " && !onButton) { event.preventDefault(); togglePlay(); return; }
  if ((key === "arrowleft" || key === "arrowright") && (tag === "DIALOG" || event.target.id === "scrubber" || tag === "VIDEO")) {
    event.preventDefault();
    const step = event.shiftKey ? state.frameMs / 1000 : 1;
    video.currentTime = Math.max(0, video.currentTime + (key === "arrowleft" ? -step : step));
    return;
  }
  if (actions[key]) { event.preventDefault(); actions[key](); }
}

function nudge(which, frames) {
  if (which === "in") state.inMs = snap(state.inMs + frames * state.frameMs);
  else state.outMs = snap(state.outMs + frames * state.frameMs);
  updateInOut();
}

// ---------------------------------------------------------------------------------------------
// videos list

function progressBar(fraction, label, failed = false) {
  const value = Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100);
  const fill = el("div", { class: "fill" });
  fill.style.width = `${value}%`;
  return el("div", { class: `bar${failed ? " failed" : ""}`, role: "progressbar", "aria-label": label,
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(value) }, fill);
}

function statusText(v) {
  if (v.status === "ready") return "Searchable";
  if (v.status === "failed") return `Failed: ${plainError(new Error(v.error || "the analysis stopped"))}`;
  const left = v.seconds_left ? ` · ${fmtWait(v.seconds_left)} left` : "";
  return `${v.stage_text || v.status}${left}`;
}

async function renderVideos() {
  const token = state.renderToken;
  let data;
  try { data = await api("api/videos"); } catch (err) { $("#videos-status").textContent = plainError(err); return; }
  if (token !== state.renderToken) return;
  for (const v of data.videos) state.videos.set(v.video_id, v);
  $("#videos-status").textContent = data.videos.length ? plural(data.videos.length, "video") : "No videos yet. Upload one to make it searchable.";
  $("#video-rows").replaceChildren(...data.videos.map((v) => el("li", { class: "video-row" },
    el("a", { class: "video-name", href: hashFor("video", v.video_id), text: v.filename || v.video_id }),
    el("span", { class: "meta", text: `${fmtMs(v.duration_ms)} · ${v.width}×${v.height}` }),
    el("span", { class: `status status-${v.status}`, text: statusText(v) }),
    v.status !== "ready" && v.status !== "failed" ? progressBar(v.progress, `Progress of ${v.filename}`) : null,
    el("button", { type: "button", class: "danger", "aria-label": `Delete ${v.filename}`, text: "Delete", onclick: async () => {
      if (!window.confirm(`Delete ${v.filename}? Its moments, clips and faces go too.`)) return;
      try { await api(`api/videos/${encodeURIComponent(v.video_id)}`, { method: "DELETE" }); announce(`${v.filename} deleted`); state.videos.delete(v.video_id); renderVideos(); }
      catch (err) { announce(plainError(err)); }
    } }))));
  if (data.videos.some((v) => ["queued", "ingesting", "deleting"].includes(v.status))) {
    window.setTimeout(() => { if (token === state.renderToken) renderVideos(); }, 2000);
  }
}

// ---------------------------------------------------------------------------------------------
// video page: timeline with axis and playhead, lanes, on-screen text list

function niceStep(durationMs) {
  const steps = [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000];
  return steps.find((s) => durationMs / s <= 8) || 3600000;
}

function lane(title, items, duration, kind, player) {
  const track = el("div", { class: "track" });
  for (const item of items) {
    const bar = el("button", { type: "button", class: `bar-item bar-${kind}`, title: `${fmtMs(item.start)}–${fmtMs(item.end)} ${item.label}`,
      "aria-label": `${title}: ${item.label}, ${fmtMs(item.start)} to ${fmtMs(item.end)}`,
      onclick: () => { player.currentTime = item.start / 1000; player.play().catch(() => {}); } },
    el("span", { text: item.label }));
    bar.style.left = `${(item.start / duration) * 100}%`;
    bar.style.width = `${Math.max(0.8, ((item.end - item.start) / duration) * 100)}%`;
    track.append(bar);
  }
  return el("div", { class: "lane", role: "group", "aria-label": title }, el("div", { class: "lane-title", text: title, title }), track);
}

function renderTimeline(ov) {
  const player = $("#video-player");
  const duration = Math.max(1, ov.duration_ms);
  const timeline = $("#timeline");
  const axis = el("div", { class: "track axis", "aria-hidden": "true" });
  const step = niceStep(duration);
  for (let t = 0; t <= duration; t += step) {
    const tick = el("span", { class: "tick", text: fmtMs(t) });
    tick.style.left = `${(t / duration) * 100}%`;
    axis.append(tick);
  }
  const lanes = [el("div", { class: "lane" }, el("div", { class: "lane-title", text: "Time" }), axis)];
  lanes.push(lane("On-screen text", ov.text.map((t) => ({ start: t.start_ms, end: t.end_ms, label: t.text })), duration, "text", player));
  for (const p of ov.persons) lanes.push(lane(p.display_name, p.intervals.map(([s, e]) => ({ start: s, end: e, label: p.display_name })), duration, "face", player));
  for (const l of ov.labels) lanes.push(lane(l.name, l.intervals.map(([s, e]) => ({ start: s, end: e, label: `${l.name} ${pct(l.confidence)}` })), duration, "label", player));
  const head = el("div", { class: "playhead", "aria-hidden": "true" });
  const body = el("div", { class: "timeline-body" }, ...lanes, el("div", { class: "playhead-track" }, head));
  timeline.replaceChildren(body);
  const hidden = ov.text_hidden + ov.labels_hidden;
  const toggle = $("#show-all");
  toggle.setAttribute("aria-pressed", String(ov.show_all));
  toggle.textContent = ov.show_all ? "Show less" : `Show all${hidden ? ` (${hidden} hidden)` : ""}`;
  toggle.hidden = !ov.show_all && !hidden;
}

function syncPlayhead() {
  const ov = state.overview;
  const player = $("#video-player");
  if (ov && !$("#view-video").hidden) {
    const now = player.currentTime * 1000;
    const head = $(".playhead");
    if (head) head.style.left = `${Math.min(100, (now / Math.max(1, ov.duration_ms)) * 100)}%`;
    let current = null;
    for (const item of document.querySelectorAll("#transcript li")) {
      const on = Number(item.dataset.start) <= now && now < Number(item.dataset.end);
      item.classList.toggle("current", on);
      if (on && !current) current = item;
    }
  }
  window.requestAnimationFrame(syncPlayhead);
}

function renderTranscript() {
  const ov = state.overview;
  if (!ov) return;
  const find = $("#transcript-filter").value.normalize("NFKC").trim().toLowerCase();
  const player = $("#video-player");
  const lines = ov.text.filter((t) => !find || t.text.normalize("NFKC").toLowerCase().includes(find));
  $("#transcript").replaceChildren(...lines.map((t) => el("li", { dataset: { start: t.start_ms, end: t.end_ms } },
    el("button", { type: "button", class: `line${t.noise ? " noise" : ""}`, onclick: () => { player.currentTime = t.start_ms / 1000; player.play().catch(() => {}); } },
      el("span", { class: "time", text: fmtMs(t.start_ms) }), " ", highlighted(t.text, find ? [find] : []),
      t.noise ? el("span", { class: "meta", text: ` (unsure, ${pct(t.confidence)})` }) : null))));
  $("#transcript-count").textContent = find ? `${lines.length} of ${plural(ov.text.length, "line")} contain “${find}”`
    : (ov.text.length ? plural(ov.text.length, "line") : "No text was read on screen.");
}

async function renderVideo(videoId, params) {
  const token = state.renderToken;
  const player = $("#video-player");
  const status = $("#video-status");
  state.showAll = params.get("all") === "1";
  let video, tl;
  try {
    const known = (await api("api/videos")).videos.some((v) => v.video_id === videoId);
    if (!known) throw new ApiError("not found", 404);
    [video, tl] = await Promise.all([api(`api/videos/${encodeURIComponent(videoId)}`),
      api(`api/videos/${encodeURIComponent(videoId)}/timeline?overview=1${state.showAll ? "&all=1" : ""}`)]);
  } catch (err) {
    if (token !== state.renderToken) return;
    state.overview = null;
    player.pause(); player.removeAttribute("src"); player.load();
    $("#video-body").hidden = true;
    $("#video-title").textContent = err.status === 404 ? "Video not found" : "This video cannot be shown";
    setTitle("Video not found");
    status.replaceChildren(err.status === 404 ? "No video has this address: it may have been deleted. " : `${plainError(err)} `,
      el("a", { href: "#/videos", text: "See all videos" }));
    return;
  }
  if (token !== state.renderToken) return;
  state.videos.set(video.video_id, video);
  state.overview = tl.overview;
  $("#video-body").hidden = false;
  $("#video-title").textContent = video.filename;
  setTitle(video.filename);
  status.textContent = video.status === "ready"
    ? `${fmtMs(video.duration_ms)} · ${video.width}×${video.height} · ${plural(tl.frames, "analysed frame")}`
    : statusText(video);
  const src = `api/videos/${encodeURIComponent(videoId)}/media`;
  if (player.dataset.src !== src) { player.dataset.src = src; player.src = src; }
  const t = parseInt(params.get("t") || "", 10);
  if (Number.isFinite(t)) {
    const seek = () => { player.currentTime = t / 1000; };
    if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, { once: true });
  }
  renderTimeline(tl.overview);
  renderTranscript();
}

// ---------------------------------------------------------------------------------------------
// upload: the estimate first, then real progress (upload bytes, then frames and stage)

// How this server takes uploads: "server" (POST /api/videos) or "direct" (straight to S3).
async function uploadMode() {
  if (state.uploadMode) return state.uploadMode;
  try { state.uploadMode = (await api("api/health")).uploads || "server"; } catch { return "server"; }
  return state.uploadMode;
}

async function renderUpload() {
  $("#pending-upload").hidden = !state.pendingFile;
  if (await uploadMode() === "direct") {
    $("#upload-hint").textContent = "MP4, MOV, MKV… The video goes straight to the archive's S3 bucket, then AWS reads the text on screen, finds faces and objects. You see what that can cost before it starts.";
  }
}

function readVideoInfo(file) {
  return new Promise((resolve) => {
    const probe = document.createElement("video");
    const url = URL.createObjectURL(file);
    let done = false;
    const finish = (value) => { if (done) return; done = true; URL.revokeObjectURL(url); probe.removeAttribute("src"); resolve(value); };
    probe.preload = "metadata";
    probe.muted = true;
    probe.addEventListener("loadedmetadata", () => finish(Number.isFinite(probe.duration)
      ? { seconds: probe.duration, height: probe.videoHeight || null } : null));
    probe.addEventListener("error", () => finish(null));
    window.setTimeout(() => finish(null), 8000);
    probe.src = url;
  });
}

// Before a direct (AWS) upload: the most analysing it can cost, from the video's length.
async function showAwsEstimate(file, info, size) {
  const text = $("#pending-estimate");
  const box = $("#pending-cost");
  if (!info) {
    text.textContent = `${size}. This browser cannot read the video's length, so no AWS cost estimate: \`reko estimate\` on the file gives one.`;
    return;
  }
  try {
    const query = new URLSearchParams({ duration_s: info.seconds.toFixed(3) });
    if (info.height) query.set("height", info.height);
    const est = await api(`api/estimate?${query}`);
    if (state.pendingFile !== file) return;
    text.textContent = `${fmtMs(info.seconds * 1000)} long, ${size}. On AWS, analysing it costs at most ${fmtUsd(est.cost_usd)}`
      + ` (${est.region} prices; ${fmtUsd(est.cost_per_video_hour_usd)} per hour of video).`;
    $("#cost-lines").replaceChildren(
      ...est.apis.map((a) => el("li", { text: `${a.api} (${a.feature}): ${plural(a.calls, "call")} × ${fmtUsd(a.usd_per_call)} = ${fmtUsd(a.cost_usd)}` })),
      el("li", { text: `MediaConvert: ${est.mediaconvert_minutes.toFixed(2)} output minutes (frame capture + MP4 proxy${est.mediaconvert_category ? `, ${est.mediaconvert_category}` : ""})`
        + (est.mediaconvert_cost_usd === null ? ", not in the total: no MediaConvert price is recorded" : ` = ${fmtUsd(est.mediaconvert_cost_usd)}`) }));
    $("#cost-note").textContent = `A ceiling: every one of the ${plural(est.frames_sampled, "frame")} sampled (${est.sample_fps} per second) sent to every API.`
      + " reko skips near-duplicate frames, which can only lower it. Per-face calls (SearchUsers, CreateUser, AssociateFaces) are not included.";
    box.hidden = false;
  } catch (err) { text.textContent = `${fmtMs(info.seconds * 1000)} long, ${size}. No AWS cost estimate: ${plainError(err)}`; }
}

async function prepareUpload(file) {
  state.pendingFile = file;
  $("#pending-upload").hidden = false;
  $("#pending-cost").hidden = true;
  $("#pending-name").textContent = file.name;
  const text = $("#pending-estimate");
  text.textContent = "Reading the video's length…";
  const info = await readVideoInfo(file);
  const mode = await uploadMode();
  if (state.pendingFile !== file) return;
  const seconds = info ? info.seconds : null;
  const size = `${(file.size / 1048576).toFixed(1)} MB`;
  if (mode === "direct") {
    await showAwsEstimate(file, info, size);
  } else if (seconds === null) {
    text.textContent = `${size}. This browser cannot read the video's length, so no estimate: reko checks the file when it arrives.`;
  } else {
    try {
      const health = await api(`api/health?estimate_ms=${Math.round(seconds * 1000)}`);
      const est = health.estimate;
      const queue = est.videos_ahead ? ` ${plural(est.videos_ahead, "video")} ${est.videos_ahead === 1 ? "is" : "are"} waiting before it (${fmtWait(est.queue_seconds)}).` : "";
      text.textContent = `${fmtMs(seconds * 1000)} long, ${size}: analysis should take ${fmtWait(est.expected_seconds)} here (${est.frames_expected} frames; speed ${est.basis}).${queue}`;
    } catch (err) { text.textContent = `${fmtMs(seconds * 1000)} long, ${size}. No estimate: ${plainError(err)}`; }
  }
  if (state.pendingFile === file) $("#upload-start").focus();
}

function startUpload() {
  const file = state.pendingFile;
  if (!file) return;
  state.pendingFile = null;
  $("#pending-upload").hidden = true;
  if (state.uploadMode === "direct") uploadDirect(file); else upload(file);
}

function cancelUpload() {
  state.pendingFile = null;
  $("#pending-upload").hidden = true;
  $("#choose-video").focus();
}

function uploadRow(file) {
  const bar = progressBar(0, `Progress of ${file.name}`);
  const status = el("p", { class: "meta upload-status", text: "Uploading…" });
  const row = el("li", { class: "upload" }, el("p", { class: "name", text: file.name }), bar, status);
  $("#uploads").prepend(row);
  const set = (fraction, text, kind = "") => {
    const value = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    bar.firstChild.style.width = `${value}%`;
    bar.setAttribute("aria-valuenow", String(value));
    if (text !== undefined && status.textContent !== text) status.textContent = text;
    if (kind) { row.classList.add(kind); bar.classList.toggle("failed", kind === "failed"); }
  };
  return { row, status, set };
}

function upload(file) {
  const ui = uploadRow(file);
  announce(`Uploading ${file.name}`);
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "api/videos");
  xhr.setRequestHeader("X-Reko-Request", "1");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) ui.set(e.loaded / e.total, `Uploading ${pct((e.loaded / e.total) * 100)} of ${(e.total / 1048576).toFixed(1)} MB`); };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 401) { login().then(() => upload(file)); ui.row.remove(); return; }
    if (xhr.status >= 400) {
      const why = xhr.status === 413 ? "The file is larger than this server accepts." : plainError(new Error(body.message || "The server refused the file."));
      ui.set(0, `Not accepted: ${why}`, "failed");
      announce(`${file.name} was not accepted: ${why}`);
      return;
    }
    ui.row.dataset.videoId = body.video_id;
    if (xhr.status === 200 && body.status === "ready") { finishUpload(ui, body.video_id, "Already in the archive ✓ "); return; }
    ui.set(0, "Uploaded. Waiting for analysis…");
    poll(body.video_id, ui, "");
  };
  xhr.onerror = () => { ui.set(0, "The upload stopped: the reko server cannot be reached. Check the connection and try again.", "failed"); announce(`Upload of ${file.name} failed`); };
  xhr.send(form);
}

// direct uploads (S3 storage): presigned multipart URLs, each part PUT straight to S3

async function putPart(url, blob, attempt = 1) {
  let response;
  try { response = await fetch(url, { method: "PUT", body: blob }); } catch {
    if (attempt < 3) return putPart(url, blob, attempt + 1);
    throw new Error("S3 cannot be reached from this browser: check the connection (and that the bucket's CORS rule allows this site)");
  }
  if (!response.ok) {
    if (response.status >= 500 && attempt < 3) return putPart(url, blob, attempt + 1);
    throw new Error(`S3 refused a part (status ${response.status}); its upload link may have expired: upload the video again`);
  }
  const etag = response.headers.get("ETag");
  if (!etag) throw new Error("S3 answered without a readable ETag: the bucket's CORS rule must expose the ETag header");
  return etag;
}

async function sendParts(file, plan, ui) {
  const etags = new Array(plan.parts.length);
  const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;
  let sent = 0, done = 0, next = 0;
  const show = () => ui.set(sent / file.size, `Uploading to S3: ${mb(sent)} of ${mb(file.size)} · part ${done} of ${plan.parts.length} sent`);
  show();
  const worker = async () => {
    while (next < plan.parts.length) {
      const part = plan.parts[next];
      next += 1;
      const start = (part.part_number - 1) * plan.part_bytes;
      const blob = file.slice(start, Math.min(file.size, start + plan.part_bytes));
      etags[part.part_number - 1] = await putPart(part.url, blob);
      sent += blob.size;
      done += 1;
      show();
    }
  };
  await Promise.all(Array.from({ length: Math.min(3, plan.parts.length) }, worker));
  return etags;
}

async function uploadDirect(file) {
  const ui = uploadRow(file);
  announce(`Uploading ${file.name}`);
  try {
    const before = (await api("api/videos")).videos;
    const plan = await api("api/uploads", jsonBody("POST", { filename: file.name, size_bytes: file.size }));
    const etags = await sendParts(file, plan, ui);
    await api("api/uploads/complete", jsonBody("POST", { key: plan.key, upload_id: plan.upload_id, etags }));
    ui.row.dataset.key = plan.key;
    announce(`${file.name} is uploaded`);
    waitForRegistration(plan.key, file, before, ui, Date.now());
  } catch (err) {
    const why = plainError(err);
    ui.set(0, `The upload stopped: ${why}`, "failed");
    announce(`Upload of ${file.name} failed: ${why}`);
  }
}

// The S3 event registers the upload (then MediaConvert and the analysis run on AWS): wait for
// the new video to be listed, then follow its progress like any other.
async function waitForRegistration(key, file, before, ui, started) {
  const name = key.split("/").pop();
  const known = new Set(before.map((v) => v.video_id));
  let videos = null;
  try { videos = (await api("api/videos")).videos; } catch { /* ask again below */ }
  const found = videos && videos.find((v) => !known.has(v.video_id) && v.filename === name);
  if (found) { ui.row.dataset.videoId = found.video_id; poll(found.video_id, ui, ""); return; }
  const waited = (Date.now() - started) / 1000;
  const same = before.find((v) => v.filename === name && v.size_bytes === file.size);
  if (same && waited > 60) { finishUpload(ui, same.video_id, "Already in the archive ✓ "); return; }
  if (waited > 900) {
    ui.set(0, "Uploaded to S3, but the archive has not listed it after 15 minutes. If these bytes were uploaded before, the video is already in; otherwise look at the Videos page later.");
    return;
  }
  ui.set(0, "Uploaded to S3 ✓ Waiting for AWS to register the video…");
  window.setTimeout(() => waitForRegistration(key, file, before, ui, started), 2000);
}

function finishUpload(ui, videoId, text) {
  ui.set(1, undefined, "done");
  ui.status.replaceChildren(text, el("a", { href: hashFor("video", videoId), text: "Open the video" }));
  announce(`${ui.row.querySelector(".name").textContent} is searchable`);
  state.videos.delete(videoId);
  loadLabels(); loadPersons();
}

async function poll(videoId, ui, lastStage) {
  let v;
  try { v = await api(`api/videos/${encodeURIComponent(videoId)}`); } catch (err) {
    if (err.status === 404) { ui.set(0, "The video was deleted.", "failed"); return; }
    ui.set(0, `${plainError(err)} Retrying…`);
    window.setTimeout(() => poll(videoId, ui, lastStage), 3000);
    return;
  }
  if (v.status === "ready") { finishUpload(ui, videoId, "Searchable ✓ "); return; }
  if (v.status === "failed") {
    const why = plainError(new Error(v.error || "the analysis stopped"));
    ui.set(0, `Failed: ${why}`, "failed");
    announce(`Analysis failed: ${why}`);
    return;
  }
  const frames = v.frames_expected ? ` (${v.frames_done} of ${v.frames_expected} frames)` : "";
  const text = v.stage === "analysing" ? `${v.stage_text}${v.seconds_left ? ` · ${fmtWait(v.seconds_left)} left` : ""}`
    : `${v.stage_text}${v.stage === "queued" ? "" : frames}${v.seconds_left ? ` · ${fmtWait(v.seconds_left)} left` : ""}`;
  ui.set(v.progress, text);
  if (v.stage !== lastStage) announce(v.stage_text);
  window.setTimeout(() => poll(videoId, ui, v.stage), 700);
}

// ---------------------------------------------------------------------------------------------
// wiring

function wireFileInput(input, onFile) {
  input.addEventListener("change", (e) => { const f = e.target.files[0]; e.target.value = ""; if (f) onFile(f); });
}

// A real button opens each (hidden) file input: keyboard users press Enter or Space on it.
function wireFileButtons() {
  for (const button of document.querySelectorAll("[data-file]")) {
    button.addEventListener("click", () => $(`#${button.dataset.file}`).click());
  }
}

function wireDropzone() {
  const zone = $("#dropzone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) prepareUpload(file);
  });
}

function wirePlayer() {
  const dialog = $("#player-dialog"), video = playerVideo();
  $("#player-close").addEventListener("click", closePlayer);
  dialog.addEventListener("cancel", () => video.pause()); // Escape pauses, then the dialog closes
  dialog.addEventListener("close", () => video.pause());
  dialog.addEventListener("keydown", onPlayerKey);
  $("#player-toggle").addEventListener("click", togglePlay);
  $("#player-replay").addEventListener("click", replay);
  $("#player-prev").addEventListener("click", () => loadMoment(state.current - 1));
  $("#player-next").addEventListener("click", () => loadMoment(state.current + 1));
  $("#in-minus").addEventListener("click", () => nudge("in", -1));
  $("#in-plus").addEventListener("click", () => nudge("in", 1));
  $("#out-minus").addEventListener("click", () => nudge("out", -1));
  $("#out-plus").addEventListener("click", () => nudge("out", 1));
  $("#in-set").addEventListener("click", () => { state.inMs = snap(video.currentTime * 1000); updateInOut(); });
  $("#out-set").addEventListener("click", () => { state.outMs = snap(video.currentTime * 1000); updateInOut(); });
  $("#scrubber").addEventListener("click", seekScrubber);
  video.addEventListener("click", togglePlay);
  video.addEventListener("loadedmetadata", drawScrubber);
}

function wireVideoPage() {
  $("#show-all").addEventListener("click", () => {
    const { arg, params } = parseRoute();
    const next = new URLSearchParams(params);
    if (state.showAll) next.delete("all"); else next.set("all", "1");
    navigate(hashFor("video", arg, next));
  });
  $("#transcript-filter").addEventListener("input", renderTranscript);
}

function wireMoments() {
  for (const button of document.querySelectorAll("[data-add-near]")) {
    button.addEventListener("click", () => addNearRow(button.dataset.addNear));
  }
  for (const id of ["#q", "#label-filter"]) $(id).addEventListener("input", updateMomentControls);
  $("#person-filter").addEventListener("change", updateMomentControls);
  $("#export-button").addEventListener("click", downloadTimeline);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#search-form").addEventListener("submit", submitSearch);
  $("#q").addEventListener("input", onSearchInput);
  $("#q").addEventListener("keydown", onSearchKey);
  $("#q").addEventListener("blur", () => window.setTimeout(closeSuggestions, 150));
  wireFileInput($("#file-input"), prepareUpload);
  wireFileInput($("#search-photo"), (f) => searchByPhoto(f, $("#search-summary")));
  wireFileInput($("#people-photo"), (f) => searchByPhoto(f, $("#people-status")));
  $("#upload-start").addEventListener("click", startUpload);
  $("#upload-cancel").addEventListener("click", cancelUpload);
  wireFileButtons();
  wireDropzone();
  wirePlayer();
  wireVideoPage();
  wireMoments();
  window.addEventListener("hashchange", route);
  window.requestAnimationFrame(watchPlayer);
  window.requestAnimationFrame(syncPlayhead);
  Promise.all([loadPersons(), loadLabels()]).finally(route);
});
