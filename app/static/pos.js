/* The merchant's till: a code from the camera (scanner.js), a handheld scanner
   or typing, checked as soon as it is entered; a bill from the keypad; preview;
   confirm once (one Idempotency-Key per confirm screen, so a double tap cannot
   redeem twice); receipt. On the history page: void. */
(function () {
  "use strict";

  function post(url, csrf, body, key) {
    var headers = { "Accept": "application/json", "X-CSRFToken": csrf };
    if (key) {
      headers["Idempotency-Key"] = key;
    }
    var options = { method: "POST", credentials: "same-origin", headers: headers };
    if (body instanceof Blob) {
      options.body = body;
      headers["Content-Type"] = body.type;
    } else if (body) {
      options.body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      });
    });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) {
      return crypto.randomUUID();
    }
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  function showError(box, text) {
    box.textContent = text || "";
    box.hidden = !text;
  }

  var history = document.querySelector("[data-pos-history]");
  if (history) {
    var historyError = history.querySelector("[data-error]");
    history.querySelectorAll("[data-void]").forEach(function (button) {
      var key = newKey();
      button.addEventListener("click", function () {
        if (!window.confirm(button.dataset.confirmText)) {
          return;
        }
        button.disabled = true;
        post(button.dataset.void, history.dataset.csrf, null, key).then(function (reply) {
          if (reply.ok) {
            window.location.reload();
          } else {
            showError(historyError, reply.data.message || reply.data.detail);
            button.disabled = false;
          }
        });
      });
    });
    return;
  }

  var page = document.querySelector("[data-pos]");
  if (!page) {
    return;
  }
  var csrf = page.dataset.csrf;
  var error = page.querySelector("[data-error]");
  var codeInput = page.querySelector("[data-code-input]");
  var sourceLine = page.querySelector("[data-source]");
  var bill = page.querySelector("[data-bill]");
  var offer = page.querySelector("[data-offer]");
  var steps = {};
  page.querySelectorAll("[data-step]").forEach(function (step) {
    steps[step.dataset.step] = step;
  });
  var source = null;
  var request = null;
  var confirmKey = null;

  function show(name) {
    Object.keys(steps).forEach(function (key) {
      steps[key].hidden = key !== name;
    });
  }

  /* Whatever reaches the code field is checked at once: the server reads it by its
     shape (spaces and dashes ignored) and says what it is, or why it is refused. */
  var checking = null;

  function forget() {
    source = null;
    sourceLine.hidden = true;
    sourceLine.textContent = "";
  }

  function useCode(text) {
    text = (text || "").trim();
    if (!text) {
      return;
    }
    forget();
    var asked = post(page.dataset.codeUrl, csrf, { text: text });
    checking = asked;
    asked.then(function (reply) {
      if (checking !== asked) {
        return;
      }
      checking = null;
      if (!reply.ok) {
        failed(reply);
        codeInput.value = text;
        codeInput.select();
        return;
      }
      source = reply.data.source;
      sourceLine.textContent = reply.data.label;
      sourceLine.hidden = false;
      codeInput.value = "";
      showError(error, "");
      bill.focus();
    }, function () {
      checking = null;
      showError(error, page.dataset.textOffline);
    });
  }

  codeInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      useCode(codeInput.value);
    }
  });
  codeInput.addEventListener("change", function () {
    useCode(codeInput.value);
  });

  /* Yuan with at most two decimals -> integer fen, without floating point. */
  function billFen() {
    var match = /^(\d{1,7})(?:\.(\d{0,2}))?$/.exec(bill.value.trim());
    if (!match) {
      return null;
    }
    var cents = (match[2] || "").padEnd(2, "0");
    return Number(match[1]) * 100 + Number(cents);
  }

  page.querySelectorAll("[data-key]").forEach(function (key) {
    key.addEventListener("click", function () {
      var value = bill.value;
      if (key.dataset.key === "back") {
        bill.value = value.slice(0, -1);
      } else {
        bill.value = value + key.dataset.key;
      }
    });
  });

  function fill(step, data) {
    step.querySelectorAll("[data-shown]").forEach(function (node) {
      node.textContent = data.shown[node.dataset.shown];
    });
    step.querySelectorAll("[data-field]").forEach(function (node) {
      node.textContent = data[node.dataset.field];
    });
  }

  function failed(reply) {
    showError(error, reply.data.message || reply.data.detail);
  }

  page.querySelector("[data-preview]").addEventListener("click", function () {
    if (checking) {
      checking.then(function () {
        page.querySelector("[data-preview]").click();
      });
      return;
    }
    if (!source) {
      if (!codeInput.value.trim()) {
        showError(error, page.dataset.textNoCode);
      }
      return;
    }
    var fen = billFen();
    if (fen === null) {
      showError(error, page.dataset.textBadBill);
      return;
    }
    request = Object.assign({ bill_fen: fen }, source);
    if (offer && offer.value) {
      request.offer_id = Number(offer.value);
    }
    post(page.dataset.previewUrl, csrf, request).then(function (reply) {
      if (!reply.ok) {
        failed(reply);
        return;
      }
      showError(error, "");
      fill(steps.confirm, reply.data);
      confirmKey = newKey();
      steps.confirm.querySelector("[data-confirm]").disabled = false;
      show("confirm");
    }, function () {
      showError(error, page.dataset.textOffline);
    });
  });

  steps.confirm.querySelector("[data-confirm]").addEventListener("click", function (event) {
    var button = event.currentTarget;
    button.disabled = true;
    post(page.dataset.redeemUrl, csrf, request, confirmKey).then(function (reply) {
      if (!reply.ok) {
        failed(reply);
        show("entry");
        return;
      }
      showError(error, "");
      fill(steps.receipt, reply.data);
      show("receipt");
    }, function () {
      button.disabled = false;  /* same key: a retry cannot redeem twice */
      showError(error, page.dataset.textOffline);
    });
  });

  steps.confirm.querySelector("[data-back]").addEventListener("click", function () {
    show("entry");
  });

  steps.receipt.querySelector("[data-new-sale]").addEventListener("click", function () {
    forget();
    request = null;
    bill.value = "";
    if (offer) {
      offer.value = "";
    }
    show("entry");
    codeInput.focus();
  });

  window.JifenScanner.attach(page, useCode, function () {
    showError(error, page.dataset.textNoCamera);
  });
}());
