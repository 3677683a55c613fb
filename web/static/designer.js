// Receipt designer (F5.3): live preview of the element table, drag to place, add/remove rows.
"use strict";
(function designer() {
  const form = document.getElementById("designer-form");
  const preview = document.getElementById("preview");
  if (!form || !preview) return;
  const samples = JSON.parse(preview.dataset.samples);
  const fieldOptions = JSON.parse(preview.dataset.fieldOptions);
  const tbody = form.querySelector("#elements tbody");
  const papers = { A4: [210, 297], A5: [148, 210], roll58: [58, 160], roll80: [80, 180] };

  const value = (row, name) => {
    const input = row.querySelector(`[name="${name}"]`);
    return input ? input.value : "";
  };
  const checked = (row, name) => {
    const input = row.querySelector(`[name="${name}"]`);
    return Boolean(input && input.checked);
  };

  function reindex() {
    tbody.querySelectorAll("tr").forEach((row, index) => {
      row.dataset.index = index;
      row.querySelectorAll('[name="el_bold"], [name="el_label"]').forEach((box) => { box.value = index; });
    });
  }

  function render() {
    reindex();
    const paper = form.querySelector('[name="paper"]').value;
    const heightInput = form.querySelector('[name="height_mm"]');
    const fixed = paper === "A4" || paper === "A5";
    if (fixed) heightInput.value = papers[paper][1];
    heightInput.readOnly = fixed;
    const sheet = preview.querySelector(".receipt-sheet");
    sheet.style.width = `${papers[paper][0]}mm`;
    sheet.style.height = `${heightInput.value}mm`;
    sheet.querySelectorAll(".el").forEach((el) => el.remove());
    tbody.querySelectorAll("tr").forEach((row, index) => {
      const kind = value(row, "el_kind");
      const el = document.createElement("div");
      el.className = "el";
      el.dataset.index = index;
      el.style.left = `${value(row, "el_x_mm")}mm`;
      el.style.top = `${value(row, "el_y_mm")}mm`;
      if (kind === "line") {
        el.classList.add("rule");
        el.style.width = `${value(row, "el_width_mm")}mm`;
        el.style.borderTop = "1px solid #000";
        el.style.height = "0";
      } else {
        el.style.fontSize = `${value(row, "el_font_pt")}pt`;
        el.style.fontWeight = checked(row, "el_bold") ? "700" : "400";
        if (kind === "field") {
          const key = value(row, "el_value");
          const info = samples[key] || { label: key, sample: "" };
          el.dataset.key = key;
          el.textContent = checked(row, "el_label") ? `${info.label}：${info.sample}` : info.sample;
        } else {
          el.textContent = value(row, "el_value");
        }
      }
      sheet.appendChild(el);
    });
  }

  function cell(html) {
    const td = document.createElement("td");
    td.innerHTML = html;
    return td;
  }

  function addRow(kind) {
    const row = document.createElement("tr");
    const options = fieldOptions.map(([key, text]) => `<option value="${key}">${text}</option>`).join("");
    const first = kind === "field"
      ? `<input type="hidden" name="el_kind" value="field"><select name="el_value">${options}</select>`
      : kind === "text"
        ? `<input type="hidden" name="el_kind" value="text"><input name="el_value" value="文字">`
        : `<input type="hidden" name="el_kind" value="line"><input type="hidden" name="el_value" value="">—`;
    row.appendChild(cell(first));
    row.appendChild(cell('<input name="el_x_mm" type="number" min="0" value="10" style="width:58px">'));
    row.appendChild(cell('<input name="el_y_mm" type="number" min="0" value="10" style="width:58px">'));
    row.appendChild(cell(kind === "line"
      ? '<input type="hidden" name="el_font_pt" value="10"><input name="el_width_mm" type="number" min="0" value="60" style="width:58px">'
      : '<input name="el_font_pt" type="number" min="6" max="48" value="10" style="width:52px"><input type="hidden" name="el_width_mm" value="0">'));
    row.appendChild(cell('<input type="checkbox" name="el_bold" value="0">'));
    row.appendChild(cell(kind === "field" ? '<input type="checkbox" name="el_label" value="0" checked>' : ""));
    row.appendChild(cell('<button type="button" class="btn danger small" data-remove-row>✕</button>'));
    tbody.appendChild(row);
    render();
    const focus = row.querySelector("select, input:not([type=hidden])");
    if (focus) focus.focus();
  }

  form.addEventListener("input", render);
  form.addEventListener("change", render);
  form.addEventListener("submit", reindex);
  form.addEventListener("click", (event) => {
    const add = event.target.closest("[data-add]");
    if (add) addRow(add.dataset.add);
    const remove = event.target.closest("[data-remove-row]");
    if (remove) { remove.closest("tr").remove(); render(); }
  });

  // Drag an element in the preview; its row's X/Y follow (whole millimetres).
  let drag = null;
  preview.addEventListener("pointerdown", (event) => {
    const el = event.target.closest(".el");
    if (!el) return;
    const row = tbody.querySelectorAll("tr")[Number(el.dataset.index)];
    const sheet = preview.querySelector(".receipt-sheet");
    const pxPerMm = sheet.getBoundingClientRect().width / papers[form.querySelector('[name="paper"]').value][0];
    drag = { el, row, pxPerMm, startX: event.clientX, startY: event.clientY,
             x: Number(value(row, "el_x_mm")), y: Number(value(row, "el_y_mm")) };
    preview.querySelectorAll(".el.selected").forEach((e) => e.classList.remove("selected"));
    el.classList.add("selected");
    el.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  preview.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = Math.round((event.clientX - drag.startX) / drag.pxPerMm);
    const dy = Math.round((event.clientY - drag.startY) / drag.pxPerMm);
    drag.row.querySelector('[name="el_x_mm"]').value = Math.max(0, drag.x + dx);
    drag.row.querySelector('[name="el_y_mm"]').value = Math.max(0, drag.y + dy);
    drag.el.style.left = `${Math.max(0, drag.x + dx)}mm`;
    drag.el.style.top = `${Math.max(0, drag.y + dy)}mm`;
  });
  preview.addEventListener("pointerup", () => {
    if (drag) { drag = null; render(); }
  });
  render();
})();
