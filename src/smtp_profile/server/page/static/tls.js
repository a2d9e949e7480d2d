// smtp-profile admin page: encryption as a choice people understand (issue 16, item 3).
// None / STARTTLS / TLS from the first byte, mapped onto Keyfactor's one flag: UseSSL
// false is None; UseSSL true is TLS from the first byte on the operator's implicit-TLS
// ports (SMTP_PROFILE_IMPLICIT_TLS_PORTS, learnt from GET /SMTP/Status) and STARTTLS on
// every other port. The API and what is stored are unchanged.
"use strict";

window.SmtpTls = (function () {
  const $ = (id) => document.getElementById(id);
  const USUAL = { none: 25, starttls: 587 };
  const NAMES = { none: "no encryption", starttls: "STARTTLS", implicit: "TLS from the first byte" };
  let implicitPorts = [465];
  let cleartext = null;  // the operator's SMTP_PROFILE_CLEARTEXT_CREDENTIALS, once known

  function radios() { return Array.from(document.querySelectorAll('input[name="tls"]')); }
  function port() { return $("port").value.trim(); }
  function isImplicit(p) { return implicitPorts.includes(Number(p)); }
  function usualImplicit() { return implicitPorts.includes(465) ? 465 : implicitPorts[0]; }
  function usual(mode) { return mode === "implicit" ? usualImplicit() : USUAL[mode]; }
  function isUsual(p) { return p === "" || [25, 465, 587].includes(Number(p)) || isImplicit(p); }

  function mode() {
    const checked = radios().find((r) => r.checked);
    return checked ? checked.value : "none";
  }

  function setMode(value) { radios().forEach((r) => { r.checked = r.value === value; }); }

  // What Keyfactor's UseSSL flag says for the current choice.
  function useSsl() { return mode() !== "none"; }

  // The choice a stored profile means.
  function fill(useSslValue, portValue) {
    setMode(!useSslValue ? "none" : (isImplicit(portValue) ? "implicit" : "starttls"));
    note("");
  }

  function note(extra) {
    const current = mode();
    let text;
    if (current === "none") {
      text = "No encryption: what is sent, a password too, crosses the network readable.";
    } else if (current === "starttls") {
      text = "Starts in plain text and switches to TLS (STARTTLS) before anything else; "
        + "the relay must offer it. The certificate is always checked.";
    } else {
      text = "TLS from the first byte, on port " + implicitPorts.join(", ") + " here. "
        + "The certificate is always checked.";
    }
    $("tls-note").textContent = (extra ? extra + " " : "") + text;
  }

  // The user chose an encryption: suggest the usual port for it.
  function chosen() {
    const current = mode();
    const p = port();
    const wanted = usual(current);
    let said = "";
    if (current === "implicit" && !isImplicit(p)) {
      $("port").value = String(wanted);
      said = "Port set to " + wanted + ": this service uses TLS from the first byte on "
        + "port " + implicitPorts.join(", ") + ".";
    } else if (current !== "implicit" && (isImplicit(p) || isUsual(p)) && Number(p) !== wanted) {
      $("port").value = String(wanted);
      said = "Port set to " + wanted + ", the usual port for " + NAMES[current] + ".";
    }
    note(said);
  }

  // The user typed a port: the choice follows what UseSSL will mean on it.
  function portChanged() {
    const current = mode();
    const p = port();
    if (current === "implicit" && p && !isImplicit(p)) {
      setMode("starttls");
      note("On port " + p + " encryption is STARTTLS: TLS from the first byte is used on port "
        + implicitPorts.join(", ") + ".");
    } else if (current === "starttls" && isImplicit(p)) {
      setMode("implicit");
      note("On port " + p + " TLS starts with the first byte.");
    }
  }

  // The operator's TLS settings, from GET /SMTP/Status (TlsPolicy).
  function setPolicy(policy) {
    if (!policy) { return; }
    if (Array.isArray(policy.ImplicitTlsPorts) && policy.ImplicitTlsPorts.length) {
      implicitPorts = policy.ImplicitTlsPorts.map(Number);
    }
    cleartext = policy.CleartextCredentials || null;
    const choice = $("tls-implicit-label");
    if (choice) { choice.textContent = "TLS from the first byte (port " + implicitPorts.join(", ") + ")"; }
  }

  // A password without encryption: say so before Save or Test, and what the operator allows.
  function cleartextWarning(basicAuth) {
    const box = $("cleartext-warning");
    if (!basicAuth || useSsl()) { box.textContent = ""; return; }
    let text = "Without encryption the password is sent readable to the relay.";
    if (cleartext === "loopback") {
      text += " This service's operator allows that only to a relay on this machine: a "
        + "test of another relay stops before the password is sent. Choose STARTTLS or TLS.";
    } else if (cleartext === "never") {
      text += " This service's operator does not allow it: a test stops before the "
        + "password is sent. Choose STARTTLS or TLS.";
    }
    box.textContent = text;
  }

  function cleartextPolicy() { return cleartext; }

  return { mode, useSsl, fill, chosen, portChanged, setPolicy, cleartextWarning, note,
           isImplicit, cleartextPolicy, NAMES };
})();
