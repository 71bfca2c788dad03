// Draws every [data-chart] element with Apache ECharts (served from /static/vendor/echarts).
// The data come from the page (an escaped JSON attribute), already in the reader's language.
(function () {
  "use strict";
  function draw(el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    var chart = echarts.init(el, null, { renderer: "svg" });
    if (spec.kind === "sankey") {
      // providers and recipients are separate nodes ("p:CN", "r:CN"): a Sankey has no cycles
      chart.setOption({
        animation: false,
        tooltip: { trigger: "item" },
        series: [{
          type: "sankey", name: spec.name, left: 8, right: 120,
          data: spec.nodes.map(function (n) { return { name: n }; }),
          links: spec.links,
          label: { formatter: function (p) { return spec.names[p.name] || p.name; } },
          tooltip: { formatter: function (p) {
            if (p.dataType === "edge") {
              return spec.names[p.data.source] + " → " + spec.names[p.data.target] + ": " + p.data.value;
            }
            return spec.names[p.name] + ": " + p.value;
          } }
        }]
      });
      el.setAttribute("data-drawn", "true");
      return;
    }
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 6 ? 40 : 0 } },
      yAxis: { type: "value" },
      series: [{ type: "bar", name: spec.name, data: spec.values }]
    });
    el.setAttribute("data-drawn", "true");
    window.addEventListener("resize", function () { chart.resize(); });
  }
  document.querySelectorAll("[data-chart]").forEach(draw);
})();
