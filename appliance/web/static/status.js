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
