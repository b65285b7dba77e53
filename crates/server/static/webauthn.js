// Security keys and passkeys: runs the WebAuthn ceremonies with options from the server
// (no inline script, so it works under the Content-Security-Policy). The server does every
// check; this file only moves bytes between it and navigator.credentials.
"use strict";
(function () {
  function b64uToBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function bytesToB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // Drops nulls (the browser refuses null for optional enum members).
  function clean(v) {
    if (Array.isArray(v)) return v.map(clean);
    if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
      var o = {};
      Object.keys(v).forEach(function (k) { if (v[k] !== null) o[k] = clean(v[k]); });
      return o;
    }
    return v;
  }
  function creationOptions(pk) {
    pk = clean(pk);
    pk.challenge = b64uToBytes(pk.challenge);
    pk.user.id = b64uToBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBytes(c.id); });
    return pk;
  }
  function requestOptions(pk) {
    pk = clean(pk);
    pk.challenge = b64uToBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBytes(c.id); });
    return pk;
  }
  function registration(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
      response: {
        attestationObject: bytesToB64u(r.attestationObject),
        clientDataJSON: bytesToB64u(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : undefined
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }
  function assertion(cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
      response: {
        authenticatorData: bytesToB64u(r.authenticatorData),
        clientDataJSON: bytesToB64u(r.clientDataJSON),
        signature: bytesToB64u(r.signature),
        userHandle: r.userHandle ? bytesToB64u(r.userHandle) : null
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (!res.ok) throw new Error(j.message || "The server refused the request.");
        return j;
      });
    });
  }
  // The error box gets role=alert only when shown (an empty hidden alert is still an alert).
  function show(el, msg) { if (el) { el.textContent = msg; el.setAttribute("role", "alert"); el.hidden = false; } }
  function browserError(e) {
    if (e && e.name === "NotAllowedError") return "The request was cancelled or timed out. Try again.";
    if (e && e.name === "InvalidStateError") return "This security key or passkey is already registered.";
    if (e && e.name === "SecurityError") return "Security keys need a secure address (https:// or http://localhost).";
    return (e && e.message) || "Something went wrong. Try again.";
  }
  function supported(errEl) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show(errEl, "This browser does not support security keys or passkeys.");
      return false;
    }
    return true;
  }
  // One ceremony: options from `optionsUrl`, the browser call, the answer to `answerUrl`.
  function run(button, errEl, optionsUrl, answerUrl, browserCall, extra) {
    if (!supported(errEl)) return;
    var csrf = button.dataset.csrf;
    button.disabled = true;
    if (errEl) errEl.hidden = true;
    post(optionsUrl, csrf).then(function (o) {
      return browserCall(o.publicKey).then(function (answer) {
        var body = Object.assign({ ceremony: o.ceremony, credential: answer }, extra ? extra() : {});
        return post(answerUrl, csrf, body);
      });
    }).then(function (done) {
      window.location.assign(done.redirect || "/");
    }).catch(function (e) {
      button.disabled = false;
      show(errEl, e instanceof Error && !e.name.match(/Error$/) ? e.message : browserError(e));
    });
  }
  function create(pk) {
    return navigator.credentials.create({ publicKey: creationOptions(pk) }).then(registration);
  }
  function get(pk) {
    return navigator.credentials.get({ publicKey: requestOptions(pk) }).then(assertion);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var reg = document.getElementById("webauthn-register");
    if (reg) reg.addEventListener("click", function () {
      run(reg, document.getElementById("webauthn-error"), "/my/security-info/webauthn/options",
        "/my/security-info/webauthn", create, function () {
          var l = document.getElementById("webauthn-label");
          return { label: l ? l.value : "" };
        });
    });
    var second = document.getElementById("webauthn-second-factor");
    if (second) second.addEventListener("click", function () {
      run(second, document.getElementById("webauthn-error"), "/login/webauthn/options",
        "/login/webauthn", get);
    });
    var reset = document.getElementById("passkey-reset");
    if (reset) reset.addEventListener("click", function () {
      run(reset, document.getElementById("passkey-error"), "/reset/passkey/options",
        "/reset/passkey", get);
    });
    var pw = document.getElementById("passkey-login");
    if (pw) pw.addEventListener("click", function () {
      run(pw, document.getElementById("passkey-error"), "/login/passkey/options",
        "/login/passkey", get, function () {
          return { next: pw.dataset.next || "/", app: pw.dataset.app || "", acr: pw.dataset.acr || "" };
        });
    });
  });
})();
