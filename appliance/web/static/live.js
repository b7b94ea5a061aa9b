// One EventSource per page on /events; pages register handlers per topic with live.on(), and
// with live.onReconnect() what to read again after the stream was down (the server may have
// restarted, numbering its events anew, so Last-Event-ID cannot replay what was missed).
"use strict";
const live = (() => {
  const handlers = {};
  const reconnectHandlers = [];
  const badge = document.getElementById("live");
  const stale = document.getElementById("stale");
  let source = null;
  let downSince = null;  // when the stream went down, while it is
  let retryMs = 1000;  // after the browser gives up on its own (a refused answer): doubled, capped
  let retryTimer = null;

  function show(state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function down() {
    if (downSince === null) {
      downSince = new Date();
      const at = downSince.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      stale.textContent = `Live updates stopped at ${at} — the page may be out of date; reconnecting…`;
      stale.hidden = false;
      document.body.classList.add("is-stale");
    }
    show("closed", "reconnecting…");
  }

  function up() {
    show("open", "live");
    retryMs = 1000;
    if (downSince !== null) {
      downSince = null;
      stale.hidden = true;
      document.body.classList.remove("is-stale");
      // A page without a way of its own to read itself again is loaded anew.
      if (reconnectHandlers.length === 0) { location.reload(); }
      for (const handler of reconnectHandlers) { handler(); }
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    const topics = Object.keys(handlers).map((t) => "topic=" + encodeURIComponent(t)).join("&");
    source = new EventSource("/events" + (topics ? "?" + topics : ""));
    source.onopen = up;
    source.onerror = () => {
      down();
      // The browser retries by itself after a dropped stream; after an answer that is not a
      // stream (a 503, a proxy's error page) it stops for good, so this page starts again.
      if (source.readyState === EventSource.CLOSED) {
        retryTimer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    };
    for (const topic of Object.keys(handlers)) {
      source.addEventListener(topic, (message) => handlers[topic](JSON.parse(message.data)));
    }
  }

  // The handlers a script registers at once share one stream, opened after that script ran.
  let connecting = false;
  function reconnectSoon() {
    if (connecting) { return; }
    connecting = true;
    queueMicrotask(() => {
      connecting = false;
      if (source) { source.close(); }
      connect();
    });
  }

  // A page with nothing live (the login page, an error page) opens no stream: no badge either.
  document.addEventListener("DOMContentLoaded", () => {
    if (Object.keys(handlers).length === 0) { badge.hidden = true; }
  });

  return {
    on(topic, handler) {
      handlers[topic] = handler;
      reconnectSoon();
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    // Whether the stream is open now: while it is not, the server may be away, and a page's own
    // reads wait for the reconnect handlers instead of failing.
    isOpen() {
      return source !== null && source.readyState === EventSource.OPEN;
    },
  };
})();
