/* /redoc: start the vendored ReDoc on this site's OpenAPI schema (no inline script). */
(function () {
  "use strict";
  var el = document.getElementById("redoc");
  // No web fonts: nothing is fetched from another site.
  Redoc.init(el.getAttribute("data-openapi"), { disableSearch: false, hideDownloadButtons: false }, el);
})();
