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
  // A line's picker of what it applies (records/_record_picker.html): choosing a credit or
  // payment fills the line's amount with what it has left, unless a person typed one.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-picker]")) return;
    var row = select.closest("tr") || select.form;
    var amount = row && row.querySelector("input[name$='-amount']");
    var option = select.selectedOptions[0];
    var available = option && option.dataset.available;
    if (!amount || !available) return;
    if (amount.value.trim() === "" || amount.value === amount.dataset.filledFromPicker) {
      amount.value = available;
      amount.dataset.filledFromPicker = available;
      amount.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  window.addEventListener("beforeunload", function (event) {
    dirty.forEach(function (form) { if (!document.body.contains(form)) dirty.delete(form); });
    if (dirty.size) { event.preventDefault(); event.returnValue = ""; }
  });
})();
