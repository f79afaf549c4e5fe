/* Run detail: row selection, the live tail (Server-Sent Events, polling as fallback).

   Rows            clicking a [data-key] row marks it selected; htmx loads its pane
                   (hx-get="?item=kind:key", pushed to the URL).
   Copy link       copies the current URL (the selected item is in it).
   Live tail       while #run-detail[data-live]: an EventSource on data-live-url
                   (?after=<position> the first time; the browser sends Last-Event-ID
                   on reconnects). "update" and "end" events carry JSON: the header,
                   the axis, and the rows that changed, each with the key of the row it
                   follows. Rows are replaced by key or inserted in place, then every
                   bar is rescaled to the new axis from its data-s / data-e times.
                   "end" closes the stream and reloads the timeline once, so gaps and
                   nesting are exact. If EventSource is missing or keeps failing, the
                   page polls the timeline with htmx every 3 s until the run ends.
*/
(function () {
  "use strict";

  var POLL_MS = 3000;
  var MAX_ERRORS = 3;
  var liveMode = null; // "stream", "poll" or null: shown by #live-indicator

  function $(selector, root) { return (root || document).querySelector(selector); }

  /* ── Selection ──────────────────────────────────────────────────────── */
  function select(key) {
    document.querySelectorAll("#wf-rows .is-selected").forEach(function (el) {
      el.classList.remove("is-selected");
    });
    if (!key) return;
    var row = document.querySelector('#wf-rows [data-key="' + cssEscape(key) + '"]');
    if (row) row.classList.add("is-selected");
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : value.replace(/["\\]/g, "\\$&");
  }

  function currentItem() {
    return new URLSearchParams(window.location.search).get("item");
  }

  document.addEventListener("click", function (event) {
    var copyLink = event.target.closest(".rd-copylink");
    if (copyLink) {
      var holder = $("#run-permalink");
      if (holder) holder.textContent = window.location.href;
    }
    var row = event.target.closest("#wf-rows [data-key]");
    if (row && row.hasAttribute("data-row")) select(row.getAttribute("data-key"));
    var mark = event.target.closest(".rd-logmark");
    if (mark) {
      select(null);
      mark.classList.add("is-selected");
    }
  }, true);

  // Back/forward restores the URL's item: mark its row again.
  document.addEventListener("htmx:historyRestore", function () { select(currentItem()); });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "detail-pane") event.target.scrollTop = 0;
  });

  /* ── Rescaling bars to a new axis ───────────────────────────────────── */
  function rescale(start, end) {
    var span = Math.max(end - start, 1);
    var timeline = $("#timeline");
    if (timeline) {
      timeline.setAttribute("data-start", start);
      timeline.setAttribute("data-end", end);
    }
    document.querySelectorAll("#wf-rows [data-s]").forEach(function (row) {
      var bar = row.querySelector(".waterfall__bar");
      if (!bar) return;
      var s = +row.getAttribute("data-s");
      var e = row.getAttribute("data-e");
      var point = row.hasAttribute("data-point");
      var finish = point ? s : (e === "" || e === null ? end : +e);
      var left = clamp((s - start) / span * 100);
      var width = point ? 0 : Math.max(0, clamp((finish - start) / span * 100) - left);
      bar.style.left = left.toFixed(3) + "%";
      bar.style.width = width.toFixed(3) + "%";
      bar.classList.toggle("waterfall__bar--end", left + width > 82);
    });
  }

  function clamp(value) { return Math.min(100, Math.max(0, value)); }

  /* ── Applying a live payload ────────────────────────────────────────── */
  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function upsertRows(rows) {
    var container = $("#wf-rows");
    if (!container) return;
    var empty = $(".rd-rows__empty", container);
    if (empty && rows.length) empty.remove();
    var selected = currentItem();
    rows.forEach(function (item) {
      var el = fragment(item.html);
      if (!el) return;
      if (item.key === selected) el.classList.add("is-selected");
      var existing = container.querySelector('[data-key="' + cssEscape(item.key) + '"]');
      if (existing) {
        existing.replaceWith(el);
      } else {
        var after = item.after && container.querySelector('[data-key="' + cssEscape(item.after) + '"]');
        if (!after) after = $("#log-lane", container);
        var more = $("#rows-more", container);
        if (after && after.nextSibling) container.insertBefore(el, after.nextSibling);
        else if (more) container.insertBefore(el, more);
        else container.appendChild(el);
        el.classList.add("rd-row--new");
      }
      if (window.htmx) htmx.process(el);
    });
  }

  function apply(payload) {
    if (!payload || !payload.header) return;
    var header = $("#run-header");
    if (header) {
      var next = fragment(payload.header);
      header.replaceWith(next);
      if (window.htmx) htmx.process(next);
      if (window.Studio) Studio.refreshTimes(next);
      indicator(liveMode);
    }
    var ticks = $("#wf-ticks");
    if (ticks && payload.ticks !== undefined) ticks.innerHTML = payload.ticks;
    var lane = $("#log-lane");
    if (lane && payload.lane) {
      var newLane = fragment(payload.lane);
      lane.replaceWith(newLane);
      if (window.htmx) htmx.process(newLane);
    }
    var gaps = $("#wf-gaps");
    if (gaps) gaps.innerHTML = ""; // recomputed when the run ends
    upsertRows(payload.rows || []);
    rescale(payload.axis.start, payload.axis.end);
    var count = $("#logs-count");
    if (count && payload.log_count !== undefined) count.textContent = payload.log_count.toLocaleString();
    document.querySelectorAll("[data-total]").forEach(function (el) {
      var rows = document.querySelectorAll("#wf-rows [data-row]").length;
      el.textContent = el.getAttribute("data-total") === "items"
        ? rows.toLocaleString() + (rows === 1 ? " item" : " items") : rows.toLocaleString();
    });
    var root = $("#run-detail");
    if (root) root.setAttribute("data-position", payload.position);
  }

  /* ── The stream, and polling when it cannot be had ──────────────────── */
  function indicator(mode) {
    liveMode = mode;
    var el = $("#live-indicator");
    if (!el) return;
    el.hidden = !mode;
    el.className = "rd-live" + (mode ? " rd-live--" + mode : "");
    el.textContent = mode === "stream" ? "Live" : mode === "poll" ? "Live · polling" : "";
    el.title = mode === "stream" ? "New events appear as they arrive" :
               mode === "poll" ? "Live stream unavailable: refreshing every 3 s" : "";
  }

  function reloadTimeline(done) {
    if (!window.htmx || !$("#timeline")) { if (done) done(); return; }
    htmx.ajax("GET", window.location.pathname + window.location.search, {
      target: "#timeline", swap: "outerHTML"
    }).then(function () { select(currentItem()); if (done) done(); });
  }

  function terminal() {
    var header = $("#run-header");
    return header && header.getAttribute("data-terminal") === "1";
  }

  function startPolling() {
    indicator("poll");
    var timer = setInterval(function () {
      if (document.hidden) return;
      if (!$("#timeline")) {
        // Logs tab: the header alone tells when the run ends.
        if (terminal()) { clearInterval(timer); indicator(null); }
        return;
      }
      reloadTimeline(function () {
        if (terminal()) { clearInterval(timer); indicator(null); }
      });
    }, POLL_MS);
  }

  function startLive(root) {
    if (!("EventSource" in window)) { startPolling(); return; }
    var url = root.getAttribute("data-live-url") + "?after=" + encodeURIComponent(root.getAttribute("data-position") || "0");
    var source = new EventSource(url);
    var errors = 0;
    var fellBack = false;

    function onData(event) {
      errors = 0;
      try { apply(JSON.parse(event.data)); } catch (err) { /* a bad event must not stop the tail */ }
    }
    source.addEventListener("open", function () { indicator("stream"); });
    source.addEventListener("update", onData);
    source.addEventListener("end", function (event) {
      onData(event);
      source.close();
      indicator(null);
      reloadTimeline();
    });
    source.addEventListener("unavailable", function () { fallBack(); });
    source.addEventListener("error", function () {
      errors += 1;
      if (source.readyState === EventSource.CLOSED || errors >= MAX_ERRORS) fallBack();
    });

    function fallBack() {
      if (fellBack) return;
      fellBack = true;
      source.close();
      if (!terminal()) startPolling();
    }
  }

  function start() {
    var root = $("#run-detail");
    if (!root) return;
    if (root.hasAttribute("data-live") && !terminal()) startLive(root);
    // A "#L123" link opened the logs: make sure the line is in view under the topbar.
    if (/^#L\d+$/.test(window.location.hash)) {
      var line = document.getElementById(window.location.hash.slice(1));
      if (line) line.scrollIntoView({ block: "center" });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.RunDetail = { apply: apply, rescale: rescale };
})();
