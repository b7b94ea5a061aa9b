// The test progress pages follow the tracker's events: a test's row (progress.test) changes in
// place, its scenario's status is rolled up again here, and the run's status and bar follow
// progress.run. A run the page has not shown (a new dry run, a new machine) makes the page fetch
// itself again and swap its content in: the server renders it, as on a first load.
"use strict";

// The roll-up of appliance/progress/statuses.py: the first of these that any test has.
const PG_PRIORITY = ["cancelled", "running", "waiting", "unknown", "failed", "error", "warning", "passed"];

function pgStatus(status) {
  const badge = document.createElement("span");
  badge.className = "pg-status pg-" + status;
  badge.textContent = status;
  return badge;
}

function pgSetStatus(cell, status) {
  if (cell) { cell.replaceChildren(pgStatus(status)); }
}

function pgSetBar(cell, summary) {
  if (!cell) { return; }
  const bar = cell.querySelector(".pg-bar");
  bar.className = "pg-bar pg-" + summary.status;
  bar.setAttribute("aria-valuemax", summary.total);
  bar.setAttribute("aria-valuenow", summary.done);
  bar.firstElementChild.style.width = (summary.total ? Math.round(1000 * summary.done / summary.total) / 10 : 0) + "%";
  cell.querySelector(".pg-done").textContent = `${summary.done} of ${summary.total} done`;
}

function pgCounts(counts) {
  return PG_PRIORITY.filter((status) => counts[status]).map((status) => `${counts[status]} ${status}`).join(", ");
}

let pgRefreshing = null;

// Fetch this page again and put its main content in place of the shown one.
function pgRefresh(id) {
  if (pgRefreshing) { return; }
  pgRefreshing = fetch(location.href, { headers: { Accept: "text/html" } })
    .then((response) => (response.ok ? response.text() : null))
    .then((html) => {
      if (html === null) { return; }
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
      const shown = document.getElementById(id);
      if (fresh && shown) { shown.replaceWith(document.adoptNode(fresh)); }
    })
    .finally(() => { pgRefreshing = null; });
}

function pgFollowMachines() {
  live.on("progress.run", (summary) => {
    const table = document.getElementById("progress-machines");
    const row = table.querySelector(`tr[data-machine="${summary.machine_id}"]`);
    const link = row && row.querySelector(`a[href="/progress/runs/${summary.run}"]`);
    if (!link) { pgRefresh("progress-machines"); return; }  // a new machine or a new run
    pgSetBar(row.cells[2], summary);
    pgSetStatus(row.cells[3], summary.status);
    row.cells[4].textContent = pgCounts(summary.counts);
  });
}

// A machine's page (its current run) or a run's page: the same tree and facts.
function pgFollowRun(id, followNewRuns) {
  const page = () => document.getElementById(id);
  live.on("progress.test", (test) => {
    if (String(test.run) !== page().dataset.run) { return; }
    const row = page().querySelector(`tr[data-test="${test.test}"]`);
    if (!row) { return; }
    pgSetStatus(row.cells[2], test.status);
    row.cells[3].textContent = test.timestamp_start || "";
    row.cells[4].textContent = test.timestamp_stop || "";
    const scenario = row.closest("tbody");
    const statuses = [...scenario.querySelectorAll("tr[data-test] .pg-status")].map((badge) => badge.textContent);
    const rolled = PG_PRIORITY.find((status) => statuses.includes(status)) || "unknown";
    pgSetStatus(scenario.querySelector("tr.pg-scenario").cells[2], rolled);
  });
  live.on("progress.run", (summary) => {
    if (String(summary.machine_id) !== page().dataset.machine) { return; }
    if (String(summary.run) !== page().dataset.run) {
      if (followNewRuns) { pgRefresh(id); }  // a new dry run: show it
      return;
    }
    pgSetStatus(page().querySelector('[data-fact="status"]'), summary.status);
    pgSetBar(page().querySelector('[data-fact="progress"]'), summary);
    page().querySelector('[data-fact="counts"]').textContent = pgCounts(summary.counts);
    const history = page().querySelector(`#progress-history tr[data-run="${summary.run}"]`);
    if (history) {
      pgSetStatus(history.cells[2], summary.status);
      pgSetBar(history.cells[3], summary);
      history.cells[4].textContent = pgCounts(summary.counts);
    }
  });
}

if (document.getElementById("progress-machines")) { pgFollowMachines(); }
if (document.getElementById("progress-machine")) { pgFollowRun("progress-machine", true); }
if (document.getElementById("progress-rundetail")) { pgFollowRun("progress-rundetail", false); }
