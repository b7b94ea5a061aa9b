// One EventSource per page on /events; pages register handlers per topic with live.on().
"use strict";
const live = (() => {
  const handlers = {};
  const badge = document.getElementById("live");
  let source = null;

  function show(state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function connect() {
    const topics = Object.keys(handlers).map((t) => "topic=" + encodeURIComponent(t)).join("&");
    source = new EventSource("/events" + (topics ? "?" + topics : ""));
    source.onopen = () => show("open", "live");
    // EventSource reconnects by itself, sending Last-Event-ID so nothing is missed.
    source.onerror = () => show("closed", "reconnecting…");
    for (const topic of Object.keys(handlers)) {
      source.addEventListener(topic, (message) => handlers[topic](JSON.parse(message.data)));
    }
  }

  return {
    on(topic, handler) {
      handlers[topic] = handler;
      if (source) { source.close(); }
      connect();
    },
  };
})();
