// Keeps the scoreboard live: asks for its live part every 750 ms with the
// ETag it holds; the server answers 304 (one Redis read) until a number
// changes, then sends the new part, which replaces the old one in place.
// The server may answer from a build up to 750 ms old, shared by every open
// dashboard on the view, so a landing shows within 2 s of the customer's page.
(function () {
  "use strict";
  var board = document.getElementById("board");
  var status = document.getElementById("live-status");
  if (!board || !window.fetch) return;
  var etag = board.getAttribute("data-etag");
  var url = board.getAttribute("data-live-url");
  var INTERVAL = 750;

  function show(text, state) {
    if (!status) return;
    status.textContent = text;
    status.setAttribute("data-state", state);
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, INTERVAL); return; }
    var headers = {"Accept": "text/html"};
    if (etag) headers["If-None-Match"] = etag;
    fetch(url, {headers: headers, credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 304) { show("live", "ok"); return null; }
        if (!response.ok) { show("reconnecting… (" + response.status + ")", "error"); return null; }
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        board.innerHTML = html;
        board.setAttribute("data-updated", String(Date.now()));
        show("live · updated " + new Date().toLocaleTimeString(), "ok");
      })
      .catch(function () { show("offline, retrying…", "error"); })
      .then(function () { setTimeout(poll, INTERVAL); });
  }

  setTimeout(poll, INTERVAL);
})();
