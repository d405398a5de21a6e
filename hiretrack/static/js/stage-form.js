// Show the closure questions only when the chosen stage ends the application.
// Without JavaScript every field stays visible and the server still enforces the rule.
(function () {
  "use strict";
  var form = document.getElementById("stage-form");
  if (!form) { return; }
  var closed = (form.getAttribute("data-closed-outcomes") || "").split(" ");
  var target = form.querySelector("select[name$='target']");
  var fields = document.getElementById("closure-fields");
  if (!target || !fields) { return; }
  var methods = form.querySelectorAll("input[name$='closure_method']");
  var recordedOnly = [
    form.querySelector("[name$='closure_channel']"),
    form.querySelector("[name$='closure_note']")
  ];

  function chosenMethod() {
    for (var i = 0; i < methods.length; i += 1) {
      if (methods[i].checked) { return methods[i].value; }
    }
    return "";
  }

  function update() {
    var closing = closed.indexOf(target.value) !== -1;
    fields.hidden = !closing;
    var recorded = chosenMethod() === "recorded";
    recordedOnly.forEach(function (element) {
      if (!element) { return; }
      var wrapper = element.closest("label") ? element.closest("label") : null;
      element.disabled = !(closing && recorded);
      if (wrapper) { wrapper.classList.toggle("is-disabled", element.disabled); }
    });
  }

  target.addEventListener("change", update);
  for (var i = 0; i < methods.length; i += 1) { methods[i].addEventListener("change", update); }
  update();
}());
