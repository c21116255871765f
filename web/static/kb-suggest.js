// The new-ticket form: show only the knowledge-base tips for the device chosen (without
// JavaScript every device's tips are shown, server-rendered).
(function () {
  "use strict";
  var box = document.getElementById("kb-suggestions");
  if (!box) { return; }
  var models = JSON.parse(box.getAttribute("data-line-models") || "{}");
  var sections = box.querySelectorAll(".kb-device");
  function show() {
    var chosen = document.querySelector("input[name='line']:checked");
    var model = chosen ? models[chosen.value] : null;
    var any = false;
    sections.forEach(function (section) {
      var match = model === null || model === undefined || section.getAttribute("data-model") === model;
      section.hidden = !match;
      any = any || match;
    });
    box.hidden = !any;
  }
  document.querySelectorAll("input[name='line']").forEach(function (input) {
    input.addEventListener("change", show);
  });
  show();
}());
