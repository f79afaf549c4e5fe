/* Charm Studio — small progressive enhancements, no dependencies.

   [data-copy]            click copies its value; an empty value copies the element named
                          by data-copy-target (a selector), else the <pre> of the enclosing
                          .code block. The button says "Copied" for 1.5 s.
   time[datetime][data-relative]
                          shows "3 min ago" / "in 2 h", exact UTC time in title; refreshed
                          every 30 s and after htmx swaps.
   Keyboard               "/" focuses the first visible [data-search]; Escape leaves it.
                          j / k move .is-selected through visible [data-row] elements;
                          Enter opens the selected row's data-href (or clicks the row,
                          so an hx-get row loads its pane).
   Row links              a click on [data-row][data-href] (outside links, buttons and
                          form controls) opens data-href; Ctrl/Cmd-click opens a new tab.
   [data-autosubmit]      a select or input that submits its form on change.
   form[data-confirm]     asks the confirm() question before submitting.
   [data-dismiss]         removes the closest .alert.
   details.menu           closes on a click outside it or on Escape.
   [data-poll-visible]    an htmx poller that skips its request while the tab is hidden
                          (here, not in an hx-trigger filter: those need eval, which the
                          Content-Security-Policy forbids).
*/
(function () {
  "use strict";

  /* ── Relative times ─────────────────────────────────────────────────── */
  var UNITS = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];

  function relative(date, now) {
    var seconds = Math.round((now - date) / 1000);
    var future = seconds < 0;
    var abs = Math.abs(seconds);
    if (abs < 10) return "just now";
    if (abs >= 30 * 86400) {
      var opts = { month: "short", day: "numeric" };
      if (date.getFullYear() !== new Date(now).getFullYear()) opts.year = "numeric";
      return date.toLocaleDateString(undefined, opts);
    }
    for (var i = 0; i < UNITS.length; i++) {
      if (abs >= UNITS[i][1]) {
        var text = Math.floor(abs / UNITS[i][1]) + " " + UNITS[i][0];
        return future ? "in " + text : text + " ago";
      }
    }
    return "just now";
  }

  function exactUtc(date) {
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime][data-relative]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      el.textContent = relative(date, now);
      el.title = exactUtc(date);
    });
  }

  /* ── Copy ───────────────────────────────────────────────────────────── */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP deployments have no Clipboard API: fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.cssText = "position:fixed;top:0;left:0;opacity:0";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      area.remove();
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  function copyValue(button) {
    var value = button.getAttribute("data-copy");
    if (value) return value;
    var selector = button.getAttribute("data-copy-target");
    var source = selector ? document.querySelector(selector) : null;
    if (!source) {
      var block = button.closest(".code");
      source = block && block.querySelector("pre");
    }
    return source ? source.textContent.trim() : "";
  }

  function onCopy(button) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(copyValue(button)).then(
      function () { flash(button, "Copied", "is-copied", label); },
      function () { flash(button, "Press Ctrl+C", "", label); }
    );
  }

  function flash(button, text, cls, label) {
    button.textContent = text;
    if (cls) button.classList.add(cls);
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      button.textContent = label;
      button.classList.remove("is-copied");
    }, 1500);
  }

  /* ── Row selection ──────────────────────────────────────────────────── */
  function visibleRows() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-row]"), function (row) {
      return row.offsetParent !== null;
    });
  }

  function moveSelection(step) {
    var rows = visibleRows();
    if (!rows.length) return;
    var current = rows.findIndex(function (row) { return row.classList.contains("is-selected"); });
    var next = current === -1 ? (step > 0 ? 0 : rows.length - 1)
                              : Math.min(rows.length - 1, Math.max(0, current + step));
    rows.forEach(function (row) { row.classList.remove("is-selected"); });
    rows[next].classList.add("is-selected");
    rows[next].scrollIntoView({ block: "nearest" });
  }

  function openRow(row, newTab) {
    var href = row.getAttribute("data-href");
    if (!href) { row.click(); return; }
    if (newTab) window.open(href, "_blank", "noopener");
    else window.location.assign(href);
  }

  function isTyping(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  /* ── Events (delegated, so htmx-swapped content works without rebinding) ── */
  document.addEventListener("click", function (event) {
    var target = event.target;
    var copy = target.closest("[data-copy]");
    if (copy) { event.preventDefault(); onCopy(copy); return; }

    var dismiss = target.closest("[data-dismiss]");
    if (dismiss) { var alert = dismiss.closest(".alert"); if (alert) alert.remove(); return; }

    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(target)) menu.removeAttribute("open");
    });

    var row = target.closest("[data-row][data-href]");
    if (row && !target.closest("a, button, input, select, textarea, label, summary")) {
      if (window.getSelection && String(window.getSelection())) return; // selecting text
      openRow(row, event.metaKey || event.ctrlKey);
    }
  });

  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) field.form.requestSubmit();
  });

  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Escape") {
      document.querySelectorAll("details.menu[open]").forEach(function (m) { m.removeAttribute("open"); });
      if (event.target.matches && event.target.matches("[data-search]")) event.target.blur();
      return;
    }
    if (isTyping(event.target)) return;
    if (event.key === "/") {
      var search = Array.prototype.find.call(document.querySelectorAll("[data-search]"), function (el) {
        return el.offsetParent !== null;
      });
      if (search) { event.preventDefault(); search.focus(); search.select && search.select(); }
    } else if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      moveSelection(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter") {
      var selected = document.querySelector("[data-row].is-selected");
      if (selected && !event.target.closest("a, button, summary")) {
        event.preventDefault();
        openRow(selected, event.shiftKey);
      }
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    refreshTimes(event.target);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute("data-poll-visible") && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });

  function start() {
    refreshTimes(document);
    setInterval(function () { refreshTimes(document); }, 30000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.Studio = { refreshTimes: refreshTimes, relative: relative };
})();
