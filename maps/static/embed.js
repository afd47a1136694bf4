/* /embed: build the widget's <iframe> snippet from the chosen options and preview it. */
(function () {
  "use strict";
  var form = document.getElementById("jz-embed-form");
  var snippet = document.getElementById("jz-snippet");
  var preview = document.getElementById("jz-preview");
  // JZMAP_PUBLIC_URL when configured; else where this browser loaded the page from.
  var base = document.querySelector("main").getAttribute("data-base") || window.location.origin;

  function update() {
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && field.value) params.set(field.name, field.value);
    });
    // Defaults stay out of the snippet.
    if (params.get("crs") === "wgs84") params.delete("crs");
    if (params.get("lang") === "zh") params.delete("lang");
    var src = base + "/widget" + (params.toString() ? "?" + params.toString() : "");
    snippet.value = '<iframe src="' + src.replace(/&/g, "&amp;").replace(/"/g, "&quot;") +
      '" width="100%" height="600" style="border:0;max-width:480px" ' +
      'allow="geolocation" title="家政服务地图"></iframe>';
    preview.src = src;
  }

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  update();
})();
