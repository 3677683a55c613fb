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
