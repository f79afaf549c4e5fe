/* Runs list and error pages: small enhancements on top of htmx and studio.js.

   [data-runs-page]       a 400 answer (filters that cannot be used) is swapped in like any
                          other, so its message shows where the table was.
                          The selected row (j/k) stays selected across live refreshes.
   [data-plotly="id"]     draws the Plotly figure in the json_script element with that id
                          (built by runs/charts.py); "var(--x)" colours take the theme's value.
   [data-toggle-class]    a checkbox that toggles a class (data-toggle-class) on the element
                          named by data-toggle-target.
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

  function start() {
    drawCharts(document);
    var scheme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme && scheme.addEventListener) {
      scheme.addEventListener("change", function () { drawCharts(document); });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
