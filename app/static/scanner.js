/* Camera scanning, shared by every page that scans a QR code (the till, the
   organizer's check-in). Markup inside the element given to attach():
     [data-camera]        the box holding the video, hidden until the camera runs
     [data-video]         the <video>
     [data-camera-start]  the button that starts the camera
     [data-camera-stop]   the button that stops it
   and on the element itself data-scan-url (the server decoder) and data-csrf.
   Frames are decoded in the page with BarcodeDetector where the browser has it;
   otherwise one frame at a time is posted to the server, which decodes it with
   zxing-cpp. onText(text) gets the first code read; the camera stops then. */
(function () {
  "use strict";

  function attach(root, onText, onNoCamera) {
    var box = root.querySelector("[data-camera]");
    var video = root.querySelector("[data-video]");
    var startButton = root.querySelector("[data-camera-start]");
    var stopButton = root.querySelector("[data-camera-stop]");
    var stream = null;
    var timer = null;
    var busy = false;
    var detector = null;

    function stop() {
      clearTimeout(timer);
      if (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
      }
      stream = null;
      box.hidden = true;
      stopButton.hidden = true;
      startButton.hidden = false;
    }

    function found(text) {
      stop();
      onText(text);
    }

    function postFrame(blob) {
      return fetch(root.dataset.scanUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Accept": "application/json",
          "Content-Type": blob.type,
          "X-CSRFToken": root.dataset.csrf
        },
        body: blob
      }).then(function (response) {
        return response.ok ? response.json() : { text: null };
      });
    }

    function grab() {
      if (!stream) {
        return;
      }
      timer = setTimeout(grab, 400);
      if (busy || !video.videoWidth) {
        return;
      }
      busy = true;
      if (detector) {
        detector.detect(video).then(function (codes) {
          busy = false;
          if (codes.length && stream) {
            found(codes[0].rawValue);
          }
        }, function () { busy = false; });
        return;
      }
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        postFrame(blob).then(function (reply) {
          busy = false;
          if (reply.text && stream) {
            found(reply.text);
          }
        }, function () { busy = false; });
      }, "image/jpeg", 0.9);
    }

    startButton.addEventListener("click", function () {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        onNoCamera();
        return;
      }
      var ready = Promise.resolve();
      if ("BarcodeDetector" in window) {
        ready = window.BarcodeDetector.getSupportedFormats().then(function (formats) {
          if (formats.indexOf("qr_code") >= 0) {
            detector = new window.BarcodeDetector({ formats: ["qr_code"] });
          }
        }, function () {});
      }
      ready.then(function () {
        return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      }).then(function (media) {
        stream = media;
        video.srcObject = media;
        box.hidden = false;
        startButton.hidden = true;
        stopButton.hidden = false;
        video.play().catch(function () {});
        grab();
      }, onNoCamera);
    });
    stopButton.addEventListener("click", stop);
    return { stop: stop };
  }

  window.JifenScanner = { attach: attach };
}());
