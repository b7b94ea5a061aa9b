// The wall follows /events and, on any event it shows, reads itself again from the server and
// swaps #wall: one template renders the wall, first load and updates alike. The events only say
// that something changed (ci.repo names no person, so hidden names stay hidden).
"use strict";
(() => {
  // A burst of events (a test machine reports many tests a second) costs one read at a time,
  // at most one a second; an event during a read asks for one more read after it.
  const MIN_GAP_MS = 1000;
  let reading = false;
  let again = false;
  let lastRead = 0;

  // A TV never scrolls: in the kiosk, the type is made as large as fits the screen, found by
  // halving (eight layouts at most), between a quarter of the stylesheet's size and all of it;
  // smaller type puts more tiles in each row.
  function fitKiosk() {
    if (!document.body.classList.contains("kiosk")) { return; }
    const main = document.querySelector("main");
    const fits = (size) => {
      main.style.fontSize = `${size}px`;
      return document.documentElement.scrollHeight <= innerHeight;
    };
    main.style.fontSize = "";
    let high = parseFloat(getComputedStyle(main).fontSize);
    if (fits(high)) { return; }
    let low = high / 4;
    for (let step = 0; step < 8; step++) {
      const middle = (low + high) / 2;
      if (fits(middle)) { low = middle; } else { high = middle; }
    }
    fits(low);
  }

  // The server writes times in ISO 8601 (UTC); a person reads them in the browser's own zone.
  function localTimes() {
    const format = new Intl.DateTimeFormat([], { dateStyle: "medium", timeStyle: "short" });
    for (const element of document.querySelectorAll("#wall time[datetime]")) {
      const moment = new Date(element.dateTime);
      if (!Number.isNaN(moment.getTime())) { element.textContent = format.format(moment); }
    }
  }

  async function refresh() {
    if (reading) { again = true; return; }
    reading = true;
    again = false;
    const wait = lastRead + MIN_GAP_MS - Date.now();
    if (wait > 0) { await new Promise((resolve) => setTimeout(resolve, wait)); }
    lastRead = Date.now();
    if (!live.isOpen()) {  // read again by onReconnect once the server is back
      reading = false;
      return;
    }
    try {
      const answer = await fetch(location.pathname + location.search, { headers: { Accept: "text/html" } });
      if (answer.ok) {
        const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById("wall");
        if (fresh) {
          document.getElementById("wall").replaceWith(fresh);
          localTimes();
          fitKiosk();
        }
      }
    } catch (error) {
      // The server went away between the event and the read: the live badge says so, and the
      // wall is read again once the stream is back.
    } finally {
      reading = false;
      if (again) { refresh(); }
    }
  }

  localTimes();
  fitKiosk();
  addEventListener("resize", fitKiosk);
  for (const topic of ["monitor", "stack", "showroom", "progress.run", "ci.repo"]) {
    live.on(topic, refresh);
  }
  live.onReconnect(refresh);

  // "broken for 2 h 5 min" grows while nothing happens: said again each half minute, the same
  // way appliance/web/wall.py:duration_words says it.
  function durationWords(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) { return "under a minute"; }
    const days = Math.floor(minutes / 1440), hours = Math.floor(minutes / 60) % 24, mins = minutes % 60;
    if (days) { return `${days} d ${hours} h`; }
    return hours ? `${hours} h ${mins} min` : `${mins} min`;
  }

  setInterval(() => {
    for (const element of document.querySelectorAll("[data-since]")) {
      const since = Date.parse(element.dataset.since);
      if (!Number.isNaN(since)) {
        element.textContent = durationWords(Math.max(0, (Date.now() - since) / 1000));
      }
    }
  }, 30000);
})();
