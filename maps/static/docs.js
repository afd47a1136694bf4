/* /docs: start the vendored Swagger UI on this site's OpenAPI schema (no inline script, so
   the page's CSP can allow scripts from this site only). */
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    // The default validator badge fetches from a public server: none.
    validatorUrl: null,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
