// The link builder: sends the form to POST /api/links as JSON, shows the
// tagged URL and its QR code, points at the field the server refused (with
// its suggested fix), and loads the redirect check and the links table,
// which the server renders. Every text the server sent goes in as text.
(function () {
  "use strict";
  var CODES = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var form = document.getElementById("link-form");
  if (!form || !window.fetch) return;

  function $(id) { return document.getElementById(id); }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {status: response.status, data: data};
      });
    });
  }

  function clearErrors(scope) {
    scope.querySelectorAll(".field-error").forEach(function (p) {
      p.hidden = true;
      p.textContent = "";
    });
    scope.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
  }

  // The server's message under the field it names; a suggestion becomes a
  // button that puts the fixed value in that field.
  function showError(data, fallbackId) {
    var field = data.field && $(data.field) ? data.field : null;
    var box = $("error-" + (field || fallbackId));
    box.textContent = data.error || "Something went wrong; try again.";
    if (field && typeof data.suggestion === "string") {
      var use = document.createElement("button");
      use.type = "button";
      use.className = "suggestion";
      use.textContent = "Use " + data.suggestion;
      use.addEventListener("click", function () {
        $(field).value = data.suggestion;
        box.hidden = true;
        $(field).removeAttribute("aria-invalid");
        $(field).focus();
      });
      box.appendChild(document.createTextNode(" "));
      box.appendChild(use);
    }
    box.hidden = false;
    if (field) {
      $(field).setAttribute("aria-invalid", "true");
      $(field).focus();
    }
  }

  function refresh(target, url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) return false;
        target.innerHTML = html;
        return true;
      })
      .catch(function () { return false; });
  }

  function showResult(link) {
    $("result-campaign").textContent = link.campaign;
    $("result-url").textContent = link.url;
    $("result-qr").src = link.qr_svg_url;
    $("qr-svg").href = link.qr_svg_url + "?download=1";
    $("qr-png").href = link.qr_png_url + "?download=1";
    var token = $("result-token");
    token.hidden = !link.token;
    token.querySelector("code").textContent = link.token || "";
    $("copy-status").textContent = "";
    var result = $("link-result");
    result.hidden = false;
    result.setAttribute("data-link-id", link.id);
    result.scrollIntoView({block: "nearest"});
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(form);
    var body = {payment_link_url: $("payment_link_url").value.trim()};
    CODES.forEach(function (name) { body[name] = $(name).value.trim(); });
    body.client_reference = $("client_reference").checked;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    postJSON(form.getAttribute("data-api"), body)
      .then(function (answer) {
        if (answer.status === 201) {
          showResult(answer.data);
          return refresh($("links-table"), form.getAttribute("data-list"));
        }
        showError(answer.data, "form");
      })
      .catch(function () { showError({error: "The server did not answer; try again."}, "form"); })
      .then(function () { button.disabled = false; });
  });

  $("copy-url").addEventListener("click", function () {
    var text = $("result-url").textContent;
    var status = $("copy-status");
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents($("result-url"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "Selected: press Ctrl+C (⌘C) to copy";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text)
        .then(function () { status.textContent = "Copied"; }, selectIt);
    } else {
      selectIt();
    }
  });

  var domainForm = $("domain-form");
  domainForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(domainForm);
    postJSON(domainForm.getAttribute("data-api"), {domain: $("domain").value})
      .then(function (answer) {
        if (answer.status !== 201) { showError(answer.data, "domain"); return; }
        var list = $("domain-list");
        list.textContent = "";
        answer.data.domains.forEach(function (domain) {
          var item = document.createElement("li");
          var code = document.createElement("code");
          code.textContent = domain;
          item.appendChild(code);
          list.appendChild(item);
        });
        $("domain").value = "";
      })
      .catch(function () { showError({error: "The server did not answer; try again."}, "domain"); });
  });

  // The redirect check asks Stripe, which may take a moment: after the page.
  var check = $("link-check");
  if (check && !check.querySelector("#check-off")) {
    refresh(check, check.getAttribute("data-url")).then(function (shown) {
      if (!shown) check.textContent = "The check could not run; reload the page to try again.";
    });
  }
})();
