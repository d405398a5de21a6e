// Drag-and-drop and keyboard moves on the pipeline board, on top of each card's "Move to" form.
//
// A move always submits the card's own form, so the server applies the stage rules and the
// closure guarantee and answers exactly as it does without JavaScript. A drop on a column the
// rules do not allow is still sent: the server's refusal explains why.
(function () {
  "use strict";

  var board = document.getElementById("pipeline");
  if (!board || !board.hasAttribute("data-movable")) {
    return;
  }
  var columns = Array.prototype.slice.call(board.querySelectorAll(".board-column"));
  var announcer = document.getElementById("board-announcer");
  var picked = null;
  var pickedIndex = -1;
  var dragged = null;

  function announce(message) {
    if (announcer) {
      announcer.textContent = message;
    }
  }

  function nameOf(card) {
    var link = card.querySelector(".board-name a");
    return link ? link.textContent.trim() : "This candidate";
  }

  function columnIndexOf(card) {
    return columns.indexOf(card.closest(".board-column"));
  }

  function moveCard(card, column) {
    var stage = column.getAttribute("data-stage");
    if (!stage || stage === card.getAttribute("data-stage")) {
      announce(nameOf(card) + " stays where it is.");
      return;
    }
    var form = card.querySelector("form.move-form");
    var select = form && form.querySelector("select[name='target']");
    if (!select) {
      return;
    }
    var option = select.querySelector("option[value='" + stage + "']");
    if (!option) {
      // Not one of the allowed moves: send it anyway, so the server explains the rule.
      option = document.createElement("option");
      option.value = stage;
      option.textContent = column.getAttribute("data-label");
      select.appendChild(option);
    }
    select.value = stage;
    announce("Moving " + nameOf(card) + " to " + column.getAttribute("data-label") + "…");
    form.submit();
  }

  function highlight(index) {
    columns.forEach(function (column, i) {
      column.classList.toggle("is-drop-target", i === index);
    });
  }

  function cancel() {
    if (picked) {
      picked.classList.remove("is-picked");
      announce(nameOf(picked) + " put back.");
    }
    picked = null;
    pickedIndex = -1;
    highlight(-1);
  }

  board.addEventListener("keydown", function (event) {
    var card = event.target.closest ? event.target.closest(".board-card") : null;
    if (!card || event.target !== card) {
      return; // keys inside the card's form and links keep their usual meaning
    }
    var key = event.key;
    if (!picked && (key === " " || key === "Enter")) {
      event.preventDefault();
      picked = card;
      pickedIndex = columnIndexOf(card);
      card.classList.add("is-picked");
      highlight(pickedIndex);
      announce(
        "Picked up " + nameOf(card) + ". Left and right arrows choose a column, Space drops, Escape cancels."
      );
    } else if (picked === card && (key === "ArrowRight" || key === "ArrowLeft")) {
      event.preventDefault();
      pickedIndex = Math.max(0, Math.min(columns.length - 1, pickedIndex + (key === "ArrowRight" ? 1 : -1)));
      highlight(pickedIndex);
      announce(columns[pickedIndex].getAttribute("data-label"));
    } else if (picked === card && (key === " " || key === "Enter")) {
      event.preventDefault();
      var column = columns[pickedIndex];
      card.classList.remove("is-picked");
      picked = null;
      highlight(-1);
      moveCard(card, column);
    } else if (picked === card && key === "Escape") {
      event.preventDefault();
      cancel();
    }
  });

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest(".board-card") : null;
    if (!card) {
      return;
    }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-application"));
  });

  columns.forEach(function (column, index) {
    column.addEventListener("dragover", function (event) {
      if (dragged) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
        highlight(index);
      }
    });
    column.addEventListener("drop", function (event) {
      if (!dragged) {
        return;
      }
      event.preventDefault();
      var card = dragged;
      dragged = null;
      highlight(-1);
      moveCard(card, column);
    });
  });

  board.addEventListener("dragend", function () {
    dragged = null;
    highlight(-1);
  });
})();
