/* Jiazheng Map page script: draws what the API returns for the viewport in view, and the
   ranked providers nearest a tapped point. The page (built by folium, maps/page.py) holds
   the Leaflet map, the district boundaries, the controls and a JSON configuration.

   Coordinates: the configuration's `crs` is the datum the basemap is drawn in; every API
   call asks for answers in it (crs=...), so nothing is drawn off the basemap.

   The widget's messages to and from its host page are widget.js's (docs/embedding.md):
   this script tells it what happens through DOM events (jzmap:start, jzmap:results,
   jzmap:select, jzmap:error). */
(function () {
  "use strict";

  // Read when the map starts (this file loads in the page's head, before the body).
  var cfg, T, L_;

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function metres(m) {
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(m < 10000 ? 2 : 1) + " km";
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function filters() {
    var out = {};
    ["category", "min_grade", "kind"].forEach(function (name) {
      var node = byId("jz-" + name);
      if (node && node.value) out[name] = node.value;
    });
    var certified = byId("jz-certified_only");
    if (certified && certified.checked) out.certified_only = "true";
    var openNow = byId("jz-open_now");
    if (openNow && openNow.checked) {
      // A page opened with open_at asks about that time; else the server's "now".
      if (cfg.openAt) out.open_at = cfg.openAt;
      else out.open_now = "true";
    }
    return out;
  }

  function query(params) {
    return Object.keys(params)
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); })
      .join("&");
  }

  function status(message) {
    byId("jz-status").textContent = message;
  }

  /* A failed request's error carries a kind the page says in its own language (the
     API's messages are English, for developers): `kind` is the API's error code,
     "rate_limited", or "network" when no answer came. */
  function failure(kind, message) {
    var err = new Error(message);
    err.kind = kind;
    return err;
  }

  function getJSON(path, params, signal) {
    return fetch(cfg.api + path + "?" + query(params), { signal: signal, headers: { Accept: "application/json" } })
      .catch(function (err) {
        if (err.name === "AbortError") throw err;
        throw failure("network", err.message);
      })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.status === 429) throw failure("rate_limited", body.message || "");
          if (!response.ok) throw failure(body.error || (response.status >= 500 ? "unavailable" : "generic"), body.message || "");
          return body;
        });
      });
  }

  var ERROR_TEXT = {
    invalid_parameter: "err_invalid_parameter", invalid_filter: "err_invalid_parameter",
    invalid_request: "err_invalid_parameter", outside_served_area: "err_outside",
    not_found: "err_not_found", rate_limited: "err_rate_limited", unavailable: "err_unavailable",
    busy: "err_unavailable", timeout: "err_unavailable", network: "err_network",
  };

  /* What went wrong, in the page's language; the API's own message goes to the console
     for whoever debugs, never to the resident. */
  function errorText(err) {
    if (err && err.message && window.console) window.console.info("jzmap:", err.kind || "", err.message);
    return T[ERROR_TEXT[err && err.kind] || "err_generic"];
  }

  function gradeText(p) {
    return p.kind === "station" ? T.station_mark : p.credit_grade;
  }

  function large() {
    return document.documentElement.classList.contains("jz-large");
  }

  /* A marker's side in CSS pixels: a 48 px target in the large-text mode. */
  function markerPx() {
    return large() ? 48 : 26;
  }

  function markerIcon(p, extra) {
    var classes = "jz-marker " + (p.kind === "station" ? "jz-station" : "jz-company jz-g" + p.credit_grade);
    if (p.approximate) classes += " jz-approx";
    if (extra) classes += " " + extra;
    var side = markerPx();
    return L.divIcon({ className: classes, html: gradeText(p), iconSize: [side, side] });
  }

  /* ---- nothing hides anything: markers and labels spread ------------------------- */

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  /* The map's own controls (zoom, scale, attribution), in map-container pixels. */
  function controlRects() {
    var origin = map.getContainer().getBoundingClientRect();
    return Array.prototype.map.call(map.getContainer().querySelectorAll(".leaflet-control"), function (c) {
      var r = c.getBoundingClientRect();
      return { left: r.left - origin.left - 2, top: r.top - origin.top - 2, right: r.right - origin.left + 2, bottom: r.bottom - origin.top + 2 };
    });
  }

  /* Place each marker's icon (its point is kept: only the icon moves, a short way) so
     none covers another, a control, or the map's edge. `items` are {marker, w, h}; the
     first placed keep their places. Candidates walk out on a spiral; an icon that finds
     no free place stays where it fits inside the map. */
  function spread(items, keepInside) {
    var size = map.getSize();
    // Placed boxes in 64 px buckets: a marker looks only at its neighbours (the cap allows
    // 2,000 markers in view).
    var grid = {};
    function keys(b) {
      var out = [];
      for (var gx = Math.floor(b.left / 64); gx <= Math.floor(b.right / 64); gx++)
        for (var gy = Math.floor(b.top / 64); gy <= Math.floor(b.bottom / 64); gy++) out.push(gx + ":" + gy);
      return out;
    }
    function place(b) { keys(b).forEach(function (k) { (grid[k] = grid[k] || []).push(b); }); }
    function free(b) {
      return keys(b).every(function (k) { return !(grid[k] || []).some(function (q) { return overlaps(b, q); }); });
    }
    controlRects().forEach(place);
    items.forEach(function (item) {
      var p = map.latLngToContainerPoint(item.marker.getLatLng());
      var best = null;
      for (var ring = 0; ring < 12 && !best; ring++) {
        var steps = ring === 0 ? 1 : 8 * ring;
        for (var k = 0; k < steps && !best; k++) {
          var angle = (2 * Math.PI * k) / steps - Math.PI / 2;
          var dx = ring * Math.cos(angle) * (item.w * 0.55), dy = ring * Math.sin(angle) * (item.h + 2);
          var box = { left: p.x + dx - item.w / 2, top: p.y + dy - item.h / 2 };
          box.right = box.left + item.w;
          box.bottom = box.top + item.h;
          if (keepInside && (box.left < 2 || box.top < 2 || box.right > size.x - 2 || box.bottom > size.y - 2)) continue;
          if (free(box)) best = { dx: dx, dy: dy, box: box };
        }
      }
      if (!best) {
        // Nowhere free: at least inside the map, never cut off.
        var x = Math.min(Math.max(p.x, item.w / 2 + 2), size.x - item.w / 2 - 2);
        var y = Math.min(Math.max(p.y, item.h / 2 + 2), size.y - item.h / 2 - 2);
        best = { dx: x - p.x, dy: y - p.y, box: { left: x - item.w / 2, top: y - item.h / 2, right: x + item.w / 2, bottom: y + item.h / 2 } };
      }
      place(best.box);
      var node = item.marker.getElement();
      node.style.marginLeft = Math.round(best.dx - item.w / 2) + "px";
      node.style.marginTop = Math.round(best.dy - item.h / 2) + "px";
      if (best.dx || best.dy) node.setAttribute("data-spread", "1");
    });
  }

  function spreadLayer() {
    var bubbles = [], points = [];
    dataLayer.eachLayer(function (layer) {
      var node = layer.getElement && layer.getElement();
      if (!node || !layer.getLatLng) return;
      var item = { marker: layer, w: node.offsetWidth, h: node.offsetHeight };
      if (node.classList.contains("jz-bubble")) bubbles.push(item);
      else points.push(item);
    });
    // Labels: the most providers first (they keep their places); all inside the map.
    bubbles.sort(function (a, b) { return (b.marker.options.count || 0) - (a.marker.options.count || 0); });
    spread(bubbles, true);
    spread(points, false);
  }

  function describe(p) {
    var grade = p.kind === "station" ? T.ungraded : T.grade + " " + p.credit_grade;
    return p.name + ", " + L_.kind[p.kind] + ", " + grade;
  }

  /* ---- the viewport layer ---------------------------------------------------------- */

  var map, districts, dataLayer, resultLayer, controller;
  // A pointer that hovers: tooltips help there; after a tap (no hover) they would stay stuck.
  var hover = !window.matchMedia || window.matchMedia("(hover: hover)").matches;
  var markersById = {};

  function drawLayer(body) {
    dataLayer.clearLayers();
    markersById = {};
    if (body.mode === "districts") {
      body.features.forEach(function (f) {
        var name = L_.district[f.properties.name] || f.properties.name;
        var label = name + " " + fmt(T.count, { count: f.properties.count });
        var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
        L.marker(ll, {
          icon: L.divIcon({ className: "jz-bubble", html: label.replace(/&/g, "&amp;").replace(/</g, "&lt;"), iconSize: null }),
          title: label, alt: label, keyboard: true, count: f.properties.count,
        }).on("click", function () { map.setView(ll, 12); }).addTo(dataLayer);
      });
    } else if (body.mode === "streets" || body.mode === "communities") {
      // Street (街道) or community counts: on their polygons, or at street points.
      L.geoJSON(body.features, {
        style: function () { return { color: "#1f5f99", weight: 1, fillOpacity: 0.08 }; },
        pointToLayer: function (f, ll) {
          return L.marker(ll, { icon: L.divIcon({ className: "jz-bubble jz-street", html: "", iconSize: null }), keyboard: false });
        },
        onEachFeature: function (f, layer) {
          var label = f.properties.name + " " + fmt(T.count, { count: f.properties.count });
          if (layer.setIcon) layer.once("add", function () { layer.getElement().textContent = label; });
          else layer.bindTooltip(label, { permanent: false });
        },
      }).addTo(dataLayer);
    } else if (body.mode === "cells") {
      var max = Math.max.apply(null, body.features.map(function (f) { return f.properties.count; }).concat([1]));
      body.features.forEach(function (f) {
        var ring = f.geometry.coordinates[0].map(function (c) { return [c[1], c[0]]; });
        var share = Math.log(1 + f.properties.count) / Math.log(1 + max);
        var cell = L.polygon(ring, { color: "#1f5f99", weight: 1, fillColor: "#1f5f99", fillOpacity: 0.15 + 0.55 * share });
        if (hover) cell.bindTooltip(fmt(T.count, { count: f.properties.count }));
        cell.addTo(dataLayer);
      });
    } else {
      body.features.forEach(function (f) {
        var p = f.properties;
        var marker = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
          icon: markerIcon(p), title: describe(p), alt: describe(p), keyboard: true,
        });
        marker.on("click", function () { openDetails(p.id, marker); });
        marker.addTo(dataLayer);
        marker.getElement().setAttribute("data-id", p.id);
        markersById[p.id] = marker;
      });
    }
    spreadLayer();
    var key = body.mode === "districts" || body.mode === "streets" || body.mode === "communities" ? "mode_districts" : body.mode === "cells" ? "mode_cells" : "mode_points";
    status(fmt(T[key], { total: body.total }));
    document.body.setAttribute("data-layer-mode", body.mode);
    document.body.setAttribute("data-layer-count", String(body.features.length));
  }

  function refresh() {
    if (cfg.static) return drawStatic();
    if (controller) controller.abort();
    controller = new AbortController();
    var b = map.getBounds();
    var params = Object.assign(filters(), {
      bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(","),
      zoom: map.getZoom(),
      crs: cfg.crs,
    });
    // Between district counts (zoom < 11) and H3 cells (from 13): counts per street.
    if (map.getZoom() >= 11 && map.getZoom() < 13) params.level = "street";
    status(T.loading);
    document.body.setAttribute("data-layer-state", "loading");
    return getJSON("/v1/map/layer", params, controller.signal)
      .then(function (body) {
        drawLayer(body);
        document.body.setAttribute("data-layer-state", "ready");
      })
      .catch(function (err) {
        if (err.name === "AbortError") return;
        status(errorText(err));
        document.body.setAttribute("data-layer-state", "error");
      });
  }

  /* The offline copy: counts per district and per H3 cell, precomputed per category. */
  function drawStatic() {
    var key = filters().category || "all";
    var districts = map.getZoom() < cfg.static.cells_from_zoom;
    var source = districts ? cfg.static.districts : cfg.static.cells;
    var total = 0;
    var features = source.features.map(function (f) {
      var count = f.properties.counts[key] || 0;
      total += count;
      return { geometry: f.geometry, properties: Object.assign({}, f.properties, { count: count }) };
    }).filter(function (f) { return districts || f.properties.count > 0; });
    drawLayer({ mode: districts ? "districts" : "cells", total: total, features: features });
    document.body.setAttribute("data-layer-state", "ready");
  }

  /* ---- provider details ------------------------------------------------------------ */

  /* Text of the data (names, addresses, registry wording) is in Chinese whatever the
     page's language: it says so (lang), for screen readers and for translation. */
  function dataText(tag, attrs, value) {
    attrs = Object.assign({ text: value }, attrs || {});
    if (cfg.lang !== "zh" && /[\u3400-\u9fff]/.test(value)) attrs.lang = "zh-CN";
    return el(tag, attrs);
  }

  /* "次日02:00" is the API's "02:00 the next day". */
  function intervals(today) {
    return cfg.lang === "zh" ? today : today.replace(/次日\s*([0-9:]+)/g, "$1 (next day)").replace(/，|、/g, ", ");
  }

  /* "营业中 · 今天 09:00–18:00": the API judged the hours (holidays, 调休 included). Hours
     the import could not read are shown as registered, and said to be. */
  function hoursNode(p, cls) {
    var h = p.hours;
    var node = el("span", { class: cls || "" });
    if (!h || h.state === "unknown") {
      node.appendChild(document.createTextNode(T.open_state_unknown));
      if (p.opening_hours) {
        node.appendChild(document.createTextNode(" · " + T.hours_verbatim));
        node.appendChild(dataText("span", { class: "jz-verbatim" }, p.opening_hours));
      }
      return node;
    }
    var today = h.today ? T.today + " " + intervals(h.today) : T.closed_today;
    node.appendChild(document.createTextNode(T["open_state_" + h.state] + " · " + today));
    return node;
  }

  /* Call and navigate: links the API built (tel: and each app's datum). */
  function actionsNode(p) {
    var links = [];
    // The provider's own page; from the widget in a new tab (the page refuses to be framed),
    // and not from the offline copy, which has no server behind it.
    if (!cfg.static) {
      var details = { class: "jz-details", href: "/p/" + encodeURIComponent(p.id) + "?lang=" + cfg.lang, text: T.details };
      if (cfg.page === "widget") { details.target = "_blank"; details.rel = "noopener"; }
      links.push(el("a", details));
    }
    if (p.tel) links.push(el("a", { class: "jz-call", href: p.tel, text: T.call + " " + p.phone }));
    if (p.navigate) {
      ["amap", "baidu", "tencent"].forEach(function (app) {
        links.push(el("a", {
          class: "jz-nav jz-nav-" + app, href: p.navigate[app].web, target: "_blank",
          rel: "noopener noreferrer", "data-app-href": p.navigate[app].app,
          text: T.navigate + "·" + T["nav_" + app],
        }));
      });
    }
    return el("div", { class: "jz-actions" }, links);
  }

  function detailsNode(p, distance) {
    var rows = [
      [T.grade, p.kind === "station" ? T.ungraded : p.credit_grade],
      [T.address, p.address, true],
      [T.phone, p.phone],
      [T.hours, hoursNode(p)],
      [T.practitioners, String(p.practitioners)],
      [T.certified, String(p.certified_practitioners)],
    ];
    if (distance !== undefined) rows.unshift([T.distance, metres(distance)]);
    var dl = el("dl");
    rows.forEach(function (row) {
      if (!row[1]) return;
      dl.appendChild(el("dt", { text: row[0] }));
      if (typeof row[1] !== "string") dl.appendChild(el("dd", {}, [row[1]]));
      else dl.appendChild(row[2] ? dataText("dd", {}, row[1]) : el("dd", { text: row[1] }));
    });
    var precision = L_.precision[p.geocode_precision];
    return el("div", { class: "jz-popup", "data-provider-id": p.id }, [
      dataText("strong", {}, p.name),
      el("div", { text: L_.kind[p.kind] + " · " + p.categories.map(function (c) { return L_.category[c]; }).join(cfg.lang === "zh" ? "、" : ", ") }),
      dl,
      el("div", { class: p.approximate ? "jz-approx-note" : "", text: precision }),
      p.synthetic ? el("div", { text: T.synthetic }) : null,
      actionsNode(p),
    ]);
  }

  /* Phones (the narrow layout of jzmap.css): details replace the list in the bottom
     sheet; wide screens: a popup on the map. */
  function narrow() {
    return window.matchMedia("(max-width: 799px)").matches;
  }

  var popup = null;

  function showDetails(node, marker) {
    if (!narrow()) {
      // Panned clear of the map's controls: the zoom buttons at the top left, the scale
      // and the attribution along the bottom.
      var rects = controlRects();
      var top = rects.filter(function (r) { return r.top < 100; });
      var bottom = rects.filter(function (r) { return r.top >= 100; });
      // On the map, not bound to the marker: the layer drawn again after the pan (moveend)
      // would take the marker, and its popup, away.
      var size = map.getSize();
      var above = Math.max.apply(null, top.map(function (r) { return r.bottom; }).concat([0])) + 8;
      var below = size.y - Math.min.apply(null, bottom.map(function (r) { return r.top; }).concat([size.y])) + 8;
      popup = L.popup({
        offset: [0, 7 - markerPx() / 2],
        maxWidth: Math.min(320, size.x - 40),
        // Taller details scroll inside the popup: it fits between the controls.
        maxHeight: Math.max(120, size.y - above - below - 60),
        autoPanPaddingTopLeft: [16, above],
        autoPanPaddingBottomRight: [16, below],
      }).setLatLng(marker.getLatLng()).setContent(node).openOn(map);
      return;
    }
    var body = byId("jz-details-body");
    body.textContent = "";
    body.appendChild(node);
    byId("jz-main").hidden = true;
    byId("jz-details").hidden = false;
    openSheet(true);
    byId("jz-panel").scrollTop = 0;
    byId("jz-details-back").focus({ preventScroll: true });
    document.body.setAttribute("data-details", node.getAttribute("data-provider-id"));
  }

  function closeDetails() {
    byId("jz-details").hidden = true;
    byId("jz-main").hidden = false;
    document.body.removeAttribute("data-details");
  }

  function openDetails(id, marker) {
    getJSON("/v1/providers/" + encodeURIComponent(id), { crs: cfg.crs })
      .then(function (p) {
        var node = detailsNode(p);
        showDetails(node, marker);
        if (p.kind !== "station") appendGradeHistory(node, p.id);
      })
      .catch(function (err) { status(errorText(err)); });
  }

  // The latest changes of a company's grade in plain words (issue 19): text nodes only.
  function appendGradeHistory(node, id) {
    getJSON("/v1/providers/" + encodeURIComponent(id) + "/grade-history", {})
      .then(function (h) {
        var entries = h.changes.slice(-3).reverse();
        if (!entries.length) return;
        node.appendChild(el("div", { class: "jz-grade-history" }, [
          el("strong", { text: T.grade_history }),
          el("ul", {}, entries.map(function (c) {
            return el("li", { text: c[T.explanation_field] || "" });
          })),
        ]));
        // The popup measures its content when it opens: again, with the history in it.
        if (popup && popup.isOpen()) popup.update();
      })
      .catch(function () { /* the details stand without the history */ });
  }

  /* ---- nearest providers ----------------------------------------------------------- */

  function pct(x) {
    return Math.round(x * 100) + "%";
  }

  /* One plain line on why it ranks there: "近 850 m · 5A · 持证率 71%". */
  function plainLine(r) {
    var d = r.distance_m;
    var word = d < 1000 ? T.near : d < 3000 ? T.mid : T.far;
    var grade = r.kind === "station" ? T.station_short : r.credit_grade;
    var share = r.practitioners > 0
      ? fmt(T.certified_share, { share: pct(r.certified_practitioners / r.practitioners) })
      : T.no_practitioners;
    return word + " " + metres(d) + " · " + grade + " · " + share;
  }

  /* The full breakdown, one tap away: each term in words, the points summing to the
     score; a station says how a grade it does not have is counted. */
  function breakdownNode(r) {
    var items = Object.keys(r.score_parts).map(function (k) {
      var part = r.score_parts[k];
      return el("li", { text: fmt(T.score_part, {
        name: T["score_name_" + k] || k, value: part.value.toFixed(2),
        weight: part.weight.toFixed(2), points: part.points.toFixed(2),
      }) });
    });
    var children = [
      el("summary", { text: T.why }),
      el("p", { text: fmt(T.score_sum, { score: r.score.toFixed(2) }) }),
      el("ul", {}, items),
    ];
    if (r.kind === "station") children.push(el("p", { class: "jz-station-rank", text: T.station_rank }));
    return el("details", { class: "jz-why" }, children);
  }

  function select(r, rank) {
    Array.prototype.forEach.call(document.querySelectorAll(".jz-result"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-id") === r.id ? "true" : "false");
    });
    var marker = resultLayer.getLayers().filter(function (m) { return m.options.providerId === r.id; })[0];
    if (marker) showDetails(detailsNode(r, r.distance_m), marker);
    notifyHost(r, rank);
  }

  /* The widget's script (widget.js) tells the host page; the map page has no host. */
  function notifyHost(r, rank) {
    document.dispatchEvent(new CustomEvent("jzmap:select", { detail: { result: r, rank: rank } }));
  }

  /* Phones: the results open as a sheet over the map by themselves (the map keeps the
     top, with its controls, so nothing overlaps); the toggle gives the map back. */
  function openSheet(open) {
    document.body.classList.toggle("jz-sheet-open", open);
    var toggle = byId("jz-sheet-toggle");
    if (toggle) {
      toggle.hidden = !byId("jz-results").children.length;
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      toggle.textContent = open ? T.show_map : T.show_list;
    }
    map.invalidateSize();
  }

  var searchPoint = null;  // {lat, lon, crs, name}

  function showResults(body) {
    resultLayer.clearLayers();
    closeDetails();
    var list = byId("jz-results");
    list.textContent = "";
    var q = body.query;
    var here = searchPoint && searchPoint.name ? searchPoint.name : T.you_are_here;
    var hereMarker = L.marker([q.lat, q.lon], {
      icon: L.divIcon({ className: "jz-marker jz-here", html: "", iconSize: [18, 18] }),
      title: here, alt: here, keyboard: false, interactive: false,
    }).addTo(resultLayer);
    if (searchPoint && searchPoint.name) {
      // The place she chose, named on the map (permanent: it is the search's subject).
      hereMarker.bindTooltip(searchPoint.name, { permanent: true, direction: "top", offset: [0, -10], className: "jz-here-label" });
    }
    byId("jz-hint").hidden = body.results.length > 0;
    byId("jz-count").textContent = body.results.length ? fmt(T.found, { count: body.results.length }) : T.found_none;
    if (!body.results.length) {
      list.appendChild(el("li", { text: T.no_results }));
    }
    var side = markerPx();
    body.results.forEach(function (r) {
      var rank = r.rank;
      var marker = L.marker([r.lat, r.lon], {
        icon: L.divIcon({
          className: "jz-marker jz-ranked" + (r.approximate ? " jz-approx" : ""),
          html: String(rank), iconSize: [side, side],
        }),
        title: rank + ". " + describe(r), alt: rank + ". " + describe(r),
        providerId: r.id, zIndexOffset: 1000,
      });
      marker.on("click", function () { select(r, rank); });
      marker.addTo(resultLayer);
      marker.getElement().setAttribute("data-result-id", r.id);
      var button = el("button", { type: "button", class: "jz-result", "data-id": r.id, "aria-pressed": "false" }, [
        el("span", { class: "jz-rank", text: rank + "." }),
        dataText("span", { class: "jz-name" }, r.name),
        el("span", { class: "jz-line jz-plain", text: plainLine(r) }),
        el("span", { class: "jz-line", text: L_.kind[r.kind] + " · " + T.phone + " " + r.phone }),
        hoursNode(r, "jz-line jz-hours"),
        r.approximate ? el("span", { class: "jz-line jz-approx-note", text: L_.precision[r.geocode_precision] }) : null,
      ]);
      button.addEventListener("click", function () { select(r, rank); });
      list.appendChild(el("li", {}, [button, breakdownNode(r), actionsNode(r)]));
    });
    var bounds = resultLayer.getLayers().map(function (m) { return m.getLatLng(); });
    if (narrow() && body.results.length && !cfg.static) openSheet(true);
    if (bounds.length > 1) map.fitBounds(L.latLngBounds(bounds).pad(0.2), { maxZoom: Math.max(map.getZoom(), 14) });
    if (narrow() && body.results.length) byId("jz-panel").scrollTop = byId("jz-results-title").offsetTop - 4;
    document.body.setAttribute("data-results", String(body.results.length));
  }

  function sortValue() {
    var chosen = document.querySelector("input[name=jz-sort]:checked");
    return chosen ? chosen.value : "score";
  }

  /* Rank the providers nearest (lat, lon); `crs` is the datum of the point given. */
  function nearest(lat, lon, crs, name) {
    if (cfg.static) {
      status(T.offline);
      return Promise.resolve();
    }
    searchPoint = { lat: lat, lon: lon, crs: crs, name: name || null };
    status(T.searching);
    document.body.setAttribute("data-results", "loading");
    var params = Object.assign(filters(), {
      lat: lat.toFixed(7), lon: lon.toFixed(7), crs: crs, out_crs: cfg.crs, limit: 10, sort: sortValue(),
      navigate: "true",
    });
    return getJSON("/v1/providers/nearest", params)
      .then(function (body) {
        showResults(body);
        status(name ? fmt(T.place_chosen, { name: name }) : "");
        document.dispatchEvent(new CustomEvent("jzmap:results", { detail: body }));
      })
      .catch(function (err) {
        status(errorText(err));
        document.body.setAttribute("data-results", "error");
        document.dispatchEvent(new CustomEvent("jzmap:error", { detail: { code: "search_failed", message: err.message } }));
      });
  }

  function again() {
    if (searchPoint) nearest(searchPoint.lat, searchPoint.lon, searchPoint.crs, searchPoint.name);
  }

  var GEO_ERRORS = { 1: "geo_denied", 2: "geo_unavailable", 3: "geo_timeout" };

  function locate() {
    if (!navigator.geolocation) {
      status(fmt(T.locate_failed, { message: T.geo_unsupported }));
      return;
    }
    status(T.searching);
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        // Browsers report WGS-84 (GPS); the API converts the answer to the basemap's datum.
        nearest(pos.coords.latitude, pos.coords.longitude, "wgs84");
      },
      function (err) {
        // The browser's message is in its own language (often English): ours is not.
        status(fmt(T.locate_failed, { message: T[GEO_ERRORS[err.code] || "geo_unavailable"] }));
      },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
    );
  }

  /* ---- the place search box: an ARIA combobox ------------------------------------- */

  function placeBox() {
    var input = byId("jz-place");
    if (!input) return;
    var list = byId("jz-place-list");
    var places = [], active = -1, timer = null, asked = 0;

    function close() {
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(i) {
      active = i;
      Array.prototype.forEach.call(list.children, function (option, j) {
        option.setAttribute("aria-selected", j === i ? "true" : "false");
      });
      if (i >= 0) {
        input.setAttribute("aria-activedescendant", "jz-place-" + i);
        list.children[i].scrollIntoView({ block: "nearest" });
      } else input.removeAttribute("aria-activedescendant");
    }

    function choose(i) {
      var place = places[i];
      if (!place) return;
      input.value = place.name;
      close();
      // The answer is in the basemap's datum (crs=cfg.crs): the map draws it as it is.
      map.setView([place.lat, place.lon], Math.max(map.getZoom(), place.kind === "district" ? 12 : 14), { animate: false });
      document.body.setAttribute("data-place", place.name);
      nearest(place.lat, place.lon, cfg.crs, place.name);
    }

    function show(body) {
      places = body.places;
      list.textContent = "";
      if (!places.length) {
        list.appendChild(el("li", { class: "jz-place-none", role: "presentation", text: T.place_none }));
      }
      places.forEach(function (place, i) {
        var option = el("li", { id: "jz-place-" + i, role: "option", class: "jz-place-option", "aria-selected": "false" }, [
          dataText("span", { class: "jz-place-name" }, place.name),
          el("span", { class: "jz-place-kind", text: T["place_kind_" + place.kind] }),
        ]);
        // mousedown, not click: the input keeps its focus (and the list stays) until chosen.
        option.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(option);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      highlight(-1);
      document.body.setAttribute("data-places", String(places.length));
    }

    function ask() {
      var q = input.value.trim();
      if (!q) return close();
      var mine = ++asked;
      getJSON("/v1/places/suggest", { q: q.slice(0, 50), limit: 6, crs: cfg.crs })
        .then(function (body) { if (mine === asked && input.value.trim() === q) show(body); })
        .catch(function (err) { if (mine === asked) status(errorText(err)); });
    }

    input.addEventListener("input", function () {
      // Debounced: a request when she pauses, not one per character.
      clearTimeout(timer);
      timer = setTimeout(ask, 250);
    });
    input.addEventListener("keydown", function (e) {
      var open = !list.hidden && places.length;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (!open) { clearTimeout(timer); ask(); return; }
        highlight((active + 1) % places.length);
      } else if (e.key === "ArrowUp" && open) {
        e.preventDefault();
        highlight(active <= 0 ? places.length - 1 : active - 1);
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (open) choose(active >= 0 ? active : 0);
        else { clearTimeout(timer); ask(); }
      } else if (e.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function setLargeText(on) {
    document.documentElement.classList.toggle("jz-large", on);
    document.body.classList.toggle("jz-large", on);
    byId("jz-large-text").setAttribute("aria-pressed", on ? "true" : "false");
    try { window.localStorage.setItem("jzmap-large-text", on ? "1" : "0"); } catch (e) { /* private mode */ }
    map.invalidateSize();
    // Marker sizes follow the mode: draw again.
    refresh();
    again();
  }

  window.jzmapStart = function (leafletMap, districtsLayer) {
    cfg = JSON.parse(byId("jz-config").textContent);
    T = cfg.text;
    L_ = cfg.labels;
    map = leafletMap;
    districts = districtsLayer;
    dataLayer = L.layerGroup().addTo(map);
    resultLayer = L.layerGroup().addTo(map);
    districtsLayer.bringToBack();
    map.attributionControl.setPrefix(false);
    // Leaflet's zoom buttons are named in English: in the page's language instead.
    [["in", T.zoom_in], ["out", T.zoom_out]].forEach(function (z) {
      var button = map.getContainer().querySelector(".leaflet-control-zoom-" + z[0]);
      if (button) { button.title = z[1]; button.setAttribute("aria-label", z[1]); }
    });
    var stored = null;
    try { stored = window.localStorage.getItem("jzmap-large-text"); } catch (e) { /* private mode */ }
    if (stored !== null && !cfg.largeText) {
      document.documentElement.classList.toggle("jz-large", stored === "1");
      document.body.classList.toggle("jz-large", stored === "1");
      byId("jz-large-text").setAttribute("aria-pressed", stored === "1" ? "true" : "false");
    }

    map.on("moveend", refresh);
    map.on("click", function (e) { nearest(e.latlng.lat, e.latlng.lng, cfg.crs); });
    byId("jz-controls").addEventListener("change", function () {
      refresh();
      // A search on screen follows the filters: run it again from the same point.
      again();
    });
    byId("jz-controls").addEventListener("submit", function (e) { e.preventDefault(); });
    var sort = byId("jz-sort");
    if (sort) sort.addEventListener("change", again);
    var toggle = byId("jz-sheet-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      openSheet(!document.body.classList.contains("jz-sheet-open"));
    });
    byId("jz-details-back").addEventListener("click", function () {
      closeDetails();
      var pressed = document.querySelector(".jz-result[aria-pressed=true]");
      if (pressed) pressed.focus({ preventScroll: false });
    });
    var locateButton = byId("jz-locate");
    if (locateButton) locateButton.addEventListener("click", locate);
    var centre = byId("jz-search-centre");
    if (centre) centre.addEventListener("click", function () {
      var c = map.getCenter();
      nearest(c.lat, c.lng, cfg.crs);
    });
    byId("jz-large-text").addEventListener("click", function () {
      setLargeText(!document.documentElement.classList.contains("jz-large"));
    });
    placeBox();

    refresh();
    if (cfg.point) nearest(cfg.point.lat, cfg.point.lon, cfg.crs);
    window.jzmap = { map: map, nearest: nearest, refresh: refresh, config: cfg };
    document.dispatchEvent(new CustomEvent("jzmap:start"));
  };
})();
