/* QR screens (a coupon, the pay-code): full screen on request, the screen kept
   awake while shown, and the pay-code fetched afresh each window without
   reloading the page. */
(function () {
  "use strict";

  var page = document.querySelector(".qr-page");
  if (!page) {
    return;
  }

  var fullscreen = page.querySelector("[data-fullscreen]");
  if (fullscreen && document.fullscreenEnabled) {
    fullscreen.hidden = false;
    fullscreen.addEventListener("click", function () {
      page.requestFullscreen().catch(function () {});
    });
  }

  var wakeLock = null;
  function keepAwake() {
    if ("wakeLock" in navigator && document.visibilityState === "visible") {
      navigator.wakeLock.request("screen").then(function (lock) {
        wakeLock = lock;
      }).catch(function () {});
    }
  }
  if (page.hasAttribute("data-keep-awake")) {
    keepAwake();
    document.addEventListener("visibilitychange", keepAwake);
  }

  if (!page.hasAttribute("data-pay-code")) {
    return;
  }

  var qr = page.querySelector("[data-qr]");
  var digits = page.querySelector("[data-digits]");
  var seconds = page.querySelector("[data-seconds]");
  var status = page.querySelector("[data-status]");
  var refreshAt = Date.now() + Number(page.dataset.refreshIn);
  var timer = null;

  function showCountdown() {
    var left = Math.max(0, Math.ceil((refreshAt - Date.now()) / 1000));
    seconds.textContent = page.dataset.countdown.replace("%(seconds)s", String(left));
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, Math.max(200, refreshAt - Date.now()));
  }

  function refresh() {
    fetch(page.dataset.source, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then(function (next) {
      qr.innerHTML = next.svg;
      digits.textContent = next.code_display;
      refreshAt = Date.now() + next.refresh_in_ms;
      status.hidden = true;
    }).catch(function () {
      status.textContent = page.dataset.offline;
      status.hidden = false;
      refreshAt = Date.now() + 3000;
    }).then(function () {
      showCountdown();
      schedule();
    });
  }

  setInterval(showCountdown, 1000);
  showCountdown();
  schedule();
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      refresh();
    }
  });
}());
