/* Usage and revenue charts.

   [data-chart="ID"]   draws the Plotly figure in <script id="ID" type="application/json">
                       (built by billing/charts.py). Every "var(--x)" string in it takes
                       the theme's value of --x, so charts follow light and dark.
   Charts are drawn on load, after every htmx swap or history restore, and again when
   the theme changes.
*/
(function () {
  "use strict";

  var CONFIG = { displayModeBar: false, responsive: true };

  function resolve(value, styles) {
    if (typeof value === "string") {
      var match = /^var\((--[\w-]+)\)$/.exec(value);
      return match ? styles.getPropertyValue(match[1]).trim() || value : value;
    }
    if (Array.isArray(value)) return value.map(function (v) { return resolve(v, styles); });
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (key) { out[key] = resolve(value[key], styles); });
      return out;
    }
    return value;
  }

  function draw(root) {
    if (!window.Plotly) return;
    var styles = getComputedStyle(document.documentElement);
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) return;
      var figure = resolve(JSON.parse(source.textContent), styles);
      window.Plotly.react(el, figure.data, figure.layout, CONFIG);
      el.setAttribute("data-drawn", "true");
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
  // Back/forward restores a saved copy of the page: draw its charts afresh.
  document.addEventListener("htmx:historyRestore", function () { draw(document); });

  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
  if (dark && dark.addEventListener) dark.addEventListener("change", function () { draw(document); });

  function start() { draw(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.StudioBilling = { draw: draw };
})();
