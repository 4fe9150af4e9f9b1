// The new model form (model_new.html): as the target or the task changes, say which task
// the model will have (the server's predictor.definitions.task_infer, per column, in the
// json_script "model-new-targets"), keep the target out of the features, and offer only the
// estimators that fit the task. Without this script the server says the same on submit.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("model-form");
    var data = document.getElementById("model-new-targets");
    if (!form || !data) return;
    var targets = JSON.parse(data.textContent);
    var target = form.querySelector("[data-target-select]");
    var task = form.querySelector("[data-task-select]");
    var estimator = form.querySelector("[data-estimator-select]");
    var shown = form.querySelector("[data-inferred-task]");
    var reason = form.querySelector("[data-inferred-reason]");
    var previous = target.value;

    function feature(name) {
      var found = null;
      form.querySelectorAll("input[data-feature]").forEach(function (box) {
        if (box.value === name) found = box;
      });
      return found;
    }

    function markTarget(name, isTarget) {
      var box = feature(name);
      if (!box) return;
      var item = box.closest("li");
      box.disabled = isTarget;
      if (isTarget) box.checked = false;
      else if (!box.hasAttribute("data-unusable")) box.checked = true;
      item.classList.toggle("is-target", isTarget);
      var note = item.querySelector(".target-note");
      if (note) note.hidden = !isTarget;
    }

    function update() {
      var chosen = targets[target.value];
      var asked = task.value;
      if (!chosen) {
        shown.textContent = "chosen from the target";
        reason.textContent = "(each target above says what it gives)";
      } else {
        shown.textContent = chosen.words[asked];
        reason.textContent = asked === "auto" ? "(" + target.value + " is " + chosen.reason + ")" : "(as asked)";
      }
      // Estimators that fit the task's kind only (classification or regression).
      var kind = chosen ? chosen.kinds[asked] : null;
      Array.prototype.forEach.call(estimator.options, function (option) {
        var kinds = option.dataset.kinds;
        option.disabled = !!(kind && kinds && kinds.split(" ").indexOf(kind) < 0);
      });
      if (estimator.selectedOptions[0] && estimator.selectedOptions[0].disabled) estimator.value = "auto";
    }

    target.addEventListener("change", function () {
      if (previous) markTarget(previous, false);
      if (target.value) markTarget(target.value, true);
      previous = target.value;
      update();
    });
    task.addEventListener("change", update);
    update();
  });
})();
