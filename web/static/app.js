// Small progressive enhancements; every page also works without JavaScript.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// On a phone the menu starts folded, so the page itself comes first.
if (window.matchMedia("(max-width: 860px)").matches) {
  const toggle = document.querySelector(".sidenav .nav-toggle");
  if (toggle) toggle.removeAttribute("open");
}

// Rows of a selectable table: click selects, double click (or Enter) opens the row's link.
document.addEventListener("dblclick", (event) => {
  const row = event.target.closest("tr[data-href]");
  if (row) window.location.href = row.dataset.href;
});
document.addEventListener("keydown", (event) => {
  const row = event.target.closest && event.target.closest("tr[data-href]");
  if (row && event.key === "Enter") window.location.href = row.dataset.href;
});

// The command-frame pane: server-sent events from /events/frames.
(function frames() {
  const pane = document.getElementById("frames");
  if (!pane || !window.EventSource) return;
  const list = pane.querySelector(".frames-list");
  const state = pane.querySelector(".frames-state");
  pane.querySelector(".frames-clear").addEventListener("click", () => { list.textContent = ""; });
  const source = new EventSource(pane.dataset.source);
  source.addEventListener("open", () => { state.textContent = state.dataset.live; });
  source.addEventListener("error", () => { state.textContent = state.dataset.lost; });
  source.addEventListener("frame", (message) => {
    const frame = JSON.parse(message.data);
    const item = document.createElement("li");
    item.className = frame.direction;
    const arrow = { tx: "→", rx: "←", info: "·", error: "!" }[frame.direction] || "·";
    const time = frame.at.slice(11, 23);
    item.textContent = `${time} ${arrow} [${frame.channel}${frame.meter ? " " + frame.meter : ""}] ${frame.data}${frame.note ? "  ; " + frame.note : ""}`;
    list.appendChild(item);
    while (list.children.length > 500) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  });
})();

// Operators page: tick all / none of the permission boxes.
document.addEventListener("click", (event) => {
  const all = event.target.closest("[data-check-all]");
  const none = event.target.closest("[data-check-none]");
  if (!all && !none) return;
  const boxes = event.target.closest("fieldset").querySelectorAll("input[type=checkbox]");
  boxes.forEach((box) => { box.checked = Boolean(all); });
});

// Price-type form: show only the parts of the chosen tariff kind (all stay in the form).
(function tariffKinds() {
  const form = document.querySelector("form.tariff-form");
  if (!form) return;
  const kind = form.querySelector("select[name=kind]");
  const apply = () => {
    form.querySelectorAll("[data-kinds]").forEach((part) => {
      part.hidden = !part.dataset.kinds.split(" ").includes(kind.value);
    });
  };
  kind.addEventListener("change", apply);
  apply();
})();

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});

// Money forms: a second click while the first is on its way does nothing here (the server
// returns the first result for the form's nonce anyway).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.querySelector("[data-once]")) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(() => form.querySelectorAll("[data-once]").forEach((b) => { b.disabled = true; }), 0);
});

// 购电信息 preview: the energy an amount buys on an energy meter, as the operator types.
(function quote() {
  const input = document.querySelector("input[data-quote]");
  const box = document.getElementById("quote");
  if (!input || !box || !input.dataset.quote) return;
  let timer = null;
  const show = async () => {
    const amount = input.value.trim();
    if (!/^\d+(\.\d{1,2})?$/.test(amount)) return;
    try {
      const answer = await fetch(`${input.dataset.quote}?amount=${encodeURIComponent(amount)}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await answer.json();
      if (!answer.ok) { box.textContent = `${body.error.code} ${body.error.message}`; return; }
      const tiers = body.tiers.map((t) => `${t.energy} kWh × ${t.price}`).join(" + ");
      box.innerHTML = "";
      const strong = document.createElement("strong");
      strong.textContent = `${body.energy} kWh`;
      box.append(strong, ` · ${tiers}${tiers ? " · " : ""}${box.dataset.left || "余"} ${body.remainder}`);
    } catch (error) { /* offline preview only; the sale itself decides */ }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 250); });
  show();
})();

// F7.5 read all: follow the job's progress without reloading.
(function jobProgress() {
  const box = document.getElementById("job");
  if (!box || box.dataset.state !== "running") return;
  const bar = box.querySelector("progress");
  const text = box.querySelector(".job-text");
  const poll = async () => {
    try {
      const answer = await fetch(box.dataset.job, { credentials: "same-origin" });
      const job = await answer.json();
      bar.max = job.total || 1;
      bar.value = job.done;
      text.textContent = `${job.done} / ${job.total}`;
      if (job.state !== "running") { window.location.reload(); return; }
    } catch (error) { /* keep trying */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 500);
})();

// Exports and backups: "preparing…" until the server starts sending the file (it sets a
// cookie carrying the token this page sent along).
(function downloads() {
  const notice = document.getElementById("preparing");
  if (!notice) return;
  const wait = (token) => {
    const started = Date.now();
    notice.hidden = false;
    const tick = () => {
      const done = document.cookie.split("; ").includes(`pg_download=${token}`);
      const seconds = Math.round((Date.now() - started) / 1000);
      if (done || seconds > 600) { notice.hidden = true; return; }
      notice.textContent = notice.dataset.text.replace("{seconds}", seconds);
      setTimeout(tick, 300);
    };
    tick();
  };
  const token = () => Math.random().toString(36).slice(2, 12).padEnd(10, "0");
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-export]");
    if (!link) return;
    const id = token();
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("download", id);
    link.href = url.toString();
    wait(id);
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-download]")) return;
    let field = form.querySelector("input[name=download]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "download";
      form.appendChild(field);
    }
    field.value = token();
    wait(field.value);
  });
})();

// The front panel's live mirror on the dashboard: a fresh image every 2 seconds.
(function () {
  var img = document.getElementById("panel-mirror");
  if (!img) return;
  var base = img.getAttribute("src").split("?")[0];
  setInterval(function () { img.src = base + "?t=" + Date.now(); }, 2000);
})();
