/* Jiazheng Map widget <-> host page messages, version 1 (docs/embedding.md; one JSON
   Schema per message under /static/embed/v1/).

   To the host:   {source: "jzmap", version: 1, type: "ready" | "provider-selected" |
                   "error" | "resize", ...}
   From the host: {source: "jzmap-host", version: 1, type: "set-location" | "set-filters", ...}

   Both ways are origin-checked: messages go only to the framing page's origin when it is
   allowed to embed the widget (JZMAP_EMBED_ORIGINS or stored: the page's configuration
   lists them) or is this site, and commands are taken only from that window and origin.
   Coordinates go out in the datum the host asked for (the widget's `crs` parameter),
   rounded to 7 decimals (~1 cm), converted by the server (/v1/providers/{id}?crs=...). */
(function () {
  "use strict";

  var VERSION = 1;
  var CRS = ["wgs84", "gcj02", "bd09"];
  var FILTERS = ["category", "min_grade", "kind", "certified_only"];
  var params = new URLSearchParams(window.location.search);
  var hostCrs = CRS.indexOf(params.get("crs")) >= 0 ? params.get("crs") : "wgs84";
  var host = null;
  var lastHeight = 0;

  function byId(id) { return document.getElementById(id); }

  function round7(v) { return Math.round(v * 1e7) / 1e7; }

  /* The framing page's origin, when it may talk with the widget. */
  function hostOrigin(cfg) {
    var origin = null;
    if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
      origin = window.location.ancestorOrigins[0];
    } else if (document.referrer) {
      origin = new URL(document.referrer).origin;
    }
    if (!origin) return null;
    if (origin === window.location.origin || cfg.embedOrigins.indexOf(origin) >= 0) return origin;
    return null;
  }

  function post(type, fields) {
    if (!host) return;
    var message = Object.assign({ source: "jzmap", type: type, version: VERSION }, fields || {});
    window.parent.postMessage(message, host);
  }

  function fail(code, message) {
    post("error", { code: code, message: message });
  }

  function currentFilters() {
    var out = {};
    ["category", "min_grade", "kind"].forEach(function (name) {
      var node = byId("jz-" + name);
      out[name] = node && node.value ? node.value : null;
    });
    var certified = byId("jz-certified_only");
    out.certified_only = Boolean(certified && certified.checked);
    return out;
  }

  /* The frame height (CSS px) at which the panel shows every result without scrolling. */
  function reportSize() {
    var panel = byId("jz-panel");
    if (!panel) return;
    var share = panel.getBoundingClientRect().height / window.innerHeight || 0.38;
    var height = Math.min(2000, Math.ceil(panel.scrollHeight / share));
    if (height === lastHeight) return;
    lastHeight = height;
    post("resize", { height: height });
  }

  function selected(r, rank) {
    var url = "/v1/providers/" + encodeURIComponent(r.id) + "?crs=" + hostCrs;
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("provider " + r.id + ": HTTP " + response.status);
        return response.json();
      })
      .then(function (p) {
        post("provider-selected", {
          provider: {
            id: r.id, name: r.name, kind: r.kind, categories: r.categories,
            credit_grade: r.credit_grade, rank: rank, distance_m: r.distance_m, score: r.score,
            lat: round7(p.lat), lon: round7(p.lon), crs: hostCrs,
            phone: r.phone, opening_hours: r.opening_hours, address: r.address,
            approximate: r.approximate,
            url: window.location.origin + "/v1/providers/" + encodeURIComponent(r.id),
          },
        });
      })
      .catch(function (err) { fail("selection_failed", err.message); });
  }

  function setLocation(location) {
    var ok = location && typeof location.lat === "number" && typeof location.lng === "number" &&
      isFinite(location.lat) && isFinite(location.lng) &&
      Math.abs(location.lat) <= 90 && Math.abs(location.lng) <= 180;
    var crs = (location && location.crs) || "wgs84";
    if (!ok || CRS.indexOf(crs) < 0) {
      fail("invalid_command", "set-location needs location {lng, lat} (numbers) and crs wgs84, gcj02 or bd09");
      return;
    }
    window.jzmap.nearest(location.lat, location.lng, crs);
  }

  function setSelect(name, value) {
    var node = byId("jz-" + name);
    var wanted = value === null || value === undefined ? "" : String(value);
    if (node.tagName === "SELECT" && !Array.prototype.some.call(node.options, function (o) { return o.value === wanted; })) {
      return false;
    }
    node.value = wanted;
    return true;
  }

  function setFilters(filters) {
    if (!filters || typeof filters !== "object") {
      fail("invalid_command", "set-filters needs filters {category, min_grade, kind, certified_only}");
      return;
    }
    var bad = Object.keys(filters).filter(function (key) {
      if (FILTERS.indexOf(key) < 0) return true;
      if (key === "certified_only") {
        if (typeof filters[key] !== "boolean") return true;
        byId("jz-certified_only").checked = filters[key];
        return false;
      }
      return !setSelect(key, filters[key]);
    });
    if (bad.length) {
      fail("invalid_command", "set-filters: unknown filter or value: " + bad.join(", "));
      return;
    }
    byId("jz-controls").dispatchEvent(new Event("change"));
  }

  function onCommand(event) {
    if (event.source !== window.parent || event.origin !== host) return;
    var m = event.data;
    if (!m || typeof m !== "object" || m.source !== "jzmap-host") return;
    if (m.version !== VERSION) {
      fail("unsupported_version", "this widget speaks version " + VERSION + " (got " + m.version + ")");
      return;
    }
    if (m.type === "set-location") setLocation(m.location);
    else if (m.type === "set-filters") setFilters(m.filters);
    else fail("invalid_command", "unknown command " + String(m.type).slice(0, 40));
  }

  document.addEventListener("jzmap:start", function () {
    if (window.parent === window) return;
    host = hostOrigin(window.jzmap.config);
    if (!host) return;
    window.addEventListener("message", onCommand);
    window.addEventListener("resize", reportSize);
    post("ready", { widget: { crs: hostCrs, lang: window.jzmap.config.lang, filters: currentFilters() } });
    reportSize();
  });
  document.addEventListener("jzmap:select", function (e) { selected(e.detail.result, e.detail.rank); });
  document.addEventListener("jzmap:results", function () { reportSize(); });
  document.addEventListener("jzmap:error", function (e) { fail(e.detail.code, e.detail.message); });
})();
