// The pages' own script: small progressive enhancements. Every page works without it.
// Live regions refresh themselves with htmx (api/static/vendor/htmx.org), see job.html.
(function () {
  "use strict";

  // Elapsed time that keeps counting between two refreshes of a live region: the server
  // renders data-elapsed (seconds, by its own clock); the browser only adds what passed since.
  function tick() {
    var now = performance.now();
    document.querySelectorAll("[data-elapsed]").forEach(function (el) {
      if (!el.dataset.shownAt) el.dataset.shownAt = String(now);
      var seconds = parseFloat(el.dataset.elapsed) + (now - parseFloat(el.dataset.shownAt)) / 1000;
      el.textContent = seconds < 1 ? Math.round(seconds * 1000) + " ms"
        : seconds < 60 ? seconds.toFixed(1) + " s"
        : Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
    });
  }
  setInterval(tick, 200);

  // A form with data-confirm asks before it is sent.
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);
})();

// A model chosen from the list is shown at once; without this script, its button does it.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var button = select.form.querySelector("[data-autosubmit-button]");
      if (button) button.hidden = true;
      select.addEventListener("change", function () { select.form.submit(); });
    });
  });
})();
