// Starts Swagger UI on /api/docs: the spec's URL and the page's settings come
// from this script tag's data attributes, so the page holds no inline script.
(function () {
  "use strict";
  var tag = document.currentScript;
  var config = JSON.parse(tag.dataset.config || "{}");
  config.url = tag.dataset.specUrl;
  config.dom_id = "#swagger-ui-container";
  window.addEventListener("load", function () {
    window.ui = window.SwaggerUIBundle(config);
  });
})();
