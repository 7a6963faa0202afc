// Warns before the session ends (portal/middleware.py): a banner "You will be signed out in
// 60 s" with "Stay signed in", which sends one small request to extend the session. The
// server holds the clock; this asks it how long is left rather than trusting one tab's timer.
(function () {
  "use strict";
  var body = document.body;
  var statusUrl = body.dataset.sessionStatusUrl;
  var extendUrl = body.dataset.sessionExtendUrl;
  var warning = Number(body.dataset.sessionWarning) || 60;
  var idle = Number(body.dataset.sessionIdle) || 1800;
  var left = Number(body.dataset.sessionLeft) || idle;
  if (!statusUrl || !extendUrl) return;
  // When the absolute limit comes before the idle one, it is known from the page; otherwise
  // the next status answer tells.
  var loadedAt = Date.now();
  var absoluteEndsAt = left < idle - 5 ? loadedAt + left * 1000 : Infinity;

  var banner = null;
  var timer = null;
  var countdown = null;

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function signedOut() {
    // The server has ended the session: reloading shows the log-in page with the reason.
    window.location.reload();
  }

  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(1, seconds) * 1000);
  }

  function answer(response) {
    // Signed out already: the server sent the request on to the log-in page.
    if (response.redirected) return { authenticated: false };
    if (!response.ok) throw new Error("session status " + response.status);
    return response.json();
  }

  function check() {
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(answer)
      .then(function (state) {
        if (!state.authenticated) { signedOut(); return; }
        // Asking does not extend the session, so wait for the server's own clock to run out.
        if (state.remaining <= 0) { schedule(1); return; }
        if (!state.extendable) absoluteEndsAt = Date.now() + state.remaining * 1000;
        if (state.remaining > warning) { hide(); schedule(state.remaining - warning); return; }
        show(state);
      })
      .catch(function () { schedule(15); }); // offline for a moment: ask again shortly
  }

  function build() {
    banner = document.createElement("div");
    banner.className = "session-warning";
    banner.setAttribute("role", "alertdialog");
    banner.setAttribute("aria-live", "assertive");
    banner.setAttribute("aria-label", "Session ending");
    var text = document.createElement("p");
    text.className = "session-warning-text";
    var stay = document.createElement("button");
    stay.type = "button";
    stay.className = "button primary";
    stay.textContent = "Stay signed in";
    stay.addEventListener("click", extend);
    banner.appendChild(text);
    banner.appendChild(stay);
    banner.hidden = true;
    body.appendChild(banner);
  }

  function show(state) {
    if (!banner) build();
    var secondsLeft = state.remaining;
    var text = banner.querySelector(".session-warning-text");
    var stay = banner.querySelector("button");
    stay.hidden = !state.extendable;
    function render() {
      text.textContent = state.extendable
        ? "You will be signed out in " + secondsLeft + " s because of inactivity."
        : "Your session ends in " + secondsLeft + " s; sign in again to continue.";
    }
    render();
    banner.hidden = false;
    if (state.extendable) stay.focus();
    clearInterval(countdown);
    countdown = setInterval(function () {
      secondsLeft -= 1;
      if (secondsLeft <= 0) { clearInterval(countdown); schedule(1); return; }
      render();
    }, 1000);
  }

  function hide() {
    clearInterval(countdown);
    if (banner) banner.hidden = true;
  }

  function extend() {
    fetch(extendUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    })
      .then(answer)
      .then(function (state) {
        if (!state.authenticated) { signedOut(); return; }
        hide();
        schedule(state.remaining - warning);
      })
      .catch(function () { schedule(5); });
  }

  function nextCheckIn() {
    var absoluteLeft = (absoluteEndsAt - Date.now()) / 1000;
    return Math.min(idle, absoluteLeft) - warning;
  }

  // Any htmx request is activity on the server: the idle clock starts again.
  document.addEventListener("htmx:afterRequest", function () {
    if (!banner || banner.hidden) schedule(nextCheckIn());
  });
  schedule(left - warning);
})();
