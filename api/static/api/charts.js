// The models page's charts (Chart.js 4, vendored: api/static/vendor/chart.js). Each
// <canvas data-chart="ID"> draws the JSON of <script type="application/json" id="ID">,
// written by Django's json_script. The figure around a chart stays hidden until its chart
// is drawn: without script the tables below say the same.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;

  // The pages' palette (site.css).
  var COLOUR = { champion: "#116329", rejected: "#a40e26", other: "#0a53be", line: "#8c959f", muted: "#57606a" };
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = COLOUR.muted;

  function payload(id) {
    var script = document.getElementById(id);
    return script ? JSON.parse(script.textContent) : null;
  }

  function format(value) {
    return typeof value === "number" ? value.toFixed(4) : "none";
  }

  // A long reason as tooltip lines of at most `width` characters.
  function wrap(text, width) {
    var lines = [], line = "";
    String(text).split(/\s+/).forEach(function (word) {
      if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
      else line = line ? line + " " + word : word;
    });
    if (line) lines.push(line);
    return lines;
  }

  function pointKind(version) {
    return version.status === "champion" || version.status === "rejected" ? version.status : "other";
  }

  // The chart's text equivalent, as the server writes it for the primary metric.
  function summary(data, metric) {
    var versions = data.versions, values = [];
    versions.forEach(function (v) {
      if (typeof v.metrics[metric] === "number") values.push({ v: v, value: v.metrics[metric] });
    });
    if (!values.length) return metric + " of " + data.model + ": no version has it.";
    var low = values[0], high = values[0];
    values.forEach(function (item) {
      if (item.value < low.value) low = item;
      if (item.value > high.value) high = item;
    });
    var text = metric + " of " + data.model + " across " + versions.length + " versions, from " +
      format(low.value) + " (" + low.v.label + ") to " + format(high.value) + " (" + high.v.label + ")";
    var champion = versions.filter(function (v) { return v.status === "champion"; })[0];
    if (champion) text += "; champion " + champion.label + ": " + format(champion.metrics[metric]);
    var rejected = versions.filter(function (v) { return v.status === "rejected"; }).length;
    if (rejected) text += "; " + rejected + " rejected";
    return text + ". Every version is in the table below.";
  }

  function axisTitle(data, metric) {
    if (metric !== data.primary || data.greater_is_better === null) return metric;
    return metric + (data.greater_is_better ? " (higher is better)" : " (lower is better)");
  }

  // One metric of every version, oldest first: one point per version; the champion a green
  // diamond, a rejected candidate a red cross (and a dashed line to it), the rest blue dots.
  function versionsChart(canvas, data) {
    var versions = data.versions;
    var kinds = versions.map(pointKind);
    var values = function (metric) {
      return versions.map(function (v) { return typeof v.metrics[metric] === "number" ? v.metrics[metric] : null; });
    };
    var pick = function (styles) { return kinds.map(function (kind) { return styles[kind]; }); };
    var rejectedAt = function (index) { return kinds[index] === "rejected"; };
    var chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: versions.map(function (v) { return v.label; }),
        datasets: [{
          label: data.primary,
          data: values(data.primary),
          pointStyle: pick({ champion: "rectRot", rejected: "crossRot", other: "circle" }),
          pointRadius: pick({ champion: 8, rejected: 7, other: 4 }),
          pointHoverRadius: pick({ champion: 10, rejected: 9, other: 6 }),
          pointBorderWidth: pick({ champion: 2, rejected: 3, other: 1 }),
          pointBackgroundColor: pick(COLOUR),
          pointBorderColor: pick(COLOUR),
          borderColor: COLOUR.line,
          borderWidth: 2,
          spanGaps: true,
          segment: {
            borderDash: function (ctx) {
              return rejectedAt(ctx.p0DataIndex) || rejectedAt(ctx.p1DataIndex) ? [5, 4] : undefined;
            },
          },
        }],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { offset: true, title: { display: true, text: "Version" } },
          y: { title: { display: true, text: axisTitle(data, data.primary) }, grace: "5%" },
        },
        plugins: {
          // The figure's caption is the legend (it is text, and names the champion).
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) {
                var v = versions[items[0].dataIndex];
                return v.label + " · " + v.status;
              },
              label: function (item) {
                return item.dataset.label + " " + format(item.parsed.y);
              },
              afterLabel: function (item) {
                var v = versions[item.dataIndex];
                return v.reason ? wrap((v.status === "rejected" ? "Rejected: " : "") + v.reason, 44) : "";
              },
            },
          },
        },
      },
    });
    var select = document.querySelector('select[data-chart-select="' + canvas.dataset.chart + '"]');
    if (select) {
      select.addEventListener("change", function () {
        var metric = select.value;
        chart.data.datasets[0].label = metric;
        chart.data.datasets[0].data = values(metric);
        chart.options.scales.y.title.text = axisTitle(data, metric);
        chart.update("none");
        canvas.setAttribute("aria-label", summary(data, metric));
      });
    }
    return chart;
  }

  // A regressor's held-out rows, prediction against truth, over the line where they agree.
  function scatterChart(canvas, data) {
    return new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          {
            label: "held-out rows",
            data: data.points.map(function (p) { return { x: p[0], y: p[1] }; }),
            pointRadius: 3,
            pointHoverRadius: 5,
            backgroundColor: "rgba(10, 83, 190, 0.45)",
            borderColor: COLOUR.other,
          },
          {
            label: "predicted = actual",
            data: [{ x: data.low, y: data.low }, { x: data.high, y: data.high }],
            showLine: true,
            borderColor: COLOUR.muted,
            borderDash: [6, 4],
            borderWidth: 1.5,
            pointRadius: 0,
            pointHoverRadius: 0,
          },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { type: "linear", suggestedMin: data.low, suggestedMax: data.high, title: { display: true, text: "Actual value" } },
          y: { type: "linear", suggestedMin: data.low, suggestedMax: data.high, title: { display: true, text: "Predicted value" } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            filter: function (item) { return item.datasetIndex === 0; },
            callbacks: {
              label: function (item) {
                return "actual " + item.parsed.x + ", predicted " + item.parsed.y;
              },
            },
          },
        },
      },
    });
  }

  // The `auto` leaderboard: one horizontal bar per estimator (best first, as the server
  // sorted them), its cross-validated score; the chosen one green, the others blue.
  function leaderboardChart(canvas, data) {
    var entries = data.entries;
    var colours = entries.map(function (e) { return e.chosen ? COLOUR.champion : COLOUR.other; });
    var scores = entries.map(function (e) { return e.score; });
    var low = Math.min.apply(null, scores), high = Math.max.apply(null, scores);
    // Scores between 0 and 1 are drawn on 0..1; others (errors) from zero.
    var unit = low >= 0 && high <= 1;
    return new Chart(canvas, {
      type: "bar",
      data: {
        // Long names on two lines, so that a phone's narrow chart keeps room for the bars.
        labels: entries.map(function (e) { return wrap(e.label, 20); }),
        datasets: [{
          label: data.metric,
          data: scores,
          backgroundColor: colours,
          borderColor: colours,
          borderWidth: 1,
          barPercentage: 0.8,
          categoryPercentage: 0.9,
        }],
      },
      options: {
        indexAxis: "y",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: {
            beginAtZero: true,
            max: unit ? 1 : undefined,
            title: {
              display: true,
              text: data.metric + " (cross-validated, " + (data.greater_is_better ? "higher" : "lower") + " is better)",
            },
          },
          y: { ticks: { autoSkip: false } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: function (items) { return entries[items[0].dataIndex].label; },
              label: function (item) {
                var entry = entries[item.dataIndex];
                var text = data.metric + " " + format(entry.score);
                if (typeof entry.std === "number") text += " ± " + format(entry.std);
                return entry.chosen ? [text, "chosen for " + data.version] : text;
              },
            },
          },
        },
      },
    });
  }

  var DRAW = { versions: versionsChart, scatter: scatterChart, leaderboard: leaderboardChart };

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = payload(canvas.dataset.chart);
    if (!data || !DRAW[data.kind]) return;
    var figure = canvas.closest("[data-chart-figure]");
    if (figure) figure.hidden = false; // shown before drawing: a hidden canvas has no size
    DRAW[data.kind](canvas, data);
  });
})();
