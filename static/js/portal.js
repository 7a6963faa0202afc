// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // htmx leaves 4xx/5xx responses unswapped by default. A 422 is a re-rendered form with
  // its errors, so swap it; other errors still show the page's own message.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    // A DualEntry failure (502/503) comes back as a fragment saying what happened, with a
    // retry link: show it in place of the table rather than leaving the old one up.
    if (event.detail.xhr.getResponseHeader("X-Upstream-Error")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Warn before leaving a form with unsaved changes (forms marked data-warn-unsaved).
  var dirty = new Set();
  document.addEventListener("input", function (event) {
    var form = event.target.closest("form[data-warn-unsaved]");
    if (form) dirty.add(form);
  });
  document.addEventListener("submit", function (event) { dirty.delete(event.target); });
  // A form that came back unsaved (errors, a conflict, DualEntry down) still holds the input.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var form = target && target.closest && target.closest("form[data-warn-unsaved]");
    if (form && event.detail.xhr && event.detail.xhr.status >= 400) dirty.add(form);
  });
  // Keyboard and screen-reader users: after a failed save, focus goes to the error summary
  // (which says what to fix); after "Add a line", to the new line's first field.
  function focusErrorSummary(root) {
    var summary = root && root.querySelector && root.querySelector(".form-errors[tabindex='-1']");
    if (summary) summary.focus();
    return Boolean(summary);
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (trigger && trigger.hasAttribute && trigger.hasAttribute("data-focus-new-line")) {
      var rows = event.detail.target.querySelectorAll("tr.item-row");
      var last = rows[rows.length - 1];
      var first = last && last.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
      return;
    }
    focusErrorSummary(event.detail.target);
  });
  // A table wider than the screen scrolls inside its box: keyboard users need to reach it.
  function markScrollable() {
    document.querySelectorAll(".table-wrap").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) box.setAttribute("tabindex", "0");
      else box.removeAttribute("tabindex");
    });
  }
  document.addEventListener("htmx:afterSettle", markScrollable);
  window.addEventListener("resize", markScrollable);
  function onLoad() {
    markScrollable();
    focusErrorSummary(document);
    // First log-in: the browser's time zone goes with the log-in form; a person signed in
    // another way has it posted once from the first page. The portal keeps a zone the person
    // chose in their settings. Without JavaScript, times show in TIME_ZONE.
    var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.querySelectorAll("input[data-browser-time-zone]").forEach(function (input) {
      input.value = zone || "";
    });
    var guess = document.getElementById("time-zone-guess");
    if (guess && zone && window.fetch) {
      guess.elements.time_zone.value = zone;
      fetch(guess.action, { method: "POST", body: new FormData(guess), credentials: "same-origin" });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onLoad);
  else onLoad();

  window.addEventListener("beforeunload", function (event) {
    dirty.forEach(function (form) { if (!document.body.contains(form)) dirty.delete(form); });
    if (dirty.size) { event.preventDefault(); event.returnValue = ""; }
  });
})();
