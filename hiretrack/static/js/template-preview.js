// Live preview for the template editor, compose and draft pages.
//
// The form carries data-preview-url; as the subject or body changes (debounced), the unsaved
// wording is POSTed as JSON with the page's CSRF token, and the answer fills the preview panel:
// the rendered subject, text and HTML, or the problems by line. Without JavaScript the page's
// own Preview button renders the same panel on the server.
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;

  var form = document.querySelector("form[data-preview-url]");
  if (!form || !window.fetch) {
    return;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function field(name) {
    return form.querySelector("[name='" + name + "']");
  }

  var subject = field("subject");
  var body = field("body");
  var category = field("category");
  var promiseDays = field("promise_business_days");
  var promised = field("promised_next_update");
  var application = byId("preview-application");
  var tokenInput = form.querySelector("input[name='csrf_token']");
  var tokenMeta = document.querySelector("meta[name='csrf-token']");
  var token = tokenInput ? tokenInput.value : tokenMeta ? tokenMeta.content : "";

  var panel = {
    status: byId("preview-status"),
    errors: byId("preview-errors"),
    warnings: byId("preview-warnings"),
    result: byId("preview-result"),
    subject: byId("preview-subject"),
    text: byId("preview-text"),
    html: byId("preview-html"),
  };

  var timer = null;
  var controller = null;
  var sequence = 0;

  function setStatus(message) {
    if (panel.status) {
      panel.status.textContent = message;
    }
  }

  function showRendered(data) {
    panel.errors.hidden = true;
    panel.errors.textContent = "";
    panel.subject.textContent = data.subject;
    panel.text.textContent = data.text;
    // The HTML part is built by the server from escaped text; it is shown in a sandboxed frame.
    panel.html.srcdoc = data.html;
    showWarnings(data.warnings || []);
    panel.result.hidden = false;
    setStatus("Preview updated.");
  }

  // A date that has passed, named as if still to come: not an error, but worth a look.
  function showWarnings(warnings) {
    if (!panel.warnings) {
      return;
    }
    panel.warnings.textContent = "";
    if (!warnings.length) {
      panel.warnings.hidden = true;
      return;
    }
    var heading = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = "Check before sending:";
    heading.appendChild(strong);
    panel.warnings.appendChild(heading);
    var list = document.createElement("ul");
    warnings.forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      list.appendChild(item);
    });
    panel.warnings.appendChild(list);
    panel.warnings.hidden = false;
  }

  function showProblems(errors, detail) {
    panel.errors.textContent = "";
    var heading = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = "This cannot be sent as written:";
    heading.appendChild(strong);
    panel.errors.appendChild(heading);
    var list = document.createElement("ul");
    var count = 0;
    Object.keys(errors || {}).forEach(function (key) {
      (errors[key] || []).forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = key.charAt(0).toUpperCase() + key.slice(1) + ", " + message;
        list.appendChild(item);
        count += 1;
      });
    });
    if (count === 0) {
      var only = document.createElement("li");
      only.textContent = detail || "The preview is not available.";
      list.appendChild(only);
    }
    panel.errors.appendChild(list);
    panel.errors.hidden = false;
    showWarnings([]);
    panel.result.hidden = true;
    setStatus("The preview found problems.");
  }

  function payload() {
    return {
      application_id: application && application.value ? application.value : null,
      subject: subject ? subject.value : "",
      body: body ? body.value : "",
      category: category ? category.value : form.dataset.category || null,
      promise_business_days: promiseDays ? promiseDays.value : form.dataset.promiseDays || null,
      promised_next_update: promised ? promised.value : null,
    };
  }

  function refresh() {
    if (controller) {
      controller.abort();
    }
    controller = new AbortController();
    var mine = ++sequence;
    setStatus("Updating the preview…");
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": token,
      },
      body: JSON.stringify(payload()),
      signal: controller.signal,
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (mine !== sequence) {
              return; // a newer request is on its way
            }
            if (response.ok) {
              showRendered(data);
            } else if (response.status === 422) {
              showProblems(data.errors, data.detail);
            } else {
              showProblems(null, data.detail || "The preview is not available (" + response.status + ").");
            }
          });
      })
      .catch(function (error) {
        if (error.name !== "AbortError" && mine === sequence) {
          showProblems(null, "The preview could not be updated. Check your connection and try again.");
        }
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, DEBOUNCE_MS);
  }

  [subject, body, promiseDays, promised].forEach(function (input) {
    if (input) {
      input.addEventListener("input", later);
    }
  });
  [category, application].forEach(function (input) {
    if (input) {
      input.addEventListener("change", refresh);
    }
  });
})();
