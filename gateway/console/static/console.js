// The guard-room board: state from /api/state, then live updates from /api/stream (SSE).
// No framework, nothing from the internet; every action goes to /api/command/<name>.
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const T = boot.text;
const SEVERITY = { critical: 0, major: 1, minor: 2, info: 3 };
const FLOOD_COUNT = 10, FLOOD_WINDOW_MS = 10 * 60 * 1000;
const state = { alarms: new Map(), online: {}, drill: null, markers: [], standing: null };
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
// names the site file gives, not ids: a zone, a device; a point the gateway names itself
// (a camera's "view") in the guard's language
const zoneName = (zone) => (zone ? boot.zones?.[zone] ?? zone : "—");
const deviceName = (device) => boot.devices?.[device] ?? device;
const pointName = (alarm) => T["point_" + alarm.point] ?? alarm.point;
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
  if (response.status === 401 && answer.error?.code === "reauth") {
    // the duty session: the board stays, the password is asked here, the same action goes again
    if (await reauthenticate(answer.error.reason)) return command(name, args);
    notice(text("reauth_cancelled"), true);
    return answer;
  }
  if (response.status === 401) { location.href = "/login"; return answer; }  // the session ended
  if (answer.status !== "ok") notice(text("refused") + ": " + refusal(answer.error, response.status), true, answer.error?.message || "");
  return answer;
}

// A refusal in the operator's language: by its reason, else by its code; the gateway's own
// words (English, with ids) stay on hover.
function refusal(error, status) {
  const said = T["why_" + error?.reason] ?? (error?.code !== "refused" ? T["code_" + error?.code] : undefined);
  return said ? said : (error?.message || String(status));
}

let reauthAsked = null;  // one dialog for every action waiting on it

function reauthenticate(reason) {
  if (reauthAsked) return reauthAsked;
  const dialog = document.getElementById("reauth"), form = document.getElementById("reauth-form");
  const input = document.getElementById("reauth-password"), error = document.getElementById("reauth-error");
  const cancel = document.getElementById("reauth-cancel");
  const back = document.activeElement;  // where the guard was: focus goes back there
  document.getElementById("reauth-why").textContent = text(reason === "password" ? "reauth_password" : "reauth_idle");
  error.hidden = true;
  input.value = "";
  reauthAsked = new Promise((resolve) => {
    const finish = (ok) => {
      form.removeEventListener("submit", submit);
      cancel.removeEventListener("click", cancelled);
      dialog.removeEventListener("cancel", cancelled);
      if (dialog.open) dialog.close();
      reauthAsked = null;
      if (back instanceof HTMLElement && back.isConnected) back.focus();
      resolve(ok);
    };
    const submit = async (event) => {
      event.preventDefault();
      const response = await fetch("/api/reauth", {
        method: "POST", headers: { "content-type": "application/json", "x-csrf-token": boot.csrf },
        body: JSON.stringify({ password: input.value }),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) { finish(true); return; }
      if (response.status === 401 && !answer.error) { location.href = "/login"; return; }
      error.textContent = text(answer.error?.code === "login_failed" ? "reauth_wrong" : "reauth_wait");
      error.hidden = false;
      input.value = "";
      input.focus();
    };
    const cancelled = (event) => { event.preventDefault(); finish(false); };
    form.addEventListener("submit", submit);
    cancel.addEventListener("click", cancelled);
    dialog.addEventListener("cancel", cancelled);
  });
  dialog.showModal();
  input.focus();
  return reauthAsked;
}

function notice(message, bad = false, detail = "") {
  const box = el("div", { class: "notice" + (bad ? " bad" : ""), role: bad ? "alert" : "status", title: detail }, message);
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
  state.standing = fresh.standing;
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
    window.followUpAlarm?.(alarm);  // the tasks count (follow_up.js)
    if (document.body.dataset.page === "alarm" && document.querySelector(`[data-alarm="${alarm.alarm_id}"]`)) {
      // the timeline is the server's: reload for it, unless the guard is typing a note here
      const typing = [...document.querySelectorAll("input[data-keep]")].some((i) => i.value);
      if (!typing) setTimeout(() => location.reload(), 300);
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
  stream.addEventListener("standing", (e) => { state.standing = JSON.parse(e.data); renderStanding(); });
  stream.addEventListener("event", (e) => window.videoEvent?.(JSON.parse(e.data)));  // new pictures (video.js)
  stream.addEventListener("event", (e) => window.followUpEvent?.(JSON.parse(e.data)));  // the roll call (follow_up.js)
  // the session ended (logout elsewhere, the operator disabled): every page goes to the login
  stream.addEventListener("ended", () => { stream.close(); location.href = "/login"; });
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

// the highest severity first, and within it the newest first: a fire raised during a panic
// flood comes first, not three screens down
const byUrgency = (a, b) => (SEVERITY[a.severity] - SEVERITY[b.severity])
  || (new Date(b.raised_at) - new Date(a.raised_at)) || a.alarm_id.localeCompare(b.alarm_id);

function sorted() {
  return [...state.alarms.values()].filter(isOpen).sort(byUrgency);
}

function renderAll() {
  document.body.classList.toggle("drill", !!state.drill);
  document.getElementById("drill-banner").hidden = !state.drill;
  renderSound();
  renderAlarmBar();
  renderStanding();
  if (document.body.dataset.page === "board") renderBoard();
  if (document.body.dataset.page === "map") renderMap();
  if (document.body.dataset.page === "alarm") renderDetailActions();
  if (document.body.dataset.page === "devices") renderDevices();
}

// -- keyed updates: a card is rebuilt only when its alarm changed, and what the guard typed
// (and where the focus was) survives even that; nodes move only when their order changed

const cards = new Map();  // alarm id -> its card on the board
const groupNodes = new Map();  // flood group key -> its <details>
const boardParts = {};  // the board's lasting nodes: the flood heading, the empty note

function kept(old, fresh) {
  // the inputs of the old node move into the new one, value, selection and all
  for (const input of old.querySelectorAll("input[data-keep]")) {
    const slot = fresh.querySelector(`input[data-keep="${input.dataset.keep}"]`);
    if (slot) slot.replaceWith(input);
  }
  if (old.parentNode) old.replaceWith(fresh);
  return fresh;
}

function keptCard(a, compact) {
  const sig = JSON.stringify([compact, a]);
  const old = cards.get(a.alarm_id);
  if (old && old.dataset.sig === sig) return old;
  let fresh = card(a, compact);
  fresh.dataset.sig = sig;
  if (old) fresh = kept(old, fresh);
  cards.set(a.alarm_id, fresh);
  return fresh;
}

function place(parent, nodes) {
  // only what is out of place moves: a card the guard is typing in stays where it is
  const wanted = new Set(nodes);
  let cursor = parent.firstChild;
  for (const node of nodes) {
    while (cursor && cursor !== node && !wanted.has(cursor)) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
    if (cursor === node) cursor = cursor.nextSibling;
    else parent.insertBefore(node, cursor);
  }
  while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
}

function keepingFocus(change) {
  const focused = document.activeElement;
  const typing = focused instanceof HTMLInputElement ? [focused.selectionStart, focused.selectionEnd] : null;
  const alarmId = focused?.closest?.("[data-alarm]")?.dataset.alarm;
  change();
  if (!(focused instanceof HTMLElement) || focused === document.body || document.activeElement === focused) return;
  if (focused.isConnected) {
    focused.focus({ preventScroll: true });
    if (typing) try { focused.setSelectionRange(...typing); } catch (error) { /* not a text field */ }
    return;
  }
  // the button acted on is gone (acknowledged): its card keeps the focus, else the first card
  const next = cards.get(alarmId) || document.querySelector("#detail-actions button, article.alarm");
  if (next?.isConnected) next.focus({ preventScroll: true });
}

function lasting(key, make) {
  return boardParts[key] ||= make();
}

function renderBoard() {
  const alarms = sorted();
  renderBanner(alarms);
  const box = document.getElementById("alarms");
  const nodes = [];
  const focusedAlarm = document.activeElement?.closest?.("[data-alarm]")?.dataset.alarm;
  keepingFocus(() => {
    if (!alarms.length) {
      nodes.push(lasting("empty", () => el("p", { class: "empty" }, text("no_alarms"))));
    } else if (alarms.filter((a) => Date.now() - new Date(a.raised_at) < FLOOD_WINDOW_MS).length > FLOOD_COUNT) {
      const groups = new Map();  // in the board's order: the group of the most urgent alarm first
      for (const a of alarms) {
        const key = a.condition + " · " + (a.zone || a.device_id);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(a);
      }
      const heading = lasting("flood", () => el("h2", { class: "flood" }));
      heading.textContent = text("flood") + ": " + alarms.length + " " + text("group_of");
      nodes.push(heading);
      for (const [key, members] of groups) {
        const first = members[0];
        let group = groupNodes.get(key);
        // the group holding the card the guard is typing in opens: the focus stays visible
        const holdsFocus = members.some((a) => a.alarm_id === focusedAlarm);
        if (!group) {
          const open = holdsFocus || (groupsOpen.has(key) ? groupsOpen.get(key) : members.length <= 3);
          group = el("details", { open, "data-group": key }, el("summary", {}));
          group.addEventListener("toggle", () => groupsOpen.set(key, group.open));
          groupNodes.set(key, group);
        } else if (holdsFocus) group.open = true;
        group.className = "group sev-" + first.severity;
        const summary = group.firstChild;
        summary.textContent = members.length + " × " + conditionName(first) + " · " + (first.zone || first.device_id);
        place(group, [summary, ...members.map((a) => keptCard(a, true))]);
        nodes.push(group);
      }
      for (const key of [...groupNodes.keys()]) if (!groups.has(key)) groupNodes.delete(key);
    } else {
      for (const a of alarms) nodes.push(keptCard(a, false));
    }
    place(box, nodes);
  });
  const shown = new Set(alarms.map((a) => a.alarm_id));
  for (const id of [...cards.keys()]) if (!shown.has(id)) cards.delete(id);
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
    el("div", { class: "where" }, top.location || pointName(top), " · ", text("zone"), " ", zoneName(top.zone),
      " · ", deviceName(top.device_id) + " / " + pointName(top)),
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
    el("p", { class: "where" }, a.location || pointName(a), " · ", text("zone"), " ", zoneName(a.zone), " · ",
      deviceName(a.device_id) + " / " + pointName(a), " · ", text("since"), " ", when(a.raised_at)),
    compact ? null : deadlines(a),
    window.cardPicture ? window.cardPicture(a, compact) : null,  // the alarm's snapshot (video.js)
    window.cardInstructions ? window.cardInstructions(a, compact) : null,  // what to do (follow_up.js)
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
      !done && boot.can_act ? el("button", { type: "button", class: "small", onclick: () => command("alarm.report", { alarm_id: a.alarm_id, kind }) }, text("mark_report_" + kind)) : null));
  }
  return list;
}

function actions(a, compact) {
  if (!boot.can_act) return null;
  const row = el("div", { class: "actions" });
  // handlers read the fields when clicked: a kept field may have moved in from an older card
  const field = (keep) => row.querySelector(`input[data-keep="${keep}"]`);
  const note = el("input", { class: "note", "data-keep": "note", placeholder: text("note"), "aria-label": text("note"), maxlength: "500" });
  if (!a.acknowledged) {
    row.append(note, el("button", { type: "button", class: "ack", onclick: () => command("alarm.acknowledge", { alarm_id: a.alarm_id, note: field("note").value }) }, text("acknowledge")));
  }
  if (!compact) {
    row.append(a.police_called_at
      ? el("span", { class: "police-done" }, text("police_done") + " " + when(a.police_called_at))
      : el("button", { type: "button", class: "police", onclick: () => command("alarm.police_called", { alarm_id: a.alarm_id }) }, text("police")));
  }
  if (!a.active) {
    const closing = el("input", { class: "closing", "data-keep": "closing", placeholder: text("closing_note"), "aria-label": text("closing_note"), maxlength: "500" });
    row.append(closing, el("button", { type: "button", class: "reset", onclick: () => {
      const typed = field("closing");
      if (!typed.value.trim()) { typed.focus(); notice(text("closing_note"), true); return; }
      command("alarm.reset", { alarm_id: a.alarm_id, note: typed.value });
    } }, text("reset")));
  } else if (!compact) {  // why there is no reset yet
    row.append(el("span", { class: "reset-hint" }, text(a.condition === "panic" ? "reset_hint" : "reset_hint_other")));
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
  const siteClock = document.getElementById("site-clock");
  if (siteClock) siteClock.textContent = clock.format(new Date(now));
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
  const sig = JSON.stringify(alarm || null);
  if (box.dataset.sig === sig) return;  // unchanged: a note being typed stays as it is
  box.dataset.sig = sig;
  const old = box.firstElementChild;
  const row = alarm ? actions(alarm, false) : null;
  keepingFocus(() => {
    if (old && row) kept(old, row);
    else box.replaceChildren(...(row ? [row] : []));
  });
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

// -- the alarm bar (every page) and the standing conditions (the board's strip, the gates page)

function renderAlarmBar() {
  const bar = document.getElementById("alarm-bar");
  if (!bar) return;
  const open = sorted();
  bar.hidden = !open.length;
  bar.dataset.count = String(open.length);
  if (!open.length) return;
  const counts = lasting("barCounts", () => bar.appendChild(el("span", { class: "counts" })));
  const link = lasting("barLink", () => bar.appendChild(el("a", { class: "newest" })));
  const tally = {};
  for (const a of open) tally[a.severity] = (tally[a.severity] || 0) + 1;
  counts.replaceChildren(...Object.keys(SEVERITY).filter((k) => tally[k]).map((k) =>
    el("span", { class: "count sev-" + k, "data-severity": k }, text(k) + " " + tally[k])));
  // the newest critical alarm nobody has acknowledged: one click to it (sorted: newest first)
  const top = open.find((a) => a.severity === "critical" && needsAck(a));
  bar.classList.toggle("critical", !!top);
  if (top) {
    link.hidden = false;
    link.href = "/alarms/" + encodeURIComponent(top.alarm_id);
    link.dataset.newest = top.alarm_id;  // not data-alarm: that names the page's own alarm
    link.textContent = text("bar_newest") + ": " + conditionName(top) + " · " + (top.location || pointName(top)) +
      " · " + when(top.raised_at) + " — " + text("bar_go");
  } else {
    link.hidden = true;
    link.removeAttribute("href");
  }
}

function stripItem(strip, key, tag = "span") {
  let item = strip.querySelector(`[data-item="${key}"]`);
  if (!item) strip.append(item = el(tag, { "data-item": key }));
  return item;
}

const since = (iso) => [text("since"), " ", when(iso), " (", el("span", { class: "age", "data-since": iso }, span(Date.now() - new Date(iso))), ")"];

function renderStanding() {
  const s = state.standing;
  if (!s) return;
  if (document.body.dataset.page === "board") { renderStrip(s); renderStandingCards(s); }
  if (document.body.dataset.page === "access") renderGates(s);
  if (document.body.dataset.page === "devices") renderPlatformLink(s.broker);
}

function renderStrip(s) {
  const strip = document.getElementById("status-strip");
  if (!strip) return;
  const set = (key, bad, ...content) => {
    const item = stripItem(strip, key, key === "devices" ? "a" : "span");
    item.className = "st " + (bad ? "bad" : "ok");
    item.dataset.state = bad ? "bad" : "ok";
    item.replaceChildren(...content.flat(Infinity));
    return item;
  };
  const b = s.broker;
  set("platform", !b.up, text("st_platform"), ": ", b.up ? text("st_up") : [text("st_down"), " ",
    el("span", { class: "age", "data-since": b.down_since }, span(Date.now() - new Date(b.down_since)))],
    " · ", el("span", { class: "backlog" }, String(b.backlog)), " ", text("st_backlog"));
  set("lockdown", !!s.lockdown, s.lockdown
    ? [text("lockdown_on"), " · ", text("by"), " ", s.lockdown.by, " · ", since(s.lockdown.since)]
    : text("lockdown_off"));
  set("fire", s.fire_release, s.fire_release ? text("fire_release") : text("st_fire_release_off"));
  set("drill", !!s.drill, s.drill ? [text("drill"), " · ", s.drill.note || "", " · ", since(s.drill.since)] : text("st_no_drill"));
  const devices = set("devices", s.offline.length > 0, s.offline.length
    ? [String(s.offline.length), " ", text("st_offline"), ": ", s.offline.slice(0, 3).join(", "), s.offline.length > 3 ? " …" : ""]
    : text("st_all_online"));
  devices.href = "/devices";
  const st = s.storage;
  set("storage", !st.ok, text("st_storage"), ": ", st.why || "", st.free_gib === null ? "" :
    [st.why ? " · " : "", (st.ok ? "" : text("st_low") + " · ") + text("st_free") + " " + st.free_gib + " GiB (" + st.free_percent + "%)"]);
  const clockItem = stripItem(strip, "clock");
  clockItem.className = "st clock";
  if (!clockItem.firstChild) clockItem.append(text("st_clock") + " ", el("time", { id: "site-clock" }, clock.format(new Date())));
}

function renderStandingCards(s) {
  // a standing condition that needs an action is also a card: a lockdown, to be ended
  const box = document.getElementById("standing-cards");
  if (!box) return;
  const nodes = [];
  if (s.lockdown) {
    const key = "lockdown " + s.lockdown.since;
    if (boardParts.lockdownKey !== key) {
      boardParts.lockdownKey = key;
      boardParts.lockdownCard = el("article", { class: "standing-card", "data-standing": "lockdown", tabindex: "-1" },
        el("header", {}, el("strong", { class: "what" }, text("lockdown_on"))),
        el("p", { class: "where" }, text("by"), " ", s.lockdown.by, s.lockdown.note ? " · " + s.lockdown.note : "", " · ", since(s.lockdown.since)),
        el("div", { class: "actions" }, boot.role === "supervisor"
          ? el("button", { type: "button", class: "ack", onclick: () => command("lockdown.stop", {}) }, text("lockdown_stop"))
          : el("span", { class: "reset-hint" }, text("lockdown_only_supervisor"))));
    }
    nodes.push(boardParts.lockdownCard);
  }
  keepingFocus(() => place(box, nodes));
}

function renderPlatformLink(b) {
  // the devices page's platform link and outbox backlog, live like the board's strip
  const broker = document.getElementById("broker");
  if (!broker) return;
  broker.textContent = text(b.up ? "connected" : "disconnected");
  broker.className = b.up ? "ok" : "bad";
  document.getElementById("outbox-backlog").textContent = String(b.backlog);
  document.getElementById("outbox-life-safety").textContent = String(b.life_safety_backlog);
}

function renderGates(s) {
  // the gates page follows lockdown, fire release and each gate's confirmation without a reload
  const heading = document.querySelector("section.access > h1");
  if (heading) {
    heading.replaceChildren(text("lockdown") + ": ",
      s.lockdown ? el("strong", { class: "bad" }, text("lockdown_on")) : el("span", { class: "ok" }, text("lockdown_off")),
      s.lockdown ? el("span", { class: "muted" }, " " + text("by") + " " + s.lockdown.by + " · " + (s.lockdown.note || "")) : null,
      s.fire_release ? el("strong", { class: "bad", id: "fire-release" }, " " + text("fire_release")) : null);
  }
  const form = document.querySelector("form[data-command^='lockdown.']");
  if (form) {
    form.dataset.command = s.lockdown ? "lockdown.stop" : "lockdown.start";
    const button = form.querySelector("button");
    button.textContent = text(s.lockdown ? "lockdown_stop" : "lockdown_start");
    button.className = s.lockdown ? "ack" : "police";
    const note = form.querySelector("input[data-keep=lockdown-note], input[name=note]");
    if (note) { note.dataset.keep = "lockdown-note"; note.hidden = !!s.lockdown; note.name = s.lockdown ? "" : "note"; }
  }
  for (const g of s.gates) {
    const row = document.querySelector(`tr[data-gate="${CSS.escape(g.gate)}"]`);
    if (!row) continue;
    const mode = row.querySelector(".mode");
    mode.textContent = text("mode_" + g.mode);
    mode.className = "mode " + (g.mode === "locked" ? "bad" : "ok");
    row.cells[2].textContent = g.cause;
    const waiting = row.cells[3].querySelector("strong.bad");
    if (g.devices.length && !g.confirmed && !waiting) row.cells[3].append(" ", el("strong", { class: "bad" }, text("unconfirmed")));
    if (g.confirmed && waiting) waiting.remove();
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
