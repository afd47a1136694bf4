/* Coverage report map (maps/coverage_report.py): draws the gap cells, the providers and the
   proposed sites from the JSON block #jz-report-data onto the Leaflet map folium made.

   Data never becomes markup or code: it arrives as JSON (parsed, never evaluated), and every
   label is put into the page as text (textContent), so a provider named `${…}`, with a
   backtick, a quote or </script> is shown as written and runs nothing. The report's
   Content-Security-Policy allows only this page's own scripts, by hash. */
(function () {
  "use strict";

  function text(tag, className, content) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = content;
    return node;
  }

  function draw() {
    var data = JSON.parse(document.getElementById("jz-report-data").textContent);
    var map = window[data.mapVar];
    var tip = function (label) {
      return function () {
        return text("div", "jz-tip", label);
      };
    };

    var cells = L.geoJSON(data.cells, {
      style: function (feature) {
        return {
          color: "#666",
          weight: 0.3,
          fillColor: feature.properties.colour,
          fillOpacity: 0.75
        };
      },
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(tip(feature.properties.label), { sticky: true });
      }
    }).addTo(map);
    cells.bringToBack();

    var providers = L.layerGroup().addTo(map);
    data.providers.forEach(function (p) {
      L.circleMarker([p.lat, p.lon], {
        radius: 4,
        color: "#fff",
        weight: 1,
        fill: true,
        fillColor: data.providerColour,
        fillOpacity: 0.95
      })
        .bindTooltip(tip(p.label), { sticky: true })
        .addTo(providers);
    });

    var sites = L.layerGroup().addTo(map);
    data.sites.forEach(function (s) {
      L.circle([s.lat, s.lon], {
        radius: data.catchmentM,
        color: data.siteColour,
        weight: 2,
        dashArray: "6 4",
        fill: true,
        fillOpacity: 0.08
      })
        .bindTooltip(tip(s.label), { sticky: true })
        .addTo(sites);
      L.marker([s.lat, s.lon], {
        icon: L.divIcon({
          html: text("div", "jz-site", String(s.rank)),
          className: "",
          iconSize: [26, 26],
          iconAnchor: [13, 13]
        })
      })
        .bindTooltip(tip(s.label), { sticky: true })
        .addTo(sites);
    });

    window.jzReport = { map: map, cells: cells, providers: providers, sites: sites };
    document.body.setAttribute("data-report-state", "ready");
  }

  // folium's map script runs at the end of the body, before this event.
  document.addEventListener("DOMContentLoaded", draw);
})();
