// Live password strength meter: asks the server (the same rules as a real change, breach
// filter included) while the user types. Progressive enhancement only: the form works
// without it, and the server checks again on submit.
"use strict";
(function () {
  function setup(input) {
    var box = document.getElementById(input.dataset.meter);
    if (!box) return;
    var bar = box.querySelector(".meter-bar span");
    var list = box.querySelector(".meter-reasons");
    var timer = null;
    var seq = 0;
    var inflight = null;
    var submitted = false;

    function show(state, fraction, lines) {
      box.hidden = false;
      box.className = "meter " + state;
      bar.style.width = Math.round(Math.max(0.05, Math.min(1, fraction)) * 100) + "%";
      list.textContent = "";
      lines.forEach(function (text) {
        var li = document.createElement("li");
        li.textContent = text;
        list.appendChild(li);
      });
    }

    function check() {
      var value = input.value;
      if (submitted) return;
      if (value.length === 0) { box.hidden = true; return; }
      var mine = ++seq;
      if (inflight) inflight.abort();
      inflight = new AbortController();
      fetch(input.dataset.checkUrl, {
        method: "POST",
        signal: inflight.signal,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": input.dataset.csrf },
        body: JSON.stringify({ password: value })
      }).then(function (r) {
        if (mine !== seq) return null;
        if (r.status === 429) { show("paused", 0, ["Checking paused for a moment; the password is still checked when you submit."]); return null; }
        if (!r.ok) { box.hidden = true; return null; }
        return r.json();
      }).then(function (v) {
        if (!v || mine !== seq) return;
        var fraction = v.required_score > 0 ? v.score / v.required_score : 1;
        if (v.accepted) {
          show("good", 1, ["Strong enough."]);
        } else {
          show("weak", Math.min(fraction, 0.9), v.reasons.map(function (x) { return x.message; }));
        }
      }).catch(function () { box.hidden = true; });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 250);
    });
    // Once the form is submitted, the check is the server's: stop asking (a late check would
    // only meet a finished flow).
    if (input.form) {
      input.form.addEventListener("submit", function () {
        submitted = true;
        clearTimeout(timer);
        seq++;
        if (inflight) inflight.abort();
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-check-url]").forEach(setup);
  });
})();
