"use strict";
live.on("stack", (stack) => {
  document.getElementById("stack-error").hidden = stack.reachable;
  const body = document.querySelector("#programs tbody");
  body.replaceChildren(...stack.programs.map((program) => {
    const row = document.createElement("tr");
    row.dataset.program = program.name;
    const state = document.createElement("span");
    state.className = "state state-" + program.state.toLowerCase();
    state.textContent = program.state;
    for (const content of [program.name, state, program.description]) {
      const cell = document.createElement("td");
      cell.append(content);
      row.append(cell);
    }
    return row;
  }));
});

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

live.on("monitor", (report) => {
  const lamp = document.getElementById("lamp");
  lamp.dataset.colour = report.colour;
  lamp.setAttribute("aria-label", "Lamp colour " + report.colour);
  document.getElementById("lamp-meaning").textContent = report.meaning;
  document.getElementById("lamp-detail").textContent = report.colour + " · reported " + report.received_at;
  document.getElementById("lamp-backends").replaceChildren(...(report.driver.backends || []).map((backend) =>
    element("li", backend.ok ? "ok" : "failed",
      backend.name + ": " + (backend.ok ? backend.detail : "cannot send: " + backend.error))));
  const tiles = report.sources.map((source) => {
    const tile = element("li", "tile state-" + source.state);
    tile.dataset.source = source.name;
    tile.append(element("strong", "", source.name), " ", element("span", "muted", source.kind),
      element("span", "tile-meaning", source.meaning));
    if (source.error) { tile.append(element("span", "tile-error", source.error)); }
    if (source.since) { tile.append(element("span", "muted", "since " + source.since)); }
    if (source.link) {
      const link = element("a", "", "open");
      link.href = source.link;
      tile.append(link);
    }
    return tile;
  });
  document.getElementById("sources").replaceChildren(
    ...(tiles.length ? tiles : [element("li", "muted", "No sources reported.")]));
});

// The showroom's part: its demos as it announces them after each change (appliance/web/showroom.py
// counts them and links the running ones the same way, from the host the page was opened on).
live.on("showroom", (showroom) => {
  const running = showroom.demos.filter((demo) => demo.status === "RUNNING");
  document.getElementById("showroom-error").hidden = true;
  const count = document.getElementById("showroom-count");
  count.textContent = `${showroom.demos.length} deployed, ${running.length} running`;
  count.hidden = false;
  document.getElementById("showroom-running").replaceChildren(...running.map((demo) => {
    const item = element("li");
    item.dataset.demo = demo.name;
    if (demo.port) {
      const link = element("a", "", demo.name);
      link.href = `http://${location.hostname}:${demo.port}/`;
      item.append(link);
    } else {
      item.append(demo.name);
    }
    item.append(" ", element("span", "muted", demo.type || "?"));
    return item;
  }));
});
