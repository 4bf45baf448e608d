// salespulse: render Plotly charts from their JSON specs, sortable tables, the period picker.
// No numbers are computed here; the server sends them.
(function () {
  "use strict";

  function renderCharts() {
    var specs = document.querySelectorAll("script.chart-spec");
    var done = 0;
    specs.forEach(function (node) {
      var el = document.querySelector('[data-chart="' + node.dataset.for + '"]');
      if (!el || !window.Plotly) {
        console.error("cannot draw chart " + node.dataset.for);
        return;
      }
      var spec = JSON.parse(node.textContent);
      window.Plotly.newPlot(el, spec.data, spec.layout, {
        displaylogo: false,
        responsive: true,
        modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
      }).then(function () {
        drillDown(el);
        el.dataset.rendered = "1";
      }, function (err) {
        console.error("chart " + node.dataset.for + ": " + err);
      }).then(function () {
        done += 1;
        if (done === specs.length) document.body.dataset.chartsReady = String(done);
      });
    });
    if (specs.length === 0) document.body.dataset.chartsReady = "0";
  }

  // A click on a bar (point, funnel step, heatmap cell) opens the records behind it: the
  // server put their URL in the point's customdata.
  function drillDown(el) {
    el.on("plotly_click", function (ev) {
      var point = ev && ev.points && ev.points[0];
      var url = point && point.customdata;
      if (typeof url === "string" && url.indexOf("/explorer?") === 0) window.location.assign(url);
    });
  }

  function sortable(table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var asc = th.dataset.dir !== "asc";
        table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
        th.dataset.dir = asc ? "asc" : "desc";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
          var nx = parseFloat(x), ny = parseFloat(y);
          var cmp;
          if (x === "" && y === "") cmp = 0;
          else if (x === "") return 1;
          else if (y === "") return -1;
          else if (!isNaN(nx) && !isNaN(ny) && /^-?[\d.eE+-]+$/.test(x) && /^-?[\d.eE+-]+$/.test(y)) cmp = nx - ny;
          else cmp = x.localeCompare(y);
          return asc ? cmp : -cmp;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function periodPicker() {
    var sel = document.getElementById("f-period");
    if (!sel) return;
    var form = sel.form;
    function toggle() { form.classList.toggle("show-custom", sel.value === "custom"); }
    sel.addEventListener("change", toggle);
    toggle();
    // Leave empty fields out of the URL (an empty date is no date).
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (f) {
        if (f.value === "" || (f.closest(".custom") && sel.value !== "custom")) f.disabled = true;
      });
    });
    // A changed filter applies at once (the Apply button stays for keyboard users).
    form.querySelectorAll("select").forEach(function (s) {
      s.addEventListener("change", function () {
        if (s === sel && sel.value === "custom") return;
        if (s.id === "f-kpi") {
          var by = document.getElementById("f-by");
          if (by) by.value = "";
        }
        form.requestSubmit();
      });
    });
  }

  // "How is this computed?": the SQL is compiled on the server only when the reader opens
  // it (GET the data-explain URL, the JSON of /api/kpis/<id>/explain), shown as plain text.
  function explainOnDemand(details) {
    var pre = details.querySelector("pre");
    details.addEventListener("toggle", function () {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "1";
      fetch(details.dataset.explain, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) throw new Error(String(r.status));
          return r.json();
        })
        .then(function (body) { pre.textContent = body.explain; })
        .catch(function () {
          pre.textContent = details.dataset.error;
          delete details.dataset.loaded;
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts();
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll("details[data-explain]").forEach(explainOnDemand);
    periodPicker();
  });
})();
