// The console's only script of its own. Pages are server-rendered; this file:
// - draws every chart whose ECharts option the server put in a data-chart attribute,
// - keeps charts sized to their box,
// - asks before a form marked data-confirm is sent.
// No inline script anywhere: the Content-Security-Policy forbids it.
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof echarts === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.dataset.chart));
      el.dataset.drawn = "1";
      new ResizeObserver(function () { chart.resize(); }).observe(el);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
