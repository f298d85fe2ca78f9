// The organizer's attendance list: reload the rows every few seconds, unless
// the organizer is typing into one of them; and check a resident in from the
// camera (scanner.js) by their member code.
(function () {
  "use strict";
  var form = document.querySelector("[data-scanning]");
  if (form && window.JifenScanner) {
    var code = form.querySelector("[name=member_code]");
    var error = form.querySelector("[data-error]");
    window.JifenScanner.attach(form, function (text) {
      code.value = text;
      form.submit();
    }, function () {
      error.textContent = form.dataset.textNoCamera;
      error.hidden = false;
    });
  }

  var rows = document.getElementById("attendance-rows");
  if (!rows || !rows.dataset.refresh) {
    return;
  }
  function busy() {
    var active = document.activeElement;
    return active && rows.contains(active) && active.tagName === "INPUT";
  }
  function refresh() {
    if (busy() || document.hidden) {
      return;
    }
    fetch(rows.dataset.refresh, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && !busy()) {
          rows.innerHTML = html;
        }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, 5000);
})();
