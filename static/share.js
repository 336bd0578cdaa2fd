// The "Share…" dialog: makes a read-only live link (POST /api/shares), shows
// its URL once, lists the live links (GET /api/shares) and revokes them
// (DELETE /api/shares/<id>). Text goes in through textContent only.
(function () {
  "use strict";
  var open = document.getElementById("share-open");
  var dialog = document.getElementById("share-dialog");
  if (!open || !dialog || !window.fetch || !dialog.showModal) return;
  var api = dialog.getAttribute("data-api");
  var form = document.getElementById("share-form");
  var error = document.getElementById("share-message");
  var made = document.getElementById("share-made");
  var urlField = document.getElementById("share-url");
  var list = document.getElementById("share-list");
  var none = document.getElementById("share-none");
  var base = api.split("?")[0];

  function say(text) { error.textContent = text || ""; }

  function answer(response) {
    if (response.status === 204) return null;
    return response.json().then(function (body) {
      if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
      return body;
    });
  }

  function item(share) {
    var li = document.createElement("li");
    var what = document.createElement("span");
    what.className = "share-what";
    what.textContent = share.campaign === null ? "every campaign" : share.campaign;
    li.appendChild(what);
    if (share.mode === "test") {
      var badge = document.createElement("span");
      badge.className = "badge badge-test";
      badge.textContent = "test";
      li.appendChild(badge);
    }
    var until = document.createElement("span");
    until.className = "muted";
    until.textContent = "until " + new Date(share.expires_at).toLocaleString();
    li.appendChild(until);
    var revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", "Revoke the link to " + what.textContent +
      " (" + until.textContent + ")");
    revoke.addEventListener("click", function () {
      revoke.disabled = true;
      fetch(base + "/" + encodeURIComponent(share.id),
            {method: "DELETE", credentials: "same-origin"})
        .then(answer)
        .then(function () { say(""); refresh(); })
        .catch(function (e) { revoke.disabled = false; say("Could not revoke: " + e.message); });
    });
    li.appendChild(revoke);
    return li;
  }

  function refresh() {
    return fetch(base, {credentials: "same-origin", cache: "no-store"})
      .then(answer)
      .then(function (body) {
        list.textContent = "";
        body.shares.forEach(function (share) { list.appendChild(item(share)); });
        none.hidden = body.shares.length > 0;
      })
      .catch(function (e) { say("Could not list the links: " + e.message); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var campaign = form.elements.campaign.value;
    var days = parseInt(form.elements.days.value, 10);
    say("");
    fetch(api, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({campaign: campaign || null, days: days})
    })
      .then(answer)
      .then(function (share) {
        urlField.value = share.url;
        made.hidden = false;
        urlField.focus();
        urlField.select();
        return refresh();
      })
      .catch(function (e) { say(e.message); });
  });

  document.getElementById("share-copy").addEventListener("click", function () {
    urlField.select();
    var done = function () { say("Copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(urlField.value).then(done, function () {
        say("Select the link and copy it.");
      });
    } else if (document.execCommand && document.execCommand("copy")) {
      done();
    } else {
      say("Select the link and copy it.");
    }
  });

  document.getElementById("share-close").addEventListener("click", function () {
    dialog.close();
  });
  dialog.addEventListener("close", function () {
    made.hidden = true;
    urlField.value = "";
    say("");
    open.focus();
  });
  open.addEventListener("click", function () {
    dialog.showModal();
    refresh();
  });
  open.hidden = false;
})();
