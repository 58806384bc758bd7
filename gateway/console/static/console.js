// The guard-room board: state from /api/state, then live updates from /api/stream (SSE).
// No framework, nothing from the internet; every action goes to /api/command/<name>.
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const T = boot.text;
const SEVERITY = { critical: 0, major: 1, minor: 2, info: 3 };
const FLOOD_COUNT = 10, FLOOD_WINDOW_MS = 10 * 60 * 1000;
const state = { alarms: new Map(), online: {}, drill: null, markers: [] };
let onDuty = sessionStorage.getItem("duty") === "1";
const groupsOpen = new Map();  // a flood group the guard opened or closed stays so
let stream = null;

const clock = new Intl.DateTimeFormat(boot.language, {
  timeZone: boot.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const day = new Intl.DateTimeFormat(boot.language, {
  timeZone: boot.timezone, month: "2-digit", day: "2-digit",
});

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(iso) {
  const at = new Date(iso);
  const today = day.format(new Date()) === day.format(at);
  return (today ? "" : day.format(at) + " ") + clock.format(at);
}

function span(ms) {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
}

const text = (key, fallback) => T[key] ?? fallback ?? key;
const conditionName = (a) => text("c_" + a.condition, a.condition);
const isOpen = (a) => !a.closed_at;
const needsAck = (a) => isOpen(a) && !a.acknowledged;

// -- talking to the gateway -----------------------------------------------------------------

async function command(name, args) {
  const response = await fetch("/api/command/" + name, {
    method: "POST", headers: { "content-type": "application/json", "x-csrf-token": boot.csrf },
    body: JSON.stringify({ args }),
  });
  const answer = await response.json().catch(() => ({ status: "error", error: { message: response.statusText } }));
  if (answer.status !== "ok") notice(text("refused") + ": " + (answer.error?.message || response.status), true);
  return answer;
}

function notice(message, bad = false) {
  const box = el("div", { class: "notice" + (bad ? " bad" : ""), role: bad ? "alert" : "status" }, message);
  document.body.append(box);
  setTimeout(() => box.remove(), 8000);
}

async function loadState() {
  const response = await fetch("/api/state", { redirect: "manual" });
  if (response.status === 401 || response.type === "opaqueredirect") { location.href = "/login"; return; }
  const fresh = await response.json();
  state.alarms = new Map(fresh.alarms.map((a) => [a.alarm_id, a]));
  state.online = fresh.online;
  state.drill = fresh.drill;
  state.markers = fresh.markers;
  renderAll();
  follow(fresh.last_id);
}

function follow(lastId) {
  if (stream) stream.close();
  stream = new EventSource("/api/stream?after=" + encodeURIComponent(lastId));
  stream.onopen = () => { document.getElementById("link-lost").hidden = true; };
  stream.onerror = () => {
    document.getElementById("link-lost").hidden = false;
    // the browser retries by itself unless the gateway answered with an error (it restarted,
    // or the session ended): then look again every 2 s, and reload or ask for a login
    if (stream.readyState === EventSource.CLOSED) setTimeout(retry, 2000);
  };
  stream.addEventListener("alarm", (e) => {
    const update = JSON.parse(e.data);
    const alarm = update.alarm;
    if (alarm.closed_at) state.alarms.delete(alarm.alarm_id);
    else state.alarms.set(alarm.alarm_id, alarm);
    renderAll();
    if (document.body.dataset.page === "alarm" && document.querySelector(`[data-alarm="${alarm.alarm_id}"]`)) {
      setTimeout(() => location.reload(), 300);
    }
  });
  stream.addEventListener("device", (e) => {
    const update = JSON.parse(e.data);
    state.online[update.device] = update.online;
    renderAll();
  });
  stream.addEventListener("drill", (e) => {
    const update = JSON.parse(e.data);
    state.drill = update.active ? update.summary : null;
    renderAll();
    if (!update.active) showDrillSummary(update.summary);
  });
  stream.addEventListener("resync", () => { stream.close(); loadState(); });
}

async function retry() {
  try {
    const response = await fetch("/api/state", { redirect: "manual" });
    if (response.status === 401 || response.type === "opaqueredirect") { location.href = "/login"; return; }
    if (response.ok) { loadState(); return; }
  } catch (error) { /* the gateway is not back yet */ }
  setTimeout(retry, 2000);
}

// -- the board ------------------------------------------------------------------------------

function sorted() {
  return [...state.alarms.values()].filter(isOpen).sort((a, b) =>
    (SEVERITY[a.severity] - SEVERITY[b.severity]) || a.raised_at.localeCompare(b.raised_at));
}

function renderAll() {
  document.body.classList.toggle("drill", !!state.drill);
  document.getElementById("drill-banner").hidden = !state.drill;
  renderSound();
  if (document.body.dataset.page === "board") renderBoard();
  if (document.body.dataset.page === "map") renderMap();
  if (document.body.dataset.page === "alarm") renderDetailActions();
  if (document.body.dataset.page === "devices") renderDevices();
}

function renderBoard() {
  const alarms = sorted();
  renderBanner(alarms);
  const box = document.getElementById("alarms");
  box.replaceChildren();
  if (!alarms.length) { box.append(el("p", { class: "empty" }, text("no_alarms"))); return; }
  const recent = alarms.filter((a) => Date.now() - new Date(a.raised_at) < FLOOD_WINDOW_MS);
  if (recent.length > FLOOD_COUNT) {
    const groups = new Map();
    for (const a of alarms) {
      const key = a.condition + " · " + (a.zone || a.device_id);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(a);
    }
    box.append(el("h2", { class: "flood" }, text("flood") + ": " + alarms.length + " " + text("group_of")));
    for (const [key, members] of groups) {
      const first = members[0];
      const open = groupsOpen.has(key) ? groupsOpen.get(key) : members.length <= 3;
      const group = el("details", { class: "group sev-" + first.severity, open, "data-group": key },
        el("summary", {}, members.length + " × " + conditionName(first) + " · " + (first.zone || first.device_id)));
      group.addEventListener("toggle", () => groupsOpen.set(key, group.open));
      for (const a of members) group.append(card(a, true));
      box.append(group);
    }
  } else {
    for (const a of alarms) box.append(card(a, false));
  }
  tick();
}

function renderBanner(alarms) {
  const banner = document.getElementById("banner");
  // the newest unacknowledged alarm of the highest severity takes the banner
  const waiting = alarms.filter(needsAck).sort((a, b) =>
    (SEVERITY[a.severity] - SEVERITY[b.severity]) || b.raised_at.localeCompare(a.raised_at));
  if (!waiting.length) { banner.hidden = true; banner.replaceChildren(); return; }
  const top = waiting[0];
  banner.hidden = false;
  banner.className = "banner sev-" + top.severity + (top.active ? " flashing" : "");
  banner.dataset.alarm = top.alarm_id;
  banner.replaceChildren(...[
    el("div", { class: "what" }, text(top.severity) + " · " + conditionName(top),
      top.drill ? el("span", { class: "tag drill" }, text("drill")) : null),
    el("div", { class: "where" }, top.location || top.point, " · ", text("zone"), " ", top.zone || "—",
      " · ", top.device_id + "/" + top.point),
    el("div", { class: "since" }, text("since"), " ", when(top.raised_at), " (",
      el("span", { class: "age", "data-since": top.raised_at }, span(Date.now() - new Date(top.raised_at))), " ", text("ago"), ")"),
    waiting.length > 1 ? el("div", { class: "more" }, "+" + (waiting.length - 1) + " " + text("more_alarms")) : null,
  ].filter(Boolean));
}

function card(a, compact) {
  const node = el("article", {
    class: "alarm sev-" + a.severity + (a.active ? " active" : "") + (needsAck(a) ? " unacked" : "") + (compact ? " compact" : ""),
    id: "alarm-" + a.alarm_id, "data-alarm": a.alarm_id, tabindex: "-1",
  },
    el("header", {},
      el("strong", { class: "what" }, text(a.severity) + " · " + conditionName(a)),
      a.drill ? el("span", { class: "tag drill" }, text("drill")) : null,
      el("span", { class: "state" }, text(a.state)),
      el("a", { href: "/alarms/" + a.alarm_id, class: "details" }, text("details"))),
    el("p", { class: "where" }, a.location || a.point, " · ", text("zone"), " ", a.zone || "—", " · ",
      a.device_id + "/" + a.point, " · ", text("since"), " ", when(a.raised_at)),
    compact ? null : deadlines(a),
    actions(a, compact),
  );
  return node;
}

function deadlines(a) {
  const list = el("ul", { class: "deadlines" });
  for (const [kind, due] of Object.entries(a.reports_due || {})) {
    const done = a.reports_done?.[kind];
    list.append(el("li", { class: "deadline" + (done ? " done" : ""), "data-due": due, "data-done": done ? "1" : "" },
      text("due_" + kind) + ": ",
      el("span", { class: "countdown" }, done ? text("done") : ""),
      !done && boot.can_act ? el("button", { type: "button", class: "small", onclick: () => command("alarm.report", { alarm_id: a.alarm_id, kind }) }, text("report_" + kind)) : null));
  }
  return list;
}

function actions(a, compact) {
  if (!boot.can_act) return null;
  const row = el("div", { class: "actions" });
  const note = el("input", { class: "note", placeholder: text("note"), "aria-label": text("note"), maxlength: "500" });
  if (!a.acknowledged) {
    row.append(note, el("button", { type: "button", class: "ack", onclick: () => command("alarm.acknowledge", { alarm_id: a.alarm_id, note: note.value }) }, text("acknowledge")));
  }
  if (!compact) {
    row.append(a.police_called_at
      ? el("span", { class: "police-done" }, text("police_done") + " " + when(a.police_called_at))
      : el("button", { type: "button", class: "police", onclick: () => command("alarm.police_called", { alarm_id: a.alarm_id }) }, text("police")));
  }
  if (!a.active) {
    const closing = el("input", { class: "closing", placeholder: text("closing_note"), "aria-label": text("closing_note"), maxlength: "500" });
    row.append(closing, el("button", { type: "button", class: "reset", onclick: () => {
      if (!closing.value.trim()) { closing.focus(); notice(text("closing_note"), true); return; }
      command("alarm.reset", { alarm_id: a.alarm_id, note: closing.value });
    } }, text("reset")));
  }
  return row;
}

function tick() {
  const now = Date.now();
  for (const item of document.querySelectorAll(".deadline:not(.done)")) {
    const left = new Date(item.dataset.due) - now;
    item.classList.toggle("overdue", left < 0);
    item.querySelector(".countdown").textContent = left < 0 ? text("overdue") + " +" + span(left) : span(left);
  }
  for (const age of document.querySelectorAll(".age")) age.textContent = span(now - new Date(age.dataset.since));
}

// -- sound, drill, other pages --------------------------------------------------------------

function renderSound() {
  const siren = document.getElementById("siren");
  const wanted = onDuty && sorted().some(needsAck);
  if (wanted && siren.paused) siren.play().catch(() => {});
  if (!wanted && !siren.paused) { siren.pause(); siren.currentTime = 0; }
  const duty = document.getElementById("duty");
  duty.textContent = onDuty ? text("on_duty") : text("start_duty");
  duty.classList.toggle("on", onDuty);
  const hint = document.getElementById("duty-hint");
  if (hint) hint.hidden = onDuty;
}

function showDrillSummary(s) {
  const dialog = document.getElementById("drill-summary");
  const fmt = (v) => (v === null || v === undefined ? "—" : Math.round(v));
  document.getElementById("drill-summary-text").textContent =
    `${s.note || ""} · ${s.alarms_raised} ${text("drill_raised")} · ${fmt(s.seconds_to_first_acknowledge)} ${text("drill_first_ack")} · ` +
    `${fmt(s.seconds_to_last_reset)} ${text("drill_last_reset")} · ${s.alarms_still_open} ${text("drill_open")}`;
  if (!dialog.open) dialog.showModal();
}

function renderMap() {
  for (const marker of document.querySelectorAll(".marker")) {
    marker.style.left = marker.dataset.x + "%";
    marker.style.top = marker.dataset.y + "%";
    const device = marker.dataset.device, point = marker.dataset.point;
    const alarms = sorted().filter((a) => a.device_id === device && (!point || a.point === point));
    const status = alarms.some((a) => a.active) ? "alarm" : alarms.length ? "attention"
      : state.online[device] === false ? "offline" : "ok";
    marker.className = "marker " + status;
    marker.dataset.state = status;
  }
}

function renderDetailActions() {
  const box = document.getElementById("detail-actions");
  const id = document.querySelector("[data-alarm]")?.dataset.alarm;
  const alarm = state.alarms.get(id);
  box.replaceChildren();
  if (alarm) { const row = actions(alarm, false); if (row) box.append(row); }
}

function renderOutputs() {
  // a guard drives an output (a gate relay, a siren) through device.action, like any command
  for (const slot of document.querySelectorAll(".output")) {
    if (slot.dataset.ready || !boot.can_act) continue;
    slot.dataset.ready = "1";
    const { device, output } = slot.dataset;
    const drive = (on) => command("device.action", { device, action: "output", args: { name: output, on } })
      .then((answer) => { if (answer.status === "ok") notice(`${device} ${output}: ${on ? text("switch_on") : text("switch_off")}`); });
    slot.append(" ", el("button", { type: "button", class: "small", onclick: () => drive(true) }, text("switch_on")),
      " ", el("button", { type: "button", class: "small", onclick: () => drive(false) }, text("switch_off")));
  }
}

function renderDevices() {
  renderOutputs();
  for (const row of document.querySelectorAll("tr[data-device]")) {
    const up = state.online[row.dataset.device];
    if (up === undefined) continue;
    const cell = row.querySelector(".state");
    cell.textContent = up ? text("online") : text("offline");
    cell.className = "state " + (up ? "ok" : "bad");
  }
}

document.getElementById("duty").addEventListener("click", () => {
  const siren = document.getElementById("siren");
  // a click is what lets a page play sound: play and stop once now, so later alarms can sound
  siren.play().then(() => { siren.pause(); siren.currentTime = 0; }, () => {})
    .then(() => { onDuty = true; sessionStorage.setItem("duty", "1"); renderAll(); });
});
document.getElementById("language").addEventListener("click", async () => {
  await fetch("/api/language", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": boot.csrf },
    body: JSON.stringify({ language: boot.language === "en" ? "zh-CN" : "en" }) });
  location.reload();
});
document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", headers: { "x-csrf-token": boot.csrf } });
  sessionStorage.removeItem("duty");
  location.href = "/login";
});

setInterval(tick, 1000);
loadState();

// -- gates and visitors: every form[data-command] sends its fields as the command's args ------

for (const form of document.querySelectorAll("form[data-command]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const args = {};
    for (const input of form.querySelectorAll("input")) {
      if (!input.name) continue;
      if (input.type === "checkbox") {
        if (input.checked) (args[input.name] ??= []).push(input.value);
      } else if (input.value !== "") {
        args[input.name] = "localTime" in input.dataset ? new Date(input.value).toISOString()
          : "number" in input.dataset ? Number(input.value) : input.value;
      }
    }
    const answer = await command(form.dataset.command, args);
    if (answer.status !== "ok") return;
    if (form.dataset.then === "pass") location.href = "/access?visit=" + encodeURIComponent(answer.data.visit_id) + "#pass";
    else location.reload();
  });
}
