// Follow-up, evacuation and the supervisor's pages: the tasks count on every page, the guard's
// instructions on each alarm card, the live roll call with tick-off, the handover note.
// Loaded after console.js, whose helpers (el, text, command, notice, boot) it uses.
"use strict";

(() => {
  const page = document.body.dataset.page;
  const FIRE = new Set(["fire", "pre_alarm"]);
  const PRESENCE = /^campus\.(access\.granted|visitor\.|student\.|audit\.command)/;
  const later = (fn, ms) => { let timer = null; return () => { clearTimeout(timer); timer = setTimeout(fn, ms); }; };

  // -- the tasks count: alarms closed with a report still owed ------------------------------

  async function refreshTasks() {
    const response = await fetch("/api/tasks", { redirect: "manual" }).catch(() => null);
    if (!response || !response.ok) return;
    const { tasks } = await response.json();
    const badge = document.getElementById("task-count");
    badge.hidden = !tasks.length;
    badge.textContent = String(tasks.length);
    badge.classList.toggle("overdue", tasks.some((t) => t.overdue.some((k) => !(k in t.reports_done))));
    if (page === "tasks" && document.querySelectorAll("tr[data-task]").length !== tasks.length) location.reload();
  }
  window.followUpAlarm = later(refreshTasks, 300);
  refreshTasks();

  // -- on each alarm card: what to do (the site file's instructions), the roll call for a fire

  window.cardInstructions = (a, compact) => {
    if (compact) return null;
    const guide = boot.instructions?.[a.condition];
    const fire = FIRE.has(a.condition);
    if (!guide && !fire) return null;
    return el("div", { class: "instructions" },
      guide ? el("p", {}, el("strong", {}, text("instructions") + ": "), guide.text) : null,
      guide?.call?.length ? el("p", {}, text("call") + ": ", guide.call.flatMap((c, i) => [i ? " · " : "", el("strong", {}, c)])) : null,
      guide?.go_to ? el("p", {}, text("go_to") + ": ", el("strong", {}, guide.go_to)) : null,
      fire ? el("a", { class: "evacuation-link", href: "/evacuation?alarm=" + encodeURIComponent(a.alarm_id) }, text("evacuation")) : null);
  };

  // -- the evacuation roll call: live from the gates, ticked off at the assembly point ------

  const roll = document.getElementById("evacuation");
  async function refreshRoll() {
    const response = await fetch("/api/evacuation", { redirect: "manual" }).catch(() => null);
    if (!response || !response.ok) return;
    const fresh = await response.json();
    const open = fresh.evacuation;
    if ((open?.evacuation_id || "") !== roll.dataset.evacuation) { location.reload(); return; }
    const body = document.getElementById("roll-rows");
    const rows = new Map([...body.querySelectorAll("tr[data-person]")].map((r) => [r.dataset.person, r]));
    body.querySelector("tr.nobody")?.remove();
    for (const p of fresh.people) {
      let row = rows.get(p.person_id);
      rows.delete(p.person_id);
      const cells = [[p.name || p.person_id, ...(p.name ? [" ", el("small", { class: "muted" }, p.person_id)] : [])],
        text(p.category, p.category), p.gate_name, p.since_local, p.ticked_by ? p.ticked_by + " " + p.ticked_at : ""];
      if (!row) {
        row = el("tr", { "data-person": p.person_id },
          el("td", {}, el("input", { type: "checkbox", class: "tick", "aria-label": text("tick") + ": " + (p.name || p.person_id), disabled: !(open && boot.can_act) })),
          ...cells.map((c, i) => el("td", { class: i === 4 ? "ticked-by" : i === 0 ? "name" : null }, c)));
        body.append(row);
      } else {
        row.querySelector(".ticked-by").textContent = cells[4];
      }
      row.classList.toggle("assembled", !!p.ticked_by);
      const box = row.querySelector("input.tick");
      if (!box.dataset.sending) box.checked = !!p.ticked_by;
    }
    for (const gone of rows.values()) gone.remove();  // left through a gate
    document.getElementById("on-campus-count").textContent = fresh.people.length;
    document.getElementById("assembled-count").textContent = fresh.ticked;
    document.getElementById("missing-count").textContent = fresh.people.length - fresh.ticked;
    document.getElementById("category-counts").textContent = Object.entries(fresh.counts)
      .map(([c, [n, ticked]]) => ` · ${text(c, c)} ${ticked}/${n}`).join("");
  }
  if (roll) {
    const refresh = later(refreshRoll, 200);
    window.followUpEvent = (e) => { if (PRESENCE.test(e.type)) refresh(); };
    document.getElementById("print-roll").addEventListener("click", () => window.print());
    document.getElementById("roll-rows").addEventListener("change", async (event) => {
      const box = event.target;
      if (!box.matches("input.tick")) return;
      box.dataset.sending = "1";
      const answer = await command("evacuation.tick", { evacuation_id: roll.dataset.evacuation,
        person_id: box.closest("tr").dataset.person, present: box.checked });
      delete box.dataset.sending;
      if (answer.status !== "ok") box.checked = !box.checked;
      refreshRoll();
    });
  }

  // -- the supervisor's handover note -------------------------------------------------------

  const handover = document.getElementById("handover");
  handover?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const note = document.getElementById("handover-note");
    const answer = await command("shift.handover", { note: note.value });
    if (answer.status !== "ok") return;
    notice(text("handover_saved"));
    note.value = "";
    setTimeout(() => location.reload(), 500);
  });
})();
