// Attachment upload form (templates/records/_attachments.html): drag and drop, a confirmation
// naming the record and the chosen files, size checks before sending, and a progress bar fed
// by htmx's upload progress events. Without this file the form still works: a file input, a
// confirmation checkbox and a normal POST.
(function () {
  "use strict";
  if (window.portalAttachments) return; // loaded again by an htmx swap: listeners exist
  window.portalAttachments = true;

  function formOf(element) {
    return element && element.closest ? element.closest("form[data-attachment-form]") : null;
  }

  function humanSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  // Problems the server would refuse anyway; saying so before a long upload saves the wait.
  function problems(form, files) {
    var maxFile = Number(form.dataset.maxFileSize);
    var maxRequest = Number(form.dataset.maxRequestSize);
    var found = [];
    var total = 0;
    Array.prototype.forEach.call(files, function (file) {
      total += file.size;
      if (file.size === 0) found.push(file.name + " is empty.");
      else if (file.size > maxFile) {
        found.push(file.name + " is " + humanSize(file.size) + "; files may be at most " + humanSize(maxFile) + ".");
      }
    });
    if (total > maxRequest) {
      found.push("Together the files are " + humanSize(total) + "; one upload may be at most " + humanSize(maxRequest) + ". Attach them in several uploads.");
    }
    return found;
  }

  function render(form) {
    var input = form.querySelector("input[type=file]");
    var panel = form.querySelector("[data-confirm-panel]");
    var list = form.querySelector("[data-file-list]");
    var count = form.querySelector("[data-file-count]");
    var submit = form.querySelector("button[type=submit]");
    var cancel = form.querySelector("[data-cancel]");
    var files = input.files || [];
    list.replaceChildren();
    Array.prototype.forEach.call(files, function (file) {
      var item = document.createElement("li");
      item.textContent = file.name + " (" + humanSize(file.size) + ")";
      list.appendChild(item);
    });
    problems(form, files).forEach(function (text) {
      var item = document.createElement("li");
      item.className = "field-error";
      item.textContent = text;
      list.appendChild(item);
    });
    var label = files.length === 1 ? "1 file" : files.length + " files";
    count.textContent = "these " + label;
    submit.textContent = "Attach " + label + " to " + form.dataset.recordLabel;
    panel.hidden = files.length === 0;
    cancel.hidden = files.length === 0;
  }

  function init(root) {
    var forms = root.querySelectorAll ? root.querySelectorAll("form[data-attachment-form]") : [];
    Array.prototype.forEach.call(forms, function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      render(form);
    });
  }

  document.addEventListener("change", function (event) {
    var form = formOf(event.target);
    if (form && event.target.type === "file") render(form);
  });
  document.addEventListener("reset", function (event) {
    var form = formOf(event.target);
    if (form) setTimeout(function () { render(form); }, 0);
  });

  // Drag and drop onto the label around the file input.
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("dragover");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (zone) zone.classList.remove("dragover");
    });
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    var input = zone.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // Refuse before sending what the server would refuse after a long upload.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = formOf(event.target);
    if (!form) return;
    var input = form.querySelector("input[type=file]");
    if (problems(form, input.files || []).length) {
      event.preventDefault();
      render(form);
      return;
    }
    var progress = form.querySelector("[data-progress]");
    progress.value = 0;
    progress.hidden = false;
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = formOf(event.target);
    if (!form || !event.detail.lengthComputable) return;
    var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    form.querySelector("[data-progress]").value = percent;
    var text = form.querySelector("[data-progress-text]");
    text.hidden = false;
    text.textContent = percent < 100
      ? "Uploading: " + humanSize(event.detail.loaded) + " of " + humanSize(event.detail.total)
      : "Sent; waiting for DualEntry to confirm…";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = formOf(event.target);
    if (!form || !document.body.contains(form)) return;
    form.querySelector("[data-progress]").hidden = true;
    form.querySelector("[data-progress-text]").hidden = true;
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();
