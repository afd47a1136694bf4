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

  function getJSON(path, params, signal) {
    return fetch(cfg.api + path + "?" + query(params), { signal: signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message || response.statusText);
          return body;
        });
      });
  }

  function gradeText(p) {
    return p.kind === "station" ? "站" : p.credit_grade;
  }

  function markerIcon(p, extra) {
    var classes = "jz-marker " + (p.kind === "station" ? "jz-station" : "jz-company jz-g" + p.credit_grade);
    if (p.approximate) classes += " jz-approx";
    if (extra) classes += " " + extra;
    return L.divIcon({ className: classes, html: gradeText(p), iconSize: [26, 26] });
  }

  function describe(p) {
    var grade = p.kind === "station" ? T.ungraded : T.grade + " " + p.credit_grade;
    return p.name + ", " + L_.kind[p.kind] + ", " + grade;
  }

  /* ---- the viewport layer ---------------------------------------------------------- */

  var map, districts, dataLayer, resultLayer, controller;
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
          title: label, alt: label, keyboard: true,
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
        L.polygon(ring, { color: "#1f5f99", weight: 1, fillColor: "#1f5f99", fillOpacity: 0.15 + 0.55 * share })
          .bindTooltip(fmt(T.count, { count: f.properties.count }))
          .addTo(dataLayer);
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
    var key = body.mode === "districts" || body.mode === "streets" || body.mode === "communities" ? "mode_districts" : body.mode === "cells" ? "mode_cells" : "mode_points";
    status(fmt(T[key], { total: body.total }));
    document.body.setAttribute("data-layer-mode", body.mode);
    document.body.setAttribute("data-layer-count", String(body.features.length));
  }

  function coverageView() {
    var view = byId("jz-view");
    return view !== null && view.value === "coverage";
  }

  function refresh() {
    if (cfg.static) return drawStatic();
    if (coverageView()) return refreshCoverage();
    if (coverageDrawn) leaveCoverage();
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
        status(fmt(T.error, { message: err.message }));
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

  /* ---- coverage gaps (the map's "coverage" view) ------------------------------------ */

  var coverageDrawn = false;
  var coverageCache = {};
  // Distance classes of a cell's nearest suitable provider; the legend says them in words.
  var GAP_CLASSES = [
    { key: "covered", colour: "#2e7d32", test: function (p) { return p.covered; } },
    { key: "gap_near", colour: "#f9a825", test: function (p) { return p.nearest_m !== null && p.nearest_m <= 2000; } },
    { key: "gap_mid", colour: "#ef6c00", test: function (p) { return p.nearest_m !== null && p.nearest_m <= 5000; } },
    { key: "gap_far", colour: "#b71c1c", test: function () { return true; } },
  ];

  function gapClass(p) {
    if (!p.residents) return { key: "no_residents", colour: "#9e9e9e" };
    for (var i = 0; i < GAP_CLASSES.length; i++) if (GAP_CLASSES[i].test(p)) return GAP_CLASSES[i];
    return GAP_CLASSES[GAP_CLASSES.length - 1];
  }

  function coverageCategory() {
    var select = byId("jz-category");
    if (!select.value) {
      // Coverage is per service: pick the first rather than show nothing.
      select.value = select.options[1].value;
      status(fmt(T.coverage_pick, { category: L_.category[select.value] }));
    }
    return select.value;
  }

  function cachedJSON(path, params) {
    var key = path + "?" + query(params);
    if (!coverageCache[key]) {
      coverageCache[key] = getJSON(path, params).catch(function (err) {
        delete coverageCache[key];
        throw err;
      });
    }
    return coverageCache[key];
  }

  function pointInRing(lng, lat, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  /* The district under the map's centre, from the boundaries on the page (basemap datum). */
  function districtAt(latlng) {
    var found = null;
    districts.eachLayer(function (layer) {
      var g = layer.feature.geometry;
      var polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      polygons.forEach(function (rings) {
        if (!found && pointInRing(latlng.lng, latlng.lat, rings[0])) found = layer.feature.properties.name;
      });
    });
    return found;
  }

  function supplyFilters() {
    var f = filters();
    var out = {};
    if (f.min_grade) out.min_grade = f.min_grade;
    if (f.certified_only) out.certified_only = f.certified_only;
    return out;
  }

  /* The colours in words: a legend, so colour never carries the meaning alone. */
  function showLegend(entries) {
    var legend = byId("jz-legend");
    legend.textContent = "";
    entries.forEach(function (e) {
      var swatch = el("span", { class: "jz-swatch", "aria-hidden": "true" });
      swatch.style.background = e.colour;
      legend.appendChild(el("li", {}, [swatch, e.label]));
    });
    legend.hidden = entries.length === 0;
  }

  function leaveCoverage() {
    showLegend([]);
    districts.resetStyle();
    dataLayer.clearLayers();
    coverageDrawn = false;
  }

  function refreshCoverage() {
    var category = coverageCategory();
    var zoom = map.getZoom();
    coverageDrawn = true;
    document.body.setAttribute("data-layer-state", "loading");
    status(T.loading);
    var done = function (mode, count) {
      document.body.setAttribute("data-layer-mode", mode);
      document.body.setAttribute("data-layer-count", String(count));
      document.body.setAttribute("data-layer-state", "ready");
    };
    var failed = function (err) {
      status(fmt(T.error, { message: err.message }));
      document.body.setAttribute("data-layer-state", "error");
    };
    var supply = supplyFilters();
    if (zoom < 11) {
      return cachedJSON("/v1/coverage/districts", Object.assign({ category: category }, supply))
        .then(function (body) {
          if (!coverageView()) return;
          var share = {};
          body.districts.forEach(function (d) { share[d.district] = d.share_residents_covered; });
          dataLayer.clearLayers();
          districts.setStyle(function (feature) {
            var s = share[feature.properties.name];
            var colour = s === null || s === undefined ? "#9e9e9e" : s >= 0.9 ? "#2e7d32" : s >= 0.7 ? "#f9a825" : s >= 0.4 ? "#ef6c00" : "#b71c1c";
            return { color: "#46505a", weight: 1.5, fillColor: colour, fillOpacity: 0.45 };
          });
          districts.eachLayer(function (layer) {
            var name = layer.feature.properties.name;
            var s = share[name];
            var label = fmt(T.coverage_share, {
              name: L_.district[name] || name,
              share: s === null || s === undefined ? "—" : Math.round(s * 100) + "%",
            });
            L.marker(layer.getBounds().getCenter(), {
              icon: L.divIcon({ className: "jz-bubble", html: label.replace(/</g, "&lt;"), iconSize: null }),
              title: label, alt: label, keyboard: true,
            }).on("click", function () { map.fitBounds(layer.getBounds()); }).addTo(dataLayer);
          });
          status(fmt(T.coverage_districts, { catchment: body.query.catchment_m, category: L_.category[category] }));
          showLegend([
            { colour: "#2e7d32", label: "≥ 90%" }, { colour: "#f9a825", label: "70–90%" },
            { colour: "#ef6c00", label: "40–70%" }, { colour: "#b71c1c", label: "< 40%" },
          ]);
          done("coverage-districts", body.districts.length);
        })
        .catch(failed);
    }
    var district = districtAt(map.getCenter());
    if (!district) {
      dataLayer.clearLayers();
      status(T.no_results);
      done("coverage-cells", 0);
      return Promise.resolve();
    }
    var params = Object.assign({ category: category, district: district, crs: cfg.crs }, supply);
    return Promise.all([
      cachedJSON("/v1/coverage/cells", Object.assign({ res: 8 }, params)),
      cachedJSON("/v1/coverage/candidates", Object.assign({ k: 5 }, params)),
    ])
      .then(function (answers) {
        if (!coverageView()) return;
        var cells = answers[0], plan = answers[1];
        districts.resetStyle();
        dataLayer.clearLayers();
        var gaps = 0;
        cells.features.forEach(function (f) {
          var p = f.properties;
          var cls = gapClass(p);
          if (p.gap) gaps += 1;
          var ring = f.geometry.coordinates[0].map(function (c) { return [c[1], c[0]]; });
          var tip = T[cls.key].replace("{catchment}", cells.query.catchment_m) + " · " +
            T.nearest_provider + " " + (p.nearest_m === null ? "—" : metres(p.nearest_m)) + " · " +
            T.residents + " " + Math.round(p.residents) + " · " + T.within_reach + " " + p.providers_within;
          L.polygon(ring, { color: cls.colour, weight: 0.5, fillColor: cls.colour, fillOpacity: p.residents ? 0.45 : 0.1 })
            .bindTooltip(tip)
            .addTo(dataLayer);
        });
        plan.sites.forEach(function (site) {
          var label = fmt(T.site, { rank: site.rank, added: Math.round(site.residents_added) });
          var marker = L.marker([site.lat, site.lon], {
            icon: L.divIcon({ className: "jz-marker jz-site", html: "★" + site.rank, iconSize: [34, 26] }),
            title: label, alt: label, keyboard: true, zIndexOffset: 500,
          }).bindPopup(label).addTo(dataLayer);
          marker.getElement().setAttribute("data-site", site.cell);
        });
        document.body.setAttribute("data-coverage-district", district);
        showLegend(GAP_CLASSES.map(function (c) {
          return { colour: c.colour, label: T[c.key].replace("{catchment}", cells.query.catchment_m) };
        }).concat([{ colour: "#9e9e9e", label: T.no_residents }]));
        status(fmt(T.coverage_cells, {
          district: L_.district[district] || district, gaps: gaps,
          catchment: cells.query.catchment_m, category: L_.category[category],
        }));
        done("coverage-cells", cells.features.length);
      })
      .catch(failed);
  }

  /* ---- provider details ------------------------------------------------------------ */

  /* "营业中 · 今天 09:00–18:00": the API judged the hours (holidays, 调休 included). */
  function hoursLine(p) {
    var h = p.hours;
    if (!h || h.state === "unknown") return T.open_state_unknown + (p.opening_hours ? " · " + p.opening_hours : "");
    var today = h.today ? T.today + " " + h.today : T.closed_today;
    return T["open_state_" + h.state] + " · " + today;
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
      [T.address, p.address],
      [T.phone, p.phone],
      [T.hours, hoursLine(p)],
      [T.practitioners, String(p.practitioners)],
      [T.certified, String(p.certified_practitioners)],
    ];
    if (distance !== undefined) rows.unshift([T.distance, metres(distance)]);
    var dl = el("dl");
    rows.forEach(function (row) {
      if (!row[1]) return;
      dl.appendChild(el("dt", { text: row[0] }));
      dl.appendChild(el("dd", { text: row[1] }));
    });
    var precision = L_.precision[p.geocode_precision];
    return el("div", { class: "jz-popup", "data-provider-id": p.id }, [
      el("strong", { text: p.name }),
      el("div", { text: L_.kind[p.kind] + " · " + p.categories.map(function (c) { return L_.category[c]; }).join("、") }),
      dl,
      el("div", { class: p.approximate ? "jz-approx-note" : "", text: precision }),
      p.synthetic ? el("div", { text: T.synthetic }) : null,
      actionsNode(p),
    ]);
  }

  function openDetails(id, marker) {
    getJSON("/v1/providers/" + encodeURIComponent(id), { crs: cfg.crs })
      .then(function (p) {
        var node = detailsNode(p);
        marker.bindPopup(node).openPopup();
        if (p.kind !== "station") appendGradeHistory(node, p.id);
      })
      .catch(function (err) { status(fmt(T.error, { message: err.message })); });
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
      })
      .catch(function () { /* the details stand without the history */ });
  }

  /* ---- nearest providers ----------------------------------------------------------- */

  function scoreLine(r) {
    var parts = r.score_parts;
    var names = { distance: T.score_distance, grade: T.score_grade, certified: T.score_certified };
    return T.score + " " + r.score.toFixed(2) + " = " + Object.keys(parts).map(function (k) {
      return (names[k] || k) + " " + parts[k].points.toFixed(2);
    }).join(" + ");
  }

  function select(r, rank) {
    Array.prototype.forEach.call(document.querySelectorAll(".jz-result"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-id") === r.id ? "true" : "false");
    });
    var marker = resultLayer.getLayers().filter(function (m) { return m.options.providerId === r.id; })[0];
    if (marker) {
      marker.bindPopup(detailsNode(r, r.distance_m)).openPopup();
    }
    notifyHost(r, rank);
  }

  /* The widget's script (widget.js) tells the host page; the map page has no host. */
  function notifyHost(r, rank) {
    document.dispatchEvent(new CustomEvent("jzmap:select", { detail: { result: r, rank: rank } }));
  }

  function showResults(body) {
    resultLayer.clearLayers();
    var list = byId("jz-results");
    list.textContent = "";
    var q = body.query;
    L.marker([q.lat, q.lon], {
      icon: L.divIcon({ className: "jz-marker jz-here", html: "", iconSize: [18, 18] }),
      title: T.you_are_here, alt: T.you_are_here, keyboard: false, interactive: false,
    }).addTo(resultLayer);
    byId("jz-hint").hidden = body.results.length > 0;
    if (!body.results.length) {
      list.appendChild(el("li", { text: T.no_results }));
    }
    body.results.forEach(function (r) {
      var rank = r.rank;
      var marker = L.marker([r.lat, r.lon], {
        icon: L.divIcon({
          className: "jz-marker jz-ranked" + (r.approximate ? " jz-approx" : ""),
          html: String(rank), iconSize: [26, 26],
        }),
        title: rank + ". " + describe(r), alt: rank + ". " + describe(r),
        providerId: r.id, zIndexOffset: 1000,
      });
      marker.on("click", function () { select(r, rank); });
      marker.addTo(resultLayer);
      marker.getElement().setAttribute("data-result-id", r.id);
      var grade = r.kind === "station" ? T.ungraded : T.grade + " " + r.credit_grade;
      var button = el("button", { type: "button", class: "jz-result", "data-id": r.id, "aria-pressed": "false" }, [
        el("span", { class: "jz-rank", text: rank + "." }),
        el("span", { class: "jz-name", text: r.name }),
        el("span", { class: "jz-line", text: T.distance + " " + metres(r.distance_m) + " · " + grade + " · " + L_.kind[r.kind] }),
        el("span", { class: "jz-line", text: scoreLine(r) }),
        el("span", { class: "jz-line jz-hours", text: hoursLine(r) }),
        r.approximate ? el("span", { class: "jz-line jz-approx-note", text: L_.precision[r.geocode_precision] }) : null,
      ]);
      button.addEventListener("click", function () { select(r, rank); });
      list.appendChild(el("li", {}, [button, actionsNode(r)]));
    });
    var bounds = resultLayer.getLayers().map(function (m) { return m.getLatLng(); });
    if (bounds.length > 1) map.fitBounds(L.latLngBounds(bounds).pad(0.2), { maxZoom: Math.max(map.getZoom(), 14) });
    document.body.setAttribute("data-results", String(body.results.length));
  }

  /* Rank the providers nearest (lat, lon); `crs` is the datum of the point given. */
  function nearest(lat, lon, crs) {
    if (cfg.static) {
      status(T.offline);
      return Promise.resolve();
    }
    status(T.searching);
    document.body.setAttribute("data-results", "loading");
    var params = Object.assign(filters(), { lat: lat.toFixed(7), lon: lon.toFixed(7), crs: crs, out_crs: cfg.crs, limit: 10, navigate: "true" });
    return getJSON("/v1/providers/nearest", params)
      .then(function (body) {
        showResults(body);
        status("");
        document.dispatchEvent(new CustomEvent("jzmap:results", { detail: body }));
      })
      .catch(function (err) {
        status(fmt(T.error, { message: err.message }));
        document.body.setAttribute("data-results", "error");
        document.dispatchEvent(new CustomEvent("jzmap:error", { detail: { code: "search_failed", message: err.message } }));
      });
  }

  function locate() {
    if (!navigator.geolocation) {
      status(fmt(T.locate_failed, { message: "geolocation unavailable" }));
      return;
    }
    status(T.searching);
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        // Browsers report WGS-84 (GPS); the API converts the answer to the basemap's datum.
        nearest(pos.coords.latitude, pos.coords.longitude, "wgs84");
      },
      function (err) { status(fmt(T.locate_failed, { message: err.message })); },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
    );
  }

  function setLargeText(on) {
    document.body.classList.toggle("jz-large", on);
    byId("jz-large-text").setAttribute("aria-pressed", on ? "true" : "false");
    try { window.localStorage.setItem("jzmap-large-text", on ? "1" : "0"); } catch (e) { /* private mode */ }
    map.invalidateSize();
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

    var stored = null;
    try { stored = window.localStorage.getItem("jzmap-large-text"); } catch (e) { /* private mode */ }
    if (stored !== null && !cfg.largeText) setLargeText(stored === "1");

    map.on("moveend", refresh);
    map.on("click", function (e) { nearest(e.latlng.lat, e.latlng.lng, cfg.crs); });
    byId("jz-controls").addEventListener("change", function () {
      refresh();
      // A search on screen follows the filters: run it again from the same point.
      var here = resultLayer.getLayers()[0];
      if (here) nearest(here.getLatLng().lat, here.getLatLng().lng, cfg.crs);
    });
    byId("jz-controls").addEventListener("submit", function (e) { e.preventDefault(); });
    var locateButton = byId("jz-locate");
    if (locateButton) locateButton.addEventListener("click", locate);
    var centre = byId("jz-search-centre");
    if (centre) centre.addEventListener("click", function () {
      var c = map.getCenter();
      nearest(c.lat, c.lng, cfg.crs);
    });
    byId("jz-large-text").addEventListener("click", function () {
      setLargeText(!document.body.classList.contains("jz-large"));
    });

    refresh();
    if (cfg.point) nearest(cfg.point.lat, cfg.point.lon, cfg.crs);
    window.jzmap = { map: map, nearest: nearest, refresh: refresh, config: cfg };
    document.dispatchEvent(new CustomEvent("jzmap:start"));
  };
})();
