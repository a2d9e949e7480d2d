// smtp-profile admin page: the relay client certificate and the Status warnings.
// Kept apart from app.js; app.js only announces two events:
//   "smtp-profile:signed-in" {session, apiBase}  and  "smtp-profile:status" (Status JSON).
// The private key and passwords go to the server once and are never read back.
"use strict";

(function () {
  const MODIFY = "/system_settings/modify/";
  const page = { apiBase: null, canModify: false, etag: null };
  const $ = (id) => document.getElementById(id);

  async function call(method, path, body, extraHeaders) {
    const headers = { "x-keyfactor-requested-with": "XMLHttpRequest",
                      "x-keyfactor-api-version": "2", "Accept": "application/json",
                      ...(extraHeaders || {}) };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, json: null, headers: new Headers(),
               message: "The service cannot be reached: " + err.message };
    }
    let json = null;
    try { json = await response.json(); } catch (err) { json = null; }
    const message = json && typeof json.Message === "string" ? json.Message
      : (response.ok ? "" : "The service answered " + response.status + ".");
    return { ok: response.ok, status: response.status, json, headers: response.headers,
             message };
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function setMessage(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  // ---- warnings --------------------------------------------------------------------

  // Status's Warnings, shown by warnings.js in the one place the page has for them.
  function renderWarnings(status) {
    window.SmtpWarnings.show($("settings-warnings"), status && status.Warnings);
  }

  // ---- the certificate -------------------------------------------------------------

  function row(list, label, value) {
    list.append(el("dt", label), el("dd", value));
  }

  async function load() {
    const result = await call("GET", page.apiBase + "/SMTP/ClientCertificate");
    const panel = $("client-cert-panel");
    if (!result.ok) {  // a server without the route: no section
      panel.hidden = true;
      return;
    }
    page.etag = result.headers.get("ETag");
    panel.hidden = false;
    const body = result.json;
    const details = $("client-cert-details");
    details.replaceChildren();
    if (!body.Configured) {
      details.append(el("p", "No client certificate is set: the relay sees no certificate "
                        + "from this service.", "hint"));
    } else {
      const list = el("dl", null, "client-cert-facts");
      row(list, "Subject", body.Subject);
      row(list, "Issuer", body.Issuer);
      row(list, "Serial", body.SerialNumber);
      row(list, "SHA-256", body.Sha256);
      row(list, "Not after", body.NotAfter);
      row(list, "clientAuth usage", body.ClientAuthUsage ? "yes" : "no: relays may refuse it");
      const bound = body.BoundTo || {};
      row(list, "Bound to", bound.Host + ":" + bound.Port + (bound.UseSSL ? " (TLS)" : ""));
      row(list, "AUTH EXTERNAL", body.SaslExternal ? "when the relay offers it" : "no");
      row(list, "Private key", "stored encrypted; never shown");
      details.append(list);
      if (!body.Usable) {
        details.append(el("p", "Not presented: " + (body.UnusableReasons || []).join("; ")
                          + ". Set it again to bind it to the relay as it is now.",
                          "message error"));
      }
    }
    $("client-cert-remove").hidden = !body.Configured || !page.canModify;
    $("client-cert-form").hidden = !page.canModify;
  }

  function base64Of(buffer) {
    let binary = "";
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary);
  }

  async function bodyFromForm() {
    const p12 = $("client-cert-p12").files[0];
    const cert = $("client-cert-pem").files[0];
    const key = $("client-cert-key").files[0];
    const password = $("client-cert-password").value;
    const body = { SaslExternal: $("client-cert-external").checked };
    if (p12) {
      body.Pkcs12 = base64Of(await p12.arrayBuffer());
      body.Pkcs12Password = password;
    } else if (cert && key) {
      body.CertificatePem = await cert.text();
      body.PrivateKeyPem = await key.text();
      if (password) { body.PrivateKeyPassword = password; }
    } else {
      return null;
    }
    return body;
  }

  async function refreshWarnings() {
    const result = await call("GET", page.apiBase + "/SMTP/Status");
    if (result.ok) { renderWarnings(result.json); }
  }

  async function save(event) {
    event.preventDefault();
    const error = $("client-cert-error");
    const status = $("client-cert-status");
    setMessage(error, "");
    setMessage(status, "");
    const body = await bodyFromForm();
    if (body === null) {
      setMessage(error, "Choose a PKCS#12 file, or a certificate PEM and its key PEM.");
      return;
    }
    const headers = page.etag ? { "If-Match": page.etag } : {};
    const result = await call("PUT", page.apiBase + "/SMTP/ClientCertificate", body, headers);
    $("client-cert-password").value = "";
    if (!result.ok) {
      setMessage(error, result.message);
      return;
    }
    $("client-cert-form").reset();
    setMessage(status, "Client certificate saved.");
    await load();
    await refreshWarnings();
  }

  async function remove() {
    const error = $("client-cert-error");
    setMessage(error, "");
    const headers = page.etag ? { "If-Match": page.etag } : {};
    const result = await call("DELETE", page.apiBase + "/SMTP/ClientCertificate", undefined,
                              headers);
    if (!result.ok) {
      setMessage(error, result.message);
      return;
    }
    setMessage($("client-cert-status"), "Client certificate removed.");
    await load();
    await refreshWarnings();
  }

  document.addEventListener("smtp-profile:signed-in", (event) => {
    page.apiBase = event.detail.apiBase;
    page.canModify = event.detail.session.Permissions.includes(MODIFY);
  });
  document.addEventListener("smtp-profile:status", (event) => {
    renderWarnings(event.detail);
    if (page.apiBase) { load().catch(() => { $("client-cert-panel").hidden = true; }); }
  });
  document.addEventListener("DOMContentLoaded", () => {
    const form = $("client-cert-form");
    if (form) {
      form.addEventListener("submit", save);
      $("client-cert-remove").addEventListener("click", remove);
    }
  });
})();
