/* The planner's workbench (/map?view=coverage, maps/coverage_workbench.py): fills the map,
   the street table and the site list from /v1/coverage/cells, /streets and the sites
   endpoint the server chose (config.sitesPath: /candidates for gap cells, /sites for the
   office's own rooms) for the chosen district, category, life circle, speed, distance mode
   and kind, on the chosen H3 grid (r9 by default), minus the sites the planner excluded;
   keeps the export links (every choice, the exclusions, her rooms or gap cells), the
   print view's summary and the print button in step.

   Which distance the figures are is what the API answers (query.mode, query.mode_label),
   never the control's value alone.

   Every figure comes from the API as JSON and is put into the page as text (textContent),
   never as markup. The legend is the server's (config.legend: maps/coverage_report.py's
   LEGEND, the offline report's too): this script applies it, it does not define one. */
(function () {
  "use strict";

  var config, map, districtsLayer, cellsLayer, sitesLayer, labelsLayer;
  var streetRows = [];
  var sortKey = null;
  var sortDir = 1;
  var generation = 0;
  var excluded = []; // {key, label}: ids (rooms) or H3 cells (gap cells) left out

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }

  function params() {
    var p = {
      district: $("jz-wb-district").value,
      category: $("jz-wb-category").value,
      minutes: $("jz-wb-minutes").value,
      speed: $("jz-wb-speed").value,
      mode: $("jz-wb-mode").value,
      res: $("jz-wb-res").value
    };
    var kind = $("jz-wb-kind").value;
    if (kind) p.kind = kind;
    return p;
  }

  function query(p) {
    return Object.keys(p)
      .map(function (k) {
        return encodeURIComponent(k) + "=" + encodeURIComponent(p[k]);
      })
      .join("&");
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return String(values[key]);
    });
  }

  /* A 503 with Retry-After (the walking network still being prepared) or a 429 (a planner
     changing several choices at once spends the address's request budget: each change asks
     for cells, streets and sites) is asked again after the wait the server names, while the
     page still wants this answer; meanwhile the 503's message, or "busy", is shown. Any
     other error ends the computation with the API's message. */
  function getJSON(path, p, mine) {
    return fetch(path + "?" + query(p), { headers: { Accept: "application/json" } }).then(
      function (r) {
        return r.json().then(function (body) {
          var wait = Number(r.headers.get("Retry-After"));
          if ((r.status === 503 || r.status === 429) && wait > 0 && mine === generation) {
            $("jz-wb-query").textContent =
              r.status === 429
                ? fill(config.text.busy, { s: Math.min(wait, 30) })
                : body.message || String(r.status);
            return new Promise(function (resolve) {
              setTimeout(resolve, Math.min(wait, 30) * 1000);
            }).then(function () {
              if (mine !== generation) throw new Error("superseded");
              return getJSON(path, p, mine);
            });
          }
          if (!r.ok) throw new Error(body.message || String(r.status));
          return body;
        });
      }
    );
  }

  /* ---- figures, rounded as the Excel file rounds them (maps/coverage_exports.py) ------- */
  var number = new Intl.NumberFormat(document.documentElement.lang, { maximumFractionDigits: 0 });

  function shown(value, how) {
    if (value === null || value === undefined || (typeof value === "number" && !isFinite(value)))
      return "—";
    if (how === "people" || how === "int") return number.format(Math.round(value));
    if (how === "share") return (Math.round(value * 1000) / 10).toFixed(1) + "%";
    if (how === "coord") return Number(value).toFixed(6);
    if (how === "bool") return config.inferred[value ? 1 : 0];
    return String(value);
  }

  function band(cell) {
    var legend = config.legend;
    if (!(cell.residents > 0)) return legend[legend.length - 1];
    if (cell.covered) return legend[0];
    var metres = cell.nearest_m === null ? Infinity : cell.nearest_m;
    for (var i = 1; i < legend.length - 1; i++) {
      if (legend[i].below_m === null || metres < legend[i].below_m) return legend[i];
    }
    return legend[legend.length - 2];
  }

  /* ---- the street table: sortable by any column ---------------------------------------- */
  function compare(a, b) {
    var x = a[sortKey];
    var y = b[sortKey];
    var xm = x === null || x === undefined;
    var ym = y === null || y === undefined;
    if (xm || ym) return xm === ym ? 0 : xm ? 1 : -1; // missing last, either way
    if (typeof x === "number" && typeof y === "number") return (x - y) * sortDir;
    return String(x).localeCompare(String(y), document.documentElement.lang) * sortDir;
  }

  function drawStreets() {
    var rows = streetRows.slice();
    if (sortKey) rows.sort(compare);
    var body = $("jz-wb-streets").tBodies[0];
    body.textContent = "";
    rows.forEach(function (row) {
      var tr = el("tr");
      config.streetFields.forEach(function (field) {
        var td = el("td", field[1] === "text" || field[1] === "bool" ? "t" : "", shown(row[field[0]], field[1]));
        td.setAttribute("data-key", field[0]);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    Array.prototype.forEach.call($("jz-wb-streets").tHead.rows[0].cells, function (th) {
      var key = th.getAttribute("data-key");
      th.setAttribute(
        "aria-sort",
        key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none"
      );
    });
  }

  /* How a site is named in the exclusion list and to a screen reader: her room by name and
     id, a gap cell by district, street and cell. */
  function siteLabel(site) {
    if (config.siteKey === "id") return (site.name || "—") + " (" + site.id + ")";
    return (site.district || "") + " " + (site.street || "—") + " · " + site.cell;
  }

  /* A site's cell: its address source in words (config.addressSources, the workbook's),
     a missing address with the reason as its tooltip, the H3 id small. */
  function siteCell(site, field) {
    var key = field[0];
    var value = site[key];
    var text = field[1] === "address_source"
      ? config.addressSources[value] || (value === null || value === undefined ? "—" : String(value))
      : shown(value, field[1]);
    var td = el("td", field[1] === "people" || field[1] === "int" ? "" : "t", text);
    td.setAttribute("data-key", key);
    if (key === "cell") td.className = "t h3";
    if (key === "address" && !value) {
      td.className = "t noaddr";
      if (site.address_note) td.title = site.address_note;
    }
    return td;
  }

  function drawSites(sites) {
    var body = $("jz-wb-sites").tBodies[0];
    var full = excluded.length >= config.maxExcluded;
    body.textContent = "";
    sites.forEach(function (site) {
      var tr = el("tr");
      tr.setAttribute("data-site", String(site[config.siteKey]));
      config.siteFields.forEach(function (field) {
        tr.appendChild(siteCell(site, field));
      });
      var td = el("td", "act");
      var button = el("button", "jz-wb-exclude", config.text.exclude);
      button.type = "button";
      button.setAttribute("aria-label", fill(config.text.exclude_site, { site: siteLabel(site) }));
      if (full) {
        button.disabled = true;
        button.title = fill(config.text.too_many, { n: config.maxExcluded });
      }
      button.addEventListener("click", function () {
        exclude(site);
      });
      td.appendChild(button);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  /* ---- exclusions: kept in the page, sent as exclude= with every plan ------------------ */
  function exclude(site) {
    var key = String(site[config.siteKey]);
    if (excluded.length >= config.maxExcluded) return;
    if (!excluded.some(function (e) { return e.key === key; }))
      excluded.push({ key: key, label: siteLabel(site) });
    drawExcluded(key);
    refresh();
  }

  function restore(key) {
    excluded = excluded.filter(function (e) { return e.key !== key; });
    drawExcluded(null);
    $("jz-wb-excluded-h").focus();
    refresh();
  }

  /* The list "已排除", each entry with its own restore button; focus follows the site just
     excluded (its row goes away with the next plan). */
  function drawExcluded(focusKey) {
    var list = $("jz-wb-excluded");
    list.textContent = "";
    $("jz-wb-excluded-none").hidden = excluded.length > 0;
    excluded.forEach(function (e) {
      var li = el("li");
      li.setAttribute("data-key", e.key);
      li.appendChild(el("span", "", e.label + " "));
      var button = el("button", "", config.text.restore);
      button.type = "button";
      button.setAttribute("aria-label", fill(config.text.restore_site, { site: e.label }));
      button.addEventListener("click", function () {
        restore(e.key);
      });
      li.appendChild(button);
      list.appendChild(li);
      if (e.key === focusKey) button.focus();
    });
  }

  function exclusions() {
    return excluded.map(function (e) { return e.key; }).join(",");
  }

  /* Where the residents per cell come from, in the page's language (the API says it in
     both). */
  function sourceText(q) {
    return config.lang === "zh" ? q.demand_source_zh || q.demand_source : q.demand_source;
  }

  /* Which residents the plan counts and how many it newly covers: "新增覆盖 60 岁及以上居民".
     Her rooms' plan names the column it read (the category's own by default), the
     candidates' the population behind it; the query says which that is. */
  function drawPlanHeading(plan, q) {
    var basis = plan.demand === q.category || !plan.demand ? q.demand : plan.demand;
    var who = config.demandWords[basis] || basis || config.demandWords.residents;
    if (config.lang === "zh" && /^[0-9]/.test(who)) who = " " + who;
    var share = function (v) { return shown(v, "share"); };
    var rooms = config.sites === "rooms";
    var text = rooms
      ? fill(config.text.added_rooms, {
          who: who,
          n: shown(plan.demand_newly_in_reach, "people"),
          served: shown(plan.demand_served, "people")
        })
      : fill(config.text.added, { who: who, n: shown(plan.residents_newly_covered, "people") });
    text += " · " + fill(config.text.share, {
      before: share(plan.share_covered_before), after: share(plan.share_covered_after)
    });
    var heading = $("jz-wb-sites-demand");
    heading.textContent = text;
    heading.setAttribute("data-demand", String(basis));
  }

  /* The print view's summary: what was chosen, which distance the API measured, what was
     left out, and when. */
  function drawSummary(q) {
    var chosen = function (id) {
      return $(id).selectedOptions[0].textContent;
    };
    var rows = {
      district: chosen("jz-wb-district"),
      category: chosen("jz-wb-category"),
      minutes: chosen("jz-wb-minutes") + " (≈ " + Math.round(q.catchment_m) + " m)",
      speed: chosen("jz-wb-speed"),
      mode: q.mode_label + " · " + config.text["note_" + q.mode],
      res: fill(config.text.grid, { res: q.resolution }),
      source: sourceText(q),
      kind: chosen("jz-wb-kind"),
      k: chosen("jz-wb-k"),
      excluded: excluded.length
        ? excluded.map(function (e) { return e.label; }).join("；")
        : config.text.none,
      date: new Intl.DateTimeFormat(document.documentElement.lang, {
        timeZone: "Asia/Shanghai", year: "numeric", month: "long", day: "numeric"
      }).format(new Date()),
      data_version: String(q.data_version)
    };
    Object.keys(rows).forEach(function (key) {
      $("jz-wb-sum-" + key).textContent = rows[key];
    });
  }

  /* ---- the map --------------------------------------------------------------------------- */
  function drawCells(cells) {
    if (cellsLayer) map.removeLayer(cellsLayer);
    cellsLayer = L.geoJSON(cells, {
      style: function (feature) {
        return { color: "#666", weight: 0.3, fillColor: band(feature.properties).colour, fillOpacity: 0.7 };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindTooltip(function () {
          return el("div", "", band(p).label + " · " + (p.street || "—") + " · " + shown(p.residents, "people"));
        }, { sticky: true });
      }
    }).addTo(map);
    cellsLayer.bringToBack();
    if (cells.features.length) map.fitBounds(cellsLayer.getBounds(), { padding: [8, 8] });
  }

  /* A circle is what a crow-fly catchment is; a walking one is not (the river, the wall),
     so on foot only the marker is drawn. */
  function drawSitesOnMap(sites, catchment, mode) {
    if (sitesLayer) map.removeLayer(sitesLayer);
    sitesLayer = L.layerGroup().addTo(map);
    sites.forEach(function (s) {
      if (mode === "crow")
        L.circle([s.lat, s.lon], {
          radius: catchment, color: config.siteColour, weight: 2, dashArray: "6 4", fillOpacity: 0.06
        }).addTo(sitesLayer);
      L.marker([s.lat, s.lon], {
        icon: L.divIcon({ html: el("div", "jz-wb-site", String(s.rank)), className: "", iconSize: [26, 26], iconAnchor: [13, 13] }),
        keyboard: false
      }).addTo(sitesLayer);
    });
  }

  /* Share-covered labels per street: the busiest streets first; a label that would overlap
     one already shown is left out (its figure stays in the table). */
  function drawLabels(streets) {
    if (labelsLayer) map.removeLayer(labelsLayer);
    labelsLayer = L.layerGroup().addTo(map);
    var placed = [];
    streets
      .filter(function (s) { return s.lat !== null && s.share_covered !== null; })
      .sort(function (a, b) { return b.demand - a.demand; })
      .forEach(function (s) {
        var label = el("span", "jz-wb-pct", (s.street || "—") + " " + shown(s.share_covered, "share"));
        var marker = L.marker([s.lat, s.lon], {
          icon: L.divIcon({ html: label, className: "", iconSize: null, iconAnchor: [0, 0] }),
          keyboard: false,
          interactive: false
        }).addTo(labelsLayer);
        var box = label.getBoundingClientRect();
        var clash = placed.some(function (b) {
          return box.left < b.right && b.left < box.right && box.top < b.bottom && b.top < box.bottom;
        });
        if (clash) labelsLayer.removeLayer(marker);
        else placed.push(box);
      });
  }

  function refresh() {
    var p = params();
    var mine = ++generation;
    var k = $("jz-wb-k").value;
    var crs = config.tiles.crs;
    document.body.setAttribute("data-workbench-state", "loading");
    $("jz-wb-query").textContent = config.text.loading;
    var siteParams = Object.assign({ crs: crs, k: k }, p);
    if (excluded.length) siteParams.exclude = exclusions();
    // The files hold what the page shows: every choice, the exclusions, the same site
    // source (her rooms or gap cells), in the page's language.
    var file = Object.assign({ k: k, sites: config.sites }, p);
    if (excluded.length) file.exclude = exclusions();
    if (config.lang !== "zh") file.lang = config.lang;
    $("jz-wb-xlsx").href = "/v1/coverage/workbook?" + query(Object.assign({ f: "xlsx" }, file));
    $("jz-wb-gpkg").href = "/v1/coverage/workbook?" + query(Object.assign({ f: "gpkg" }, file));
    Promise.all([
      getJSON("/v1/coverage/cells", Object.assign({ crs: crs }, p), mine),
      getJSON("/v1/coverage/streets", Object.assign({ crs: crs }, p), mine),
      getJSON(config.sitesPath, siteParams, mine)
    ])
      .then(function (answers) {
        if (mine !== generation) return;
        var cells = answers[0];
        var streets = answers[1];
        var plan = answers[2];
        drawCells(cells);
        drawSitesOnMap(plan.sites, streets.query.catchment_m, plan.query.mode);
        streetRows = streets.streets; // label points in the basemap's datum (crs)
        drawStreets();
        drawSites(plan.sites);
        drawLabels(streetRows);
        var q = streets.query;
        var title = $("jz-wb-district").selectedOptions[0].textContent + " · " +
          $("jz-wb-category").selectedOptions[0].textContent + " · " +
          $("jz-wb-minutes").selectedOptions[0].textContent + " · " +
          $("jz-wb-speed").selectedOptions[0].textContent;
        // The distance named is the API's (its mode_label), as the figures were measured.
        $("jz-wb-query").textContent = title + " · " + Math.round(q.catchment_m) + " m · " +
          q.mode_label + " · " + fill(config.text.grid, { res: q.resolution }) + " · " +
          config.text["note_" + q.mode];
        $("jz-wb-source").textContent =
          config.text.source + (config.lang === "zh" ? "：" : ": ") + sourceText(q);
        drawPlanHeading(plan.plan, plan.query);
        drawSummary(q);
        document.title = config.text.title + " · " + title;
        document.body.setAttribute("data-workbench-state", "ready");
        document.body.setAttribute("data-workbench-streets", String(streetRows.length));
        document.body.setAttribute("data-workbench-sites", String(plan.sites.length));
        document.body.setAttribute("data-workbench-mode", q.mode);
      })
      .catch(function (err) {
        if (mine !== generation) return;
        $("jz-wb-query").textContent = err.message;
        document.body.setAttribute("data-workbench-state", "error");
      });
  }

  function start() {
    config = JSON.parse($("jz-wb-config").textContent);
    map = L.map("jz-wb-map", { zoomControl: true, maxZoom: config.maxZoom });
    L.tileLayer(config.tiles.url, { attribution: config.tiles.attribution, maxZoom: config.maxZoom }).addTo(map);
    districtsLayer = L.geoJSON(config.districts, {
      style: function () { return { color: "#222", weight: 1.5, fill: false }; },
      interactive: false
    }).addTo(map);
    map.fitBounds(districtsLayer.getBounds());
    L.control.scale({ imperial: false }).addTo(map);
    $("jz-wb-form").addEventListener("submit", function (e) { e.preventDefault(); });
    ["district", "category", "minutes", "speed", "mode", "kind", "k"].forEach(function (name) {
      $("jz-wb-" + name).addEventListener("change", refresh);
    });
    // Excluded gap cells are cells of one grid: another resolution starts without them
    // (her rooms are excluded by id, whatever the grid).
    $("jz-wb-res").addEventListener("change", function () {
      if (config.siteKey === "cell" && excluded.length) {
        excluded = [];
        drawExcluded(null);
      }
      refresh();
    });
    Array.prototype.forEach.call($("jz-wb-streets").tHead.rows[0].cells, function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var key = th.getAttribute("data-key");
        if (sortKey === key) sortDir = -sortDir;
        else {
          sortKey = key;
          sortDir = 1;
        }
        drawStreets();
      });
    });
    $("jz-wb-print").addEventListener("click", function () { window.print(); });
    $("jz-wb-excluded-h").tabIndex = -1; // focus lands here when the last one is restored
    drawExcluded(null);
    window.jzWorkbench = { map: map, refresh: refresh };
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
