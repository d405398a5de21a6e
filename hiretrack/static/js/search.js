// Keyboard help for search (the pages work without it): "/" focuses the header's search field,
// and on the results page the arrow keys move between results.
(function () {
  "use strict";
  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var field = document.getElementById("site-search");
    if (!field || !field.offsetParent) { return; }
    event.preventDefault();
    field.focus();
    field.select();
  });
  var results = document.querySelector("[data-results]");
  if (!results) { return; }
  var links = Array.prototype.slice.call(results.querySelectorAll(".search-results a"));
  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") { return; }
    var index = links.indexOf(document.activeElement);
    var onField = document.activeElement && document.activeElement.type === "search";
    if (index === -1 && !onField) { return; }
    var next = event.key === "ArrowDown" ? index + 1 : index - 1;
    if (next < 0 || next >= links.length) { return; }
    event.preventDefault();
    links[next].focus();
  });
})();
