// The spend panel's daily chart, drawn by the vendored Chart.js from the figures the page embeds (json_script).
(function () {
  "use strict";

  function draw() {
    var canvas = document.getElementById("sp-daily-chart");
    var source = document.getElementById("sp-daily-data");
    if (!canvas || !source || typeof window.Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var datasets = [];
    data.series.forEach(function (series) {
      datasets.push({
        label: "Charged, actual (" + series.currency + ")",
        data: series.charged.map(Number),
        backgroundColor: "#3c8d5a",
        stack: series.currency
      });
      datasets.push({
        label: "Not yet delivered, estimated (" + series.currency + ")",
        data: series.expected.map(Number),
        backgroundColor: "#e8c35a",
        stack: series.currency
      });
    });
    var labels = data.labels.map(function (day) { return String(Number(day.slice(8, 10))); });
    window.spendPanelChart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { stacked: true, title: { display: true, text: "Day of the month" } },
          y: { stacked: true, beginAtZero: true }
        },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
