// An upload's progress: a dataset (datasets.html) or a batch file (predict.html). The form
// (form[data-upload]) posts the file as it is without this script; with it, the same POST
// goes by XMLHttpRequest so that its upload events can drive a <progress> bar. The server
// answers that request with JSON {location} on success (then the browser goes there), or
// with the page and its errors, whose form replaces this one. A 413 (too large for the
// site) is plain text, shown as is. A form marked data-upload="file" is sent as a plain
// form when no file is chosen (rows pasted instead); data-upload-done says what the server
// does once the file is up.
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0) + " MB";
  }

  function showError(form, text) {
    var box = form.querySelector("[data-upload-error]");
    if (!box) {
      box = document.createElement("p");
      box.className = "error notice";
      box.setAttribute("role", "alert");
      box.dataset.uploadError = "";
      form.insertBefore(box, form.querySelector("button[type=submit]"));
    }
    box.textContent = text;
  }

  function setup(form) {
    var progress = form.querySelector("[data-upload-progress]");
    var bar = progress && progress.querySelector("progress");
    var status = progress && progress.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");
    var file = form.querySelector("input[type=file]");
    if (!progress || !bar || !status || !window.FormData) return;

    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) return; // the browser says what is missing
      var chosen = file && file.files[0];
      if (form.dataset.upload === "file" && !chosen) return; // no file: the form goes as it is
      var limit = parseInt(form.dataset.maxBytes, 10);
      if (chosen && limit && chosen.size > limit) {
        event.preventDefault();
        showError(form, "The file is " + megabytes(chosen.size) + "; at most " + megabytes(limit) + " may be uploaded.");
        return;
      }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.responseType = "text";
      progress.hidden = false;
      bar.value = 0;
      status.textContent = "Uploading…";
      button.disabled = true;

      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var percent = Math.round((e.loaded / e.total) * 100);
        bar.value = percent;
        status.textContent = "Uploading… " + percent + "% (" + megabytes(e.loaded) + " of " + megabytes(e.total) + ")";
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value"); // indeterminate: the server reads the table now
        status.textContent = form.dataset.uploadDone || "Uploaded; checking and profiling the table…";
      });
      xhr.addEventListener("load", function () {
        var type = xhr.getResponseHeader("Content-Type") || "";
        if (xhr.status >= 200 && xhr.status < 300 && type.indexOf("application/json") === 0) {
          status.textContent = "Done.";
          window.location.assign(JSON.parse(xhr.responseText).location);
          return;
        }
        if (xhr.responseURL && new URL(xhr.responseURL).pathname !== new URL(form.action).pathname) {
          // Sent elsewhere (the login page, once the session has ended): go there.
          window.location.assign(xhr.responseURL);
          return;
        }
        if (type.indexOf("text/html") === 0) {
          // The page again, with the form's errors: that form replaces this one.
          var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
          var fresh = page.getElementById(form.id);
          if (fresh) {
            form.replaceWith(fresh);
            setup(fresh);
            var alert = fresh.querySelector("[role=alert], [aria-invalid=true]");
            if (alert) alert.scrollIntoView({ block: "center" });
            return;
          }
        }
        var said = type.indexOf("text/plain") === 0 ? ": " + xhr.responseText.slice(0, 300) : ".";
        done("The upload was refused (HTTP " + xhr.status + ")" + said);
      });
      xhr.addEventListener("error", function () { done("The upload failed: the connection was lost. Try again."); });
      xhr.addEventListener("abort", function () { done("The upload was stopped."); });

      function done(message) {
        progress.hidden = true;
        button.disabled = false;
        showError(form, message);
      }

      xhr.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(setup);
  });
})();
