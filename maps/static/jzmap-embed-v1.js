/* Jiazheng Map embedding SDK, version 1: no build step, no dependency.

     <div id="providers"></div>
     <script src="https://MAP-SITE/static/jzmap-embed-v1.js"></script>
     <script>
       var widget = JZMap.mount(document.getElementById("providers"), {
         location: { lng: 113.330, lat: 23.110, crs: "gcj02" },   // AMap coordinates
         category: "elderly_care", minGrade: "4A", certifiedOnly: true,
         largeText: false, lang: "zh", height: 600,                // or "auto"
         onReady: function (info) {}, onSelect: function (provider) {},
         onError: function (error) {},
       });
       widget.setLocation({ lng: 113.32, lat: 23.12, crs: "gcj02" });
       widget.setFilters({ category: "nursing", certifiedOnly: false });
       widget.destroy();
     </script>

   The widget (/widget/v1) is framed from the site this file was loaded from; messages
   are exchanged with that origin only, and only with the frame this call made. Commands
   given before the widget is ready wait for it. The messages and their JSON Schemas:
   docs/embedding.md, /static/embed/v1/. */
(function (global) {
  "use strict";

  var VERSION = 1;
  var script = document.currentScript;
  var BASE = script && script.src ? new URL(script.src).origin : global.location.origin;
  var OPTION_PARAMS = { category: "category", minGrade: "min_grade", kind: "kind" };

  function widgetUrl(base, o) {
    var q = new URLSearchParams();
    if (o.location) {
      q.set("lat", String(o.location.lat));
      q.set("lon", String(o.location.lng));
      q.set("crs", o.location.crs || "wgs84");
    } else if (o.crs) {
      q.set("crs", o.crs);
    }
    if (o.district) q.set("district", String(o.district));
    Object.keys(OPTION_PARAMS).forEach(function (key) {
      if (o[key]) q.set(OPTION_PARAMS[key], String(o[key]));
    });
    if (o.certifiedOnly) q.set("certified_only", "true");
    if (o.largeText) q.set("large_text", "true");
    if (o.lang) q.set("lang", o.lang);
    return base + "/widget/v1?" + q.toString();
  }

  function filtersMessage(f) {
    var out = {};
    if ("category" in f) out.category = f.category || null;
    if ("minGrade" in f) out.min_grade = f.minGrade || null;
    if ("kind" in f) out.kind = f.kind || null;
    if ("certifiedOnly" in f) out.certified_only = Boolean(f.certifiedOnly);
    return out;
  }

  function call(fn, arg) {
    if (typeof fn === "function") fn(arg);
  }

  /* Mount the widget into `el`; returns {setLocation, setFilters, destroy, frame}. */
  function mount(el, options) {
    var o = options || {};
    var base = o.base ? new URL(o.base).origin : BASE;
    var lang = o.lang === "en" ? "en" : "zh";
    var frame = document.createElement("iframe");
    frame.src = widgetUrl(base, o);
    frame.title = lang === "en" ? "Domestic services near you" : "附近的家政服务";
    frame.setAttribute("allow", "geolocation");
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.display = "block";
    var auto = o.height === "auto";
    frame.style.height = (auto ? 600 : Number(o.height) || 600) + "px";
    var ready = false;
    var queue = [];

    function send(message) {
      var full = Object.assign({ source: "jzmap-host", version: VERSION }, message);
      if (!ready) queue.push(full);
      else frame.contentWindow.postMessage(full, base);
    }

    function onMessage(event) {
      if (event.source !== frame.contentWindow || event.origin !== base) return;
      var m = event.data;
      if (!m || typeof m !== "object" || m.source !== "jzmap" || m.version !== VERSION) return;
      if (m.type === "ready") {
        ready = true;
        queue.splice(0).forEach(function (queued) { frame.contentWindow.postMessage(queued, base); });
        call(o.onReady, m.widget);
      } else if (m.type === "provider-selected") {
        call(o.onSelect, m.provider);
      } else if (m.type === "error") {
        // Also what a site not yet allowed gets: code "origin_not_allowed".
        call(o.onError, { code: m.code, message: m.message });
      } else if (m.type === "resize" && auto) {
        frame.style.height = Math.max(320, m.height) + "px";
      }
    }

    global.addEventListener("message", onMessage);
    el.appendChild(frame);

    return {
      frame: frame,
      setLocation: function (location) {
        send({ type: "set-location", location: { lng: location.lng, lat: location.lat, crs: location.crs || "wgs84" } });
      },
      setFilters: function (filters) {
        send({ type: "set-filters", filters: filtersMessage(filters || {}) });
      },
      destroy: function () {
        global.removeEventListener("message", onMessage);
        if (frame.parentNode) frame.parentNode.removeChild(frame);
        queue = [];
      },
    };
  }

  global.JZMap = { version: VERSION, mount: mount };
})(window);
