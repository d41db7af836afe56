// The web dashboard's only script, inlined into the page: auto-refresh in place and
// CSV export of a table. No library, no request to any other origin.
(function () {
  "use strict";
  var content = document.getElementById("dash-content");
  var status = document.getElementById("refresh-status");
  var params = new URLSearchParams(window.location.search);
  // ?refresh=N sets the interval (tests use a short one); at least 1 s, 30 s by default
  var seconds = parseFloat(params.get("refresh"));
  if (!isFinite(seconds)) { seconds = 30; }
  seconds = Math.max(1, seconds);
  var timer = null;
  var busy = false;

  // range links keep the page's refresh setting
  function keepRefreshParam() {
    if (!params.has("refresh")) { return; }
    content.querySelectorAll("nav.ranges a").forEach(function (a) {
      var url = new URL(a.getAttribute("href"), window.location.href);
      url.searchParams.set("refresh", params.get("refresh"));
      a.setAttribute("href", url.search);
    });
  }

  function scrollPositions() {
    var kept = {};
    content.querySelectorAll(".scroll[id]").forEach(function (el) { kept[el.id] = el.scrollTop; });
    return kept;
  }

  function swap(text) {
    var doc = new DOMParser().parseFromString(text, "text/html");
    var fresh = doc.getElementById("dash-content");
    if (!fresh) { throw new Error("no dashboard in the response"); }
    var kept = scrollPositions();
    content.innerHTML = fresh.innerHTML;  // the server escaped every value in it
    Object.keys(kept).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.scrollTop = kept[id]; }
    });
    keepRefreshParam();
  }

  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-cache", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401) {
          // the session ended: the dashboard URL shows the login page
          window.location.assign(window.location.href);
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        if (text === null) { return; }
        swap(text);
        status.textContent = "";
      })
      .catch(function () { status.textContent = "refresh failed \u2014 retrying"; })
      .then(function () { busy = false; });
  }

  function schedule() {
    if (timer !== null) { clearInterval(timer); }
    timer = document.hidden ? null : setInterval(refresh, seconds * 1000);
  }

  // a hidden tab does not poll; it catches up as soon as it is shown again
  document.addEventListener("visibilitychange", function () {
    schedule();
    if (!document.hidden) { refresh(); }
  });

  // CSV of a table, built here from the cells' raw values (data-v), in the project's
  // CSV form: text cells a spreadsheet would run as a formula get a leading '
  var TRIGGERS = ["=", "+", "-", "@", "\t", "\r"];
  function csvCell(value, isText) {
    if (isText && value.length && TRIGGERS.indexOf(value.charAt(0)) >= 0) { value = "'" + value; }
    return /[",\r\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }
  function tableCsv(table) {
    var lines = [];
    var head = [];
    table.querySelectorAll("thead th").forEach(function (th) { head.push(csvCell(th.dataset.col, false)); });
    lines.push(head.join(","));
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var cells = [];
      tr.querySelectorAll("td").forEach(function (td) { cells.push(csvCell(td.dataset.v || "", td.dataset.t === "s")); });
      lines.push(cells.join(","));
    });
    return lines.join("\r\n") + "\r\n";
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.csv");
    if (!button) { return; }
    var table = document.getElementById(button.dataset.table);
    if (!table) { return; }
    var blob = new Blob([tableCsv(table)], { type: "text/csv;charset=utf-8" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = button.dataset.file;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
  });

  keepRefreshParam();
  schedule();
})();
