// Keeps a scoreboard live (the dashboard, a campaign page, the wall screen,
// a shared board): asks for its live part every 750 ms with the ETag it
// holds; the server answers 304 (one Redis read) until a number changes,
// then sends the new part, which replaces the old one in place.
// The server may answer from a build up to 750 ms old, shared by every open
// dashboard on the view, so a landing shows within 2 s of the customer's page.
// A range named relative to today (range=today) moves at midnight in
// REPORT_TIMEZONE: the view's ETag changes with the date, so the next poll
// brings the new day.
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

  // The tab's title carries today's conversions (the live part says them).
  function retitle() {
    var meta = board.querySelector("[data-title]");
    if (meta) document.title = meta.getAttribute("data-title");
  }

  // A big number never breaks across lines (style.css sets it on one line
  // and sizes it by its length); should a font still be too wide, step it
  // down until it fits its card. CSSOM, not a style attribute: CSP-clean.
  function fitFigures() {
    var values = board.querySelectorAll(
      ".figure .value, .tv-figure .value, .spot.current .spot-numbers dd");
    for (var i = 0; i < values.length; i++) {
      var el = values[i];
      el.style.fontSize = "";
      var size = parseFloat(getComputedStyle(el).fontSize);
      for (var step = 0; step < 8 && el.scrollWidth > el.clientWidth; step++) {
        size = size * 0.9;
        el.style.fontSize = size + "px";
      }
    }
  }

  function rendered() {
    retitle();
    fitFigures();
    spotlight.keep();
  }

  // The wall screen turns its spotlight from one top campaign to the next,
  // with no mouse; a new live part keeps the campaign in the light.
  var spotlight = (function () {
    var every = parseInt(board.getAttribute("data-rotate"), 10);
    var current = null;  // the campaign in the spotlight

    function items(selector) {
      return Array.prototype.slice.call(board.querySelectorAll(selector));
    }

    function light(name) {
      var spots = items(".spot"), leaders = items(".tv-leaders li");
      var names = spots.map(function (s) { return s.getAttribute("data-campaign"); });
      var index = names.indexOf(name);
      if (index < 0) index = 0;
      current = names[index] || null;
      spots.forEach(function (s, i) { s.classList.toggle("current", i === index); });
      leaders.forEach(function (li, i) {
        li.classList.toggle("current", i === index);
        if (i === index) li.setAttribute("aria-current", "true");
        else li.removeAttribute("aria-current");
      });
      fitFigures();
      return names;
    }

    function next() {
      var names = items(".spot").map(function (s) { return s.getAttribute("data-campaign"); });
      if (names.length > 1) light(names[(names.indexOf(current) + 1) % names.length]);
    }

    if (every > 0) {
      var first = board.querySelector(".spot.current");
      current = first ? first.getAttribute("data-campaign") : null;
      setInterval(function () { if (!document.hidden) next(); }, every);
    }
    return {keep: function () { if (every > 0) light(current); }};
  })();

  function poll() {
    if (document.hidden) { setTimeout(poll, INTERVAL); return; }
    var headers = {"Accept": "text/html"};
    if (etag) headers["If-None-Match"] = etag;
    var gone = false;
    fetch(url, {headers: headers, credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 304) { show("live", "ok"); return null; }
        if (response.status === 404) {
          // A revoked or expired share link, or a campaign that is no more.
          gone = true;
          show("no longer available", "gone");
          return null;
        }
        if (!response.ok) { show("reconnecting… (" + response.status + ")", "error"); return null; }
        etag = response.headers.get("ETag");
        return response.text();
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        board.innerHTML = html;
        board.setAttribute("data-updated", String(Date.now()));
        rendered();
        show("live · updated " + new Date().toLocaleTimeString(), "ok");
      })
      .catch(function () { show("reconnecting…", "error"); })
      .then(function () { if (!gone) setTimeout(poll, INTERVAL); });
  }

  rendered();
  window.addEventListener("resize", fitFigures);
  setTimeout(poll, INTERVAL);
})();
