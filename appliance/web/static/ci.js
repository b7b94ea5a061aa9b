// The CI pages follow the dispatcher's events: build rows (ci.build), a build's log (ci.log),
// runners (ci.runner). Logs are raw bytes fetched by offset and decoded as a UTF-8 stream.
"use strict";

function ciCell(content, className) {
  const cell = document.createElement("td");
  if (className) { cell.className = className; }
  cell.append(content);
  return cell;
}

function ciStatus(status, reason) {
  const badge = document.createElement("span");
  badge.className = "ci-status ci-" + status;
  badge.textContent = status;
  badge.title = reason || "";
  return badge;
}

function ciDuration(seconds) {
  return seconds === null || seconds === undefined ? "" : seconds.toFixed(1) + " s";
}

function ciBuildRow(build) {
  const row = document.createElement("tr");
  row.dataset.build = build.id;
  const link = document.createElement("a");
  link.href = "/ci/builds/" + build.id;
  link.textContent = "#" + build.id;
  const commit = document.createElement("code");
  commit.textContent = build.short_commit;
  commit.title = build.commit;
  const message = ciCell(build.message, "ci-message");
  message.title = build.message;
  row.append(ciCell(link), ciCell(commit), ciCell(build.author), message,
    ciCell(ciStatus(build.status, build.reason)), ciCell(ciDuration(build.duration_seconds)),
    ciCell(build.runner || ""), ciCell(String(build.attempt)));
  return row;
}

function followBuildList(list) {
  live.on("ci.build", (build) => {
    const section = list.querySelector(`section[data-repo="${CSS.escape(build.repo)}"]`);
    if (!section) { location.reload(); return; }  // a repository this page has not seen yet
    const row = ciBuildRow(build);
    const existing = section.querySelector(`tr[data-build="${build.id}"]`);
    if (existing) { existing.replaceWith(row); } else { section.querySelector("tbody").prepend(row); }
  });
}

function followBuild(page) {
  const id = Number(page.dataset.build);
  const attempt = Number(page.dataset.attempt);
  const log = document.getElementById("log");
  const decoder = new TextDecoder("utf-8");
  let offset = Math.max(0, Number(page.dataset.logSize) - Number(page.dataset.logTail));
  let fetching = false;
  let again = false;
  document.getElementById("log-cut").hidden = offset === 0;

  async function pull() {
    if (!attempt) { return; }
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      do {
        again = false;
        const response = await fetch(`/api/ci/builds/${id}/log?attempt=${attempt}&offset=${offset}&limit=1048576`);
        if (!response.ok) { break; }
        const bytes = new Uint8Array(await response.arrayBuffer());
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(decoder.decode(bytes, { stream: true }));
        offset += bytes.length;
        if (atBottom) { log.scrollTop = log.scrollHeight; }
        again = again || (bytes.length > 0 && offset < Number(response.headers.get("X-Log-Size")));
      } while (again);
    } finally {
      fetching = false;
    }
  }

  live.on("ci.build", (build) => {
    if (build.id !== id) { return; }
    if (build.attempt !== attempt) { location.reload(); return; }  // a new attempt: its own log
    document.getElementById("build-status").replaceWith(
      Object.assign(ciStatus(build.status, build.reason), { id: "build-status" }));
    document.getElementById("build-reason").textContent = build.reason || "";
    document.getElementById("build-runner").textContent = build.runner || "";
    document.getElementById("build-exit").textContent = build.exit_code ?? "";
    document.getElementById("build-duration").textContent = ciDuration(build.duration_seconds);
    const counts = build.counts;
    document.getElementById("build-counts").textContent = counts
      ? `${counts.tests} run, ${counts.failures} failed, ${counts.errors} errors, ${counts.skipped} skipped` : "";
    pull();
  });
  live.on("ci.log", (chunk) => {
    if (chunk.build === id && chunk.attempt === attempt) { pull(); }
  });
  pull();
}

function followRunners(table) {
  live.on("ci.runner", (runner) => {
    const row = document.createElement("tr");
    row.dataset.runner = runner.name;
    const held = document.createElement("span");
    for (const item of runner.builds) {
      const link = document.createElement("a");
      link.href = "/ci/builds/" + item.build;
      link.textContent = "#" + item.build;
      held.append(link, ` (attempt ${item.attempt}) `);
    }
    row.append(ciCell(runner.name), ciCell(ciStatus(runner.state)), ciCell(held),
      ciCell(String(runner.capacity)), ciCell(runner.labels.join(", ")), ciCell(runner.last_seen));
    const existing = table.querySelector(`tr[data-runner="${CSS.escape(runner.name)}"]`);
    if (existing) { existing.replaceWith(row); return; }
    const body = table.querySelector("tbody");
    body.querySelector("tr.muted")?.remove();
    body.append(row);
  });
}

for (const [id, follow] of [["ci-repos", followBuildList], ["ci-build", followBuild], ["ci-runners", followRunners]]) {
  const element = document.getElementById(id);
  if (element) { follow(element); }
}
