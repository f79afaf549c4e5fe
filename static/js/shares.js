/* Shared run pages: each "[redacted]" in the text becomes a marked span, on load and
   after every htmx swap. Text nodes only: nothing is parsed as HTML. */
(function () {
  "use strict";

  var MARK = "[redacted]";

  function mark(root) {
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: function (node) {
        if (node.nodeValue.indexOf(MARK) < 0) return NodeFilter.FILTER_REJECT;
        var parent = node.parentNode;
        if (!parent || parent.closest(".redacted, script, style, title")) return NodeFilter.FILTER_REJECT;
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    var found = [];
    while (walker.nextNode()) found.push(walker.currentNode);
    found.forEach(function (node) {
      var parts = node.nodeValue.split(MARK);
      var fragment = document.createDocumentFragment();
      parts.forEach(function (part, i) {
        if (i > 0) {
          var span = document.createElement("span");
          span.className = "redacted";
          span.textContent = MARK;
          fragment.appendChild(span);
        }
        if (part) fragment.appendChild(document.createTextNode(part));
      });
      node.parentNode.replaceChild(fragment, node);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { mark(document.getElementById("main")); });
  document.addEventListener("htmx:afterSwap", function (event) { mark(event.detail.target); });
})();
