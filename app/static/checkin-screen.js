// The organizer's check-in screen: fetch the next code when the current window
// ends, swap in its QR once loaded, and never reload the page.
(function () {
  "use strict";
  var screen = document.querySelector("[data-screen]");
  if (!screen) {
    return;
  }
  var image = screen.querySelector(".screen-qr");
  var code = screen.querySelector(".screen-code");
  var count = screen.querySelector(".screen-count");
  var bar = screen.querySelector(".progress-bar");
  var status = screen.querySelector(".screen-status");
  var windowLength = Number(screen.dataset.windowSeconds);
  var due = Date.now() + Number(screen.dataset.refreshIn) * 1000;

  function tick() {
    var left = Math.max(0, due - Date.now()) / 1000;
    bar.style.width = Math.min(100, (left / windowLength) * 100) + "%";
  }

  function show(data) {
    var next = new Image();
    next.onload = function () {
      image.src = next.src;
      image.dataset.payload = data.url;
      code.textContent = data.code;
      count.textContent = data.checked_in;
      screen.dataset.window = data.window;
    };
    next.src = data.qr;
  }

  function schedule(seconds) {
    due = Date.now() + seconds * 1000;
    window.setTimeout(refresh, seconds * 1000 + 200);
  }

  function refresh() {
    fetch(screen.dataset.screen, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (response.status === 409) {
          status.textContent = screen.dataset.ended;
          image.hidden = true;
          code.textContent = "";
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data === null) {
          return;
        }
        status.textContent = "";
        show(data);
        schedule(data.refresh_in);
      })
      .catch(function () {
        status.textContent = screen.dataset.offline;
        schedule(5);
      });
  }

  window.setInterval(tick, 250);
  schedule(Number(screen.dataset.refreshIn));
})();
