/* Runs list and error pages: small enhancements on top of htmx and studio.js.

   [data-runs-page]       a 400 answer (filters that cannot be used) is swapped in like any
                          other, so its message shows where the table was.
                          The selected row (j/k) stays selected across live refreshes.
   [data-plotly="id"]     draws the Plotly figure in the json_script element with that id
                          (built by runs/charts.py); "var(--x)" colours take the theme's value.
   [data-toggle-class]    a checkbox that toggles a class (data-toggle-class) on the element
                          named by data-toggle-target.
   [data-compare-pick]    the runs table's checkboxes: tick two runs (in order: A, then B)
                          and [data-compare-bar] links to the compare page with ?a=&b=; one
                          run ticked links to its picker (?a=). Ticks are kept by run id
                          across htmx swaps (filters, live refresh, more rows); a third
                          box stays disabled until one is unticked. "x" ticks the row
                          selected with j/k.
*/
(function () {
  "use strict";

  /* ── htmx: show filter errors, keep the selected row ───────────────────── */
  var selectedHref = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.closest || !target.closest("[data-runs-page]")) return;
    if (event.detail.xhr && event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    var selected = document.querySelector("[data-row].is-selected");
    selectedHref = selected ? selected.getAttribute("data-href") : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!selectedHref) return;
    document.querySelectorAll("[data-row][data-href]").forEach(function (row) {
      if (row.getAttribute("data-href") === selectedHref) row.classList.add("is-selected");
    });
    selectedHref = null;
  });

  /* ── Plotly figures themed with the page's colours ─────────────────────── */
  function resolveColors(value, style) {
    if (typeof value === "string") {
      var match = /^var\((--[\w-]+)\)$/.exec(value.trim());
      return match ? style.getPropertyValue(match[1]).trim() || value : value;
    }
    if (Array.isArray(value)) return value.map(function (v) { return resolveColors(v, style); });
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (key) { out[key] = resolveColors(value[key], style); });
      return out;
    }
    return value;
  }

  function drawCharts(root) {
    if (!window.Plotly) return;
    var style = getComputedStyle(document.body);
    (root || document).querySelectorAll("[data-plotly]").forEach(function (target) {
      var script = document.getElementById(target.getAttribute("data-plotly"));
      if (!script) return;
      var figure = resolveColors(JSON.parse(script.textContent), style);
      window.Plotly.react(target, figure.data, figure.layout, {
        displayModeBar: false, responsive: true,
      });
    });
  }

  /* ── Class toggles (e.g. "only my frames" on a traceback) ──────────────── */
  document.addEventListener("change", function (event) {
    var box = event.target.closest("[data-toggle-class]");
    if (!box) return;
    var target = document.querySelector(box.getAttribute("data-toggle-target"));
    if (target) target.classList.toggle(box.getAttribute("data-toggle-class"), box.checked);
  });

  /* ── Tick two runs, compare them ───────────────────────────────────────── */
  var ticked = [];  // run ids, in the order they were ticked

  function compareHref(base) {
    var query = new URLSearchParams();
    query.set("a", ticked[0]);
    if (ticked[1] !== undefined) query.set("b", ticked[1]);
    return base + "?" + query.toString();
  }

  function describe(target) {
    target.textContent = "";
    ticked.forEach(function (runId, index) {
      var side = document.createElement("span");
      side.className = "runs-compare__side";
      side.textContent = index === 0 ? "A" : "B";
      var code = document.createElement("code");
      code.textContent = runId;
      target.appendChild(side);
      target.appendChild(code);
    });
    if (ticked.length === 1) {
      var hint = document.createElement("span");
      hint.className = "muted";
      hint.textContent = "tick a second run, or pick one like it";
      target.appendChild(hint);
    }
  }

  function syncCompare() {
    var full = ticked.length >= 2;
    document.querySelectorAll("[data-compare-pick]").forEach(function (box) {
      box.checked = ticked.indexOf(box.value) !== -1;
      box.disabled = full && !box.checked;
      box.title = box.disabled ? "Two runs are ticked: untick one to pick another" : "";
    });
    var bar = document.querySelector("[data-compare-bar]");
    if (!bar) return;
    bar.hidden = ticked.length === 0;
    if (!ticked.length) return;
    describe(bar.querySelector("[data-compare-what]"));
    var go = bar.querySelector("[data-compare-go]");
    go.href = compareHref(bar.getAttribute("data-compare-url"));
    go.textContent = full ? "Compare" : "Compare with…";
    go.classList.toggle("btn--primary", full);
  }

  document.addEventListener("change", function (event) {
    var box = event.target.closest("[data-compare-pick]");
    if (!box) return;
    ticked = ticked.filter(function (runId) { return runId !== box.value; });
    if (box.checked) ticked.push(box.value);
    ticked = ticked.slice(0, 2);
    syncCompare();
  });

  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-compare-clear]")) return;
    ticked = [];
    syncCompare();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "x" || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    var row = document.querySelector("[data-row].is-selected");
    var box = row && row.querySelector("[data-compare-pick]");
    if (!box || box.disabled) return;
    event.preventDefault();
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  });

  document.addEventListener("htmx:afterSettle", syncCompare);

  function start() {
    syncCompare();
    drawCharts(document);
    var scheme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme && scheme.addEventListener) {
      scheme.addEventListener("change", function () { drawCharts(document); });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
