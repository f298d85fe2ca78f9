/* The public donation page: start the donation, confirm it with Stripe.js, then poll its
   status until the webhook has recorded it. One request key per filled-in form, so a double
   tap starts one donation. */
(function () {
  "use strict";
  var form = document.getElementById("donate-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var data = form.dataset;
  var stripe = Stripe(data.publishableKey);
  var card = null;
  if (document.getElementById("card-element")) {
    card = stripe.elements().create("card");
    card.mount("#card-element");
  }
  var status = document.getElementById("donate-status");
  var requestKey = null;
  var busy = false;

  function say(text) { status.hidden = false; status.textContent = text; }
  function newKey() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : String(Date.now()) + Math.random().toString(16).slice(2);
  }
  form.addEventListener("input", function () { requestKey = null; });

  function confirm(method, secret) {
    if (method === "alipay") {
      return stripe.confirmAlipayPayment(secret, { return_url: window.location.href });
    }
    if (method === "wechat_pay") {
      return stripe.confirmWechatPayPayment(secret, {
        payment_method_options: { wechat_pay: { client: "web" } }
      });
    }
    return stripe.confirmCardPayment(secret, { payment_method: { card: card } });
  }

  function poll(url, tries) {
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.status === "succeeded") {
          say(data.textRecorded.replace("{amount}", body.amount_shown));
        } else if (body.status === "failed") {
          say(data.textFailed); busy = false;
        } else if (tries > 0) {
          setTimeout(function () { poll(url, tries - 1); }, 2000);
        } else {
          say(data.textSlow);
        }
      })
      .catch(function () { if (tries > 0) { setTimeout(function () { poll(url, tries - 1); }, 2000); } });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    var method = (event.submitter && event.submitter.dataset.method) || "card";
    requestKey = requestKey || newKey();
    var checked = form.querySelector("input[name=fund]:checked");
    say(data.textWorking);
    fetch(data.startUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": data.csrf },
      body: JSON.stringify({
        amount: form.amount.value,
        fund: checked ? checked.value : "",
        donor_name: form.donor_name.value,
        message: form.message.value,
        request_key: requestKey
      })
    })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (reply) {
        if (!reply.ok) { say(reply.body.message || reply.body.detail); busy = false; return null; }
        return confirm(method, reply.body.client_secret).then(function (result) {
          if (result.error) { say(result.error.message || data.textFailed); busy = false; return; }
          say(data.textWaiting);
          poll(reply.body.status_url, 30);
        });
      })
      .catch(function () { say(data.textFailed); busy = false; });
  });
})();
