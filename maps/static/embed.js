/* /embed: build the widget's <iframe> snippet from the chosen options, copy it, preview it
   and list the messages the preview posts. */
(function () {
  "use strict";
  var main = document.querySelector("main");
  var form = document.getElementById("jz-embed-form");
  var snippet = document.getElementById("jz-snippet");
  var preview = document.getElementById("jz-preview");
  var messages = document.getElementById("jz-messages");
  var copyStatus = document.getElementById("jz-copy-status");
  var titles = JSON.parse(main.getAttribute("data-titles"));
  // JZMAP_PUBLIC_URL when configured; else where this browser loaded the page from.
  var base = main.getAttribute("data-base") || window.location.origin;
  var widgetOrigin = new URL(base).origin;

  function escapeAttr(value) {
    return String(value).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  }

  function update() {
    var params = new URLSearchParams();
    var height = 700;
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name) return;
      if (field.name === "height") {
        height = Math.min(2000, Math.max(320, Number(field.value) || 700));
      } else if (field.type === "checkbox") {
        if (field.checked) params.set(field.name, "true");
      } else if (field.value) {
        params.set(field.name, field.value);
      }
    });
    var lang = params.get("lang") || "zh";
    // Defaults stay out of the snippet.
    if (params.get("crs") === "wgs84") params.delete("crs");
    if (lang === "zh") params.delete("lang");
    var src = base + "/widget/v1" + (params.toString() ? "?" + params.toString() : "");
    snippet.value = '<iframe src="' + escapeAttr(src) + '" width="100%" height="' + height +
      '" style="border:0;max-width:480px" allow="geolocation" title="' +
      escapeAttr(titles[lang] || titles.zh) + '"></iframe>';
    preview.height = String(height);
    preview.title = titles[lang] || titles.zh;
    if (preview.getAttribute("src") !== src) preview.src = src;
  }

  function showMessage(data) {
    var item = document.createElement("li");
    var pre = document.createElement("pre");
    pre.textContent = JSON.stringify(data, null, 2);
    item.appendChild(pre);
    messages.insertBefore(item, messages.firstChild);
    messages.setAttribute("data-count", String(messages.children.length));
  }

  window.addEventListener("message", function (e) {
    if (e.origin !== widgetOrigin || e.source !== preview.contentWindow) return;
    if (!e.data || e.data.source !== "jzmap") return;
    showMessage(e.data);
  });

  document.getElementById("jz-copy").addEventListener("click", function () {
    snippet.select();
    var done = function () { copyStatus.textContent = main.getAttribute("data-copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(snippet.value).then(done, function () {
        document.execCommand("copy");
        done();
      });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  form.addEventListener("change", update);
  form.addEventListener("input", update);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  update();
})();
