// Video beside the alarm: the snapshot on each board card, live views proxied by the gateway
// (/video/live/<camera>: MJPEG under the console's session, never the camera's address), the
// alarm page's live views and the cameras page's health. console.js calls cardPicture(alarm)
// for a card and videoEvent(update) for each "event" of its stream; the rest runs by itself.
"use strict";

(() => {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const text = (key) => boot.text[key] ?? key;
  const RETRY_MS = 5000, REFRESH_MS = 5000, EVENT_DEBOUNCE_MS = 700, SWEEP_MS = 2000;
  const cards = new Map();  // alarm id -> its picture box, kept across re-renders of the board
  let refreshTimer = null;
  const clock = new Intl.DateTimeFormat(boot.language, {
    timeZone: boot.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  // elements are built with console.js's el(): both scripts are the page's, and video.js builds
  // only after the page has loaded (console.js runs just after it)

  // -- a live view: an <img> on the gateway's MJPEG, retried while shown, closed when hidden --

  function startLive(img) {
    const camera = img.dataset.live;
    const problem = img.parentElement?.querySelector(".live-problem");
    img.dataset.on = "1";
    img.onload = () => { if (problem) problem.hidden = true; };
    img.onerror = () => {
      if (img.dataset.on !== "1") return;
      if (problem) problem.hidden = false;  // refused (too many viewers) or the gateway went
      setTimeout(() => { if (img.dataset.on === "1") img.src = liveUrl(camera); }, RETRY_MS);
    };
    img.src = liveUrl(camera);
  }

  function stopLive(img) {
    // a new src aborts the MJPEG request: the gateway frees the viewer and, if it was the
    // last, stops asking the camera
    img.dataset.on = "";
    img.removeAttribute("src");
    img.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
  }

  const liveUrl = (camera) => "/video/live/" + encodeURIComponent(camera) + "?t=" + Date.now();

  function liveView(camera, name, width = 240, height = 180) {
    const img = el("img", { class: "live", "data-live": camera, alt: text("live_view") + " · " + name, width, height });
    return el("figure", { class: "live-view" }, img,
      el("figcaption", {}, text("live") + " · " + name),
      el("p", { class: "live-problem", hidden: true }, text("live_unavailable")));
  }

  // -- the board card's pictures ----------------------------------------------------------

  function cardPicture(alarm, compact = false) {
    if (compact) return null;
    let box = cards.get(alarm.alarm_id);
    if (!box) {
      box = el("div", { class: "card-video", "data-video-for": alarm.alarm_id });
      cards.set(alarm.alarm_id, box);
      fillCard(box, alarm.alarm_id);
    }
    return box;
  }

  async function fillCard(box, alarmId) {
    let found;
    try {
      const response = await fetch("/api/video/alarms/" + encodeURIComponent(alarmId));
      if (!response.ok) return;
      found = await response.json();
    } catch (error) { return; }
    box.dataset.snapshots = String(found.snapshots.length);
    box.dataset.cameras = String(found.cameras.length);
    if (!found.snapshots.length && !found.cameras.length) { box.replaceChildren(); return; }
    const newest = found.snapshots[found.snapshots.length - 1];
    const names = Object.fromEntries(found.cameras.map((c) => [c.camera, c.name]));
    const shown = box.querySelector("img.snapshot");
    if (newest && shown?.dataset.media === newest.media_id) return;  // already the newest
    const live = box.querySelector(".live-slot");  // a live view the guard opened stays open
    const picture = newest
      ? el("figure", { class: "snapshot" },
        el("a", { href: newest.url, target: "_blank" },
          el("img", { class: "snapshot", src: newest.url, "data-media": newest.media_id, width: 240, height: 180,
            alt: text("snapshot") + " · " + (names[newest.camera] || newest.camera) })),
        el("figcaption", {}, text("snapshot") + " · " + (names[newest.camera] || newest.camera) + " · " +
          clock.format(new Date(newest.captured_at))))
      : el("p", { class: "no-snapshot" }, text("no_snapshot"));
    const buttons = found.cameras.slice(0, 2).map((c) => el("button", {
      type: "button", class: "small live-toggle", "data-camera": c.camera, "data-name": c.name, "aria-pressed": "false",
      onclick: (event) => toggleLive(box, c.camera, c.name, event.currentTarget),
    }, text("live_show") + " · " + c.name));
    box.replaceChildren(picture, live || el("div", { class: "live-slot" }), el("div", { class: "live-buttons" }, buttons));
  }

  function toggleLive(box, camera, name, button) {
    const slot = box.querySelector(".live-slot");
    const open = slot.querySelector(`img[data-live="${CSS.escape(camera)}"]`);
    for (const img of slot.querySelectorAll("img.live")) stopLive(img);
    slot.replaceChildren();
    for (const other of box.querySelectorAll(".live-toggle")) {
      other.setAttribute("aria-pressed", "false");
      other.textContent = text("live_show") + " · " + other.dataset.name;
    }
    if (open) return;  // it was showing: now closed
    const view = liveView(camera, name);
    slot.append(view);
    startLive(view.querySelector("img"));
    button.setAttribute("aria-pressed", "true");
    button.textContent = text("live_hide") + " · " + name;
  }

  function sweep() {
    // a card that left the board (its alarm closed, or folded into a flood group) lets its
    // live view go: the browser would otherwise keep the stream, and its place, open
    for (const [alarmId, box] of cards) {
      if (box.isConnected) continue;
      for (const img of box.querySelectorAll("img.live")) stopLive(img);
      cards.delete(alarmId);
    }
  }

  function videoEvent(update) {
    // a snapshot or clip was stored: look again at the cards (once for a burst of them)
    if (update.type !== "campus.camera.snapshot" && update.type !== "campus.camera.clip") return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      sweep();
      for (const [alarmId, box] of cards) fillCard(box, alarmId);
      if (document.body.dataset.page === "alarm") fillAlarmPage();
    }, EVENT_DEBOUNCE_MS);
  }

  // -- the alarm page: live views of the alarm's cameras -----------------------------------

  async function fillAlarmPage() {
    const box = document.getElementById("alarm-live");
    if (!box || box.dataset.filled) return;
    const response = await fetch("/api/video/alarms/" + encodeURIComponent(box.dataset.alarm));
    if (!response.ok) return;
    const found = await response.json();
    if (!found.cameras.length) return;
    box.dataset.filled = "1";
    box.hidden = false;
    const grid = box.querySelector(".live-grid");
    for (const c of found.cameras.slice(0, 4)) {
      const view = liveView(c.camera, c.name, 480, 360);
      grid.append(view);
      startLive(view.querySelector("img"));
    }
  }

  // -- the cameras page: every camera's live view and health, refreshed --------------------

  function cameraState(c) {
    return text("cam_" + (c.state || "connecting"));
  }

  function keepalive(c) {
    if (!c.keepalive) return text("keepalive_events");
    return text(c.keepalive.includes("credentials") ? "keepalive_clock_auth" : "keepalive_clock");
  }

  async function refreshCameras() {
    try {
      const response = await fetch("/api/video/cameras", { redirect: "manual" });
      if (response.ok) {
        for (const c of (await response.json()).cameras) {
          const tile = document.querySelector(`.camera-tile[data-camera="${CSS.escape(c.camera)}"]`);
          if (!tile) continue;
          const set = (field, value) => { const cell = tile.querySelector(`[data-field="${field}"]`); if (cell) cell.textContent = value; };
          set("state", cameraState(c));
          tile.querySelector('[data-field="state"]').className = "cam-state " + (c.state === "up" ? "ok" : "bad");
          const missing = Object.keys(c.unavailable || {});
          set("unavailable", missing.length ? missing.map((n) => text("cam_" + n)).join(", ") : text("cam_all_available"));
          set("snapshot_auth", text("auth_" + (c.snapshot_auth || "none")));
          set("keepalive", keepalive(c));
          set("stream", c.stream ? text("stream_" + c.stream.state) : text("stream_none"));
          set("watching", c.live ? c.live.viewers : 0);
          set("reason", c.reason || "");
        }
      }
    } catch (error) { /* the gateway is restarting: the next look will tell */ }
    setTimeout(refreshCameras, REFRESH_MS);
  }

  setInterval(sweep, SWEEP_MS);
  window.cardPicture = cardPicture;
  window.videoEvent = videoEvent;
  document.addEventListener("DOMContentLoaded", () => {
    if (document.body.dataset.page === "cameras") {
      for (const img of document.querySelectorAll("img[data-live]")) startLive(img);
      setTimeout(refreshCameras, REFRESH_MS);
    }
    if (document.body.dataset.page === "alarm") fillAlarmPage();
  });
})();
