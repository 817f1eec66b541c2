// Tidings' own: draws the dashboard's charts with uPlot from the numbers the page
// embeds in <script type="application/json" id="dashboard-data">. Without
// JavaScript (or uPlot) the page's tables say the same; the charts are aria-hidden.
(function () {
  "use strict";
  var COLOURS = ["#1f5fa8", "#2e7d32", "#b35c00", "#7b3fa0", "#c62828", "#00796b"];

  function draw(element, chart) {
    var series = [{ label: "Time (UTC)" }];
    var data = [chart.x];
    chart.series.forEach(function (pair, i) {
      var label = pair[0].charAt(0).toUpperCase() + pair[0].slice(1);
      series.push({ label: label, stroke: COLOURS[i % COLOURS.length], width: 2 });
      data.push(pair[1]);
    });
    var options = {
      title: element.dataset.title,
      width: Math.max(element.clientWidth, 300),
      height: 240,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
      series: series
    };
    element.textContent = "";
    return new uPlot(options, data, element);
  }

  function start() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof uPlot === "undefined") {
      return;
    }
    var charts = JSON.parse(source.textContent);
    var drawn = [];
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      var chart = charts[element.dataset.chart];
      if (chart) {
        drawn.push([element, draw(element, chart)]);
      }
    });
    window.addEventListener("resize", function () {
      drawn.forEach(function (pair) {
        pair[1].setSize({ width: Math.max(pair[0].clientWidth, 300), height: 240 });
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
