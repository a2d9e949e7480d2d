// smtp-profile admin page. Plain JavaScript, no build step, no framework.
// It talks to the same Keyfactor JSON API (version 2) as any client; the session cookie
// is accepted there only with "x-keyfactor-requested-with: XMLHttpRequest".
"use strict";

(function () {
  const API_BASE = document.querySelector('meta[name="smtp-profile-api-base"]').content;
  const SESSION_URL = "/web/session";
  const MODIFY = "/system_settings/modify/";
  const READ = "/system_settings/read/";
  const RECIPIENT_KEY = "smtp-profile.test-recipient";
  const AUTH_BASIC = 2;
  const AUTH_OAUTH = 3;
  // Loose on purpose, like the server: one @, something on each side, no spaces.
  // The relay decides which addresses exist (corp.local and localhost are fine).
  // No final dot after the domain: relays refuse `pki@corp.local.` (so does the server).
  const MAILBOX = /^[^\s@]+@[^\s@]*[^\s@.]$/;
  const STEP_LABELS = {
    resolve: "resolve", connect: "connect", banner: "banner", ehlo: "EHLO",
    starttls: "STARTTLS", tls: "TLS", certificate: "certificate", auth: "AUTH",
    token: "token", mail_from: "MAIL FROM", rcpt_to: "RCPT TO", data: "DATA", quit: "QUIT",
  };
  // Keyfactor field names -> the page's fields and words: messages.js (SmtpMessages).

  const $ = (id) => document.getElementById(id);
  // session.js (keeping the user's work): the session countdown, signing in again without
  // losing the form, the unsaved-changes guard, 412 conflicts, sign-out, first use.
  const keep = window.SmtpKeep;

  const state = {
    session: null,     // {UserName, Permissions, ExpiresAt}
    loaded: null,      // the profile as the server last returned it (v2 shape)
    etag: null,
    secrets: {},       // per secret block: {stored: bool, changing: bool}
    headerRows: 0,
  };

  // ---- talking to the server -------------------------------------------------------

  class SessionEnded extends Error {}

  async function call(method, path, body, extraHeaders) {
    const headers = {
      "x-keyfactor-requested-with": "XMLHttpRequest",
      "x-keyfactor-api-version": "2",
      "Accept": "application/json",
      ...(extraHeaders || {}),
    };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { status: 0, ok: false, headers: new Headers(), json: null,
               message: "The service cannot be reached: " + err.message };
    }
    let json = null;
    const text = await response.text();
    if (text) {
      try { json = JSON.parse(text); } catch (err) { json = null; }
    }
    const message = json && typeof json.Message === "string" ? json.Message
      : (response.ok ? "" : "The service answered " + response.status + ".");
    return { status: response.status, ok: response.ok, headers: response.headers, json,
             message };
  }

  // An API answer of 401 on a page call means the session is gone.
  async function apiCall(method, path, body, extraHeaders) {
    const result = await call(method, path, body, extraHeaders);
    if (result.status === 401) {
      throw new SessionEnded(result.message);
    }
    return result;
  }

  // ---- small DOM helpers -------------------------------------------------------------

  function show(el, visible) { el.hidden = !visible; }

  // Live regions (role status/alert, aria-live) are never hidden: a screen reader
  // announces a change only in a region it already knows. Empty ones take no space (CSS).
  function setMessage(el, text) {
    el.textContent = text || "";
    if (!el.matches('[role="status"], [role="alert"], [aria-live]')) {
      show(el, Boolean(text));
    }
  }

  // A busy button stays focusable (disabled would drop the focus to <body>): it is
  // marked aria-disabled and its action ignored until the request ends.
  function setBusy(button, busy) {
    if (busy) { button.setAttribute("aria-disabled", "true"); }
    else { button.removeAttribute("aria-disabled"); }
  }

  function isBusy(button) { return button.getAttribute("aria-disabled") === "true"; }

  function fieldError(id, text) {
    const input = id === "use-ssl"
      ? document.querySelector('input[name="tls"]:checked') || $("tls-none") : $(id);
    const error = $(id + "-error");
    if (error) { setMessage(error, text); }
    if (input && input.matches("input, select")) {
      if (text) { input.setAttribute("aria-invalid", "true"); }
      else { input.removeAttribute("aria-invalid"); }
    }
  }

  function clearErrors(root) {
    root.querySelectorAll(".field-error").forEach((el) => setMessage(el, ""));
    root.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function focusFirstInvalid(root) {
    const first = root.querySelector('[aria-invalid="true"]');
    if (first) { first.focus(); return true; }
    return false;
  }

  // ---- views -------------------------------------------------------------------------

  function showSignIn(notice) {
    keep.stop();  // session.js
    state.session = null;
    state.loaded = null;
    show($("loading"), false);
    show($("settings-view"), false);
    show($("sign-in-view"), true);
    show($("signed-in-as"), false);
    show($("sign-out"), false);
    setMessage($("sign-in-error"), "");
    setMessage($("sign-in-status"), notice || "");
    forgetTypedSecrets();
    $("sign-in-password").value = "";
    $("sign-in-user").focus();
  }

  async function showSettings(session) {
    state.session = session;
    keep.track(session);  // session.js: warn before the session ends
    show($("loading"), false);
    show($("sign-in-view"), false);
    $("signed-in-as").textContent = "Signed in as " + session.UserName;
    show($("signed-in-as"), true);
    show($("sign-out"), true);
    show($("settings-view"), true);
    setMessage($("form-error"), "");
    setMessage($("form-status"), "");
    const canModify = session.Permissions.includes(MODIFY);
    show($("read-only-note"), !canModify);
    show($("settings-actions"), canModify);
    show($("test-panel"), false);
    // issue 16 (page-truth): a reader gets the settings as plain text, not a form of
    // controls that cannot be used.
    state.canModify = canModify;
    show($("settings-form"), false);
    show($("read-only-view"), false);
    // client-cert.js: the client certificate section learns who signed in.
    document.dispatchEvent(new CustomEvent("smtp-profile:signed-in",
                                           { detail: { session, apiBase: API_BASE } }));
    await loadProfile();
  }

  async function loadProfile() {
    const result = await apiCall("GET", API_BASE + "/SMTP");
    if (!result.ok) {
      show($("settings-form"), false);
      setMessage($("form-error"), result.message);
      return;
    }
    state.etag = result.headers.get("ETag");
    fillForm(result.json);
    show($("settings-form"), state.canModify);
    show($("read-only-view"), !state.canModify);
    if (!state.canModify) { renderReadOnly(result.json); }
    // Not awaited: the form is ready without it, and focus must not move once a user
    // has started working on the page.
    loadStatus().catch(() => { setMessage($("last-test"), ""); });
  }

  // The stored settings as text, for a user who may read but not change them.
  function renderReadOnly(profile) {
    const list = $("read-only-list");
    list.replaceChildren();
    const type = profile.RelayAuthenticationType;
    const encryption = !profile.UseSSL ? "None"
      : (SmtpTls.isImplicit(profile.Port) ? "TLS from the first byte" : "STARTTLS");
    const rows = [["Host", profile.Host], ["Port", profile.Port],
                  ["Sender Name", profile.SenderName], ["Sender Account", profile.SenderAccount],
                  ["Encryption", encryption],
                  ["Relay authentication", SmtpMessages.AUTH_NAMES[type] || String(type)]];
    if (type === AUTH_BASIC) {
      rows.push(["Username", secretText(profile.RelayUsername)],
                ["Password", "stored (never shown)"]);
    } else if (type === AUTH_OAUTH) {
      rows.push(["Client ID", secretText(profile.ClientId)],
                ["Client Secret", "stored (never shown)"],
                ["Token Endpoint", profile.TokenEndpoint], ["Scope", profile.Scope],
                ["Audience", profile.Audience],
                ["Request headers", (profile.RequestHeaders || [])
                  .map((h) => h.Name + ": " + h.Value).join("; ")]);
    }
    rows.forEach(([name, value]) => {
      const shown = value === null || value === undefined || value === "" ? "(not set)" : String(value);
      list.append(el("dt", name), el("dd", shown));
    });
  }

  // Whether a secret is really stored, as Status says (PasswordStored, ClientSecretStored):
  // a type-3 profile signed by a certificate or a service account key has no client
  // secret. A PAM reference (pam.js) counts as stored: leaving it keeps it.
  function storedSecrets(status) {
    const loaded = state.loaded;
    if (!loaded) { return; }
    const here = {};
    [["password", AUTH_BASIC, "PasswordStored", "RelayPassword"],
     ["client-secret", AUTH_OAUTH, "ClientSecretStored", "ClientSecret"]].forEach(
      ([kind, type, flag, field]) => {
        const secret = state.secrets[kind];
        if (!secret || typeof status[flag] !== "boolean"
            || loaded.RelayAuthenticationType !== type) { return; }
        const value = loaded[field];
        const reference = Boolean(value && value.Provider !== null
                                  && value.Provider !== undefined);
        here[field] = status[flag];
        secret.stored = status[flag] || reference;
      });
    if (window.SmtpProfilePam) { window.SmtpProfilePam.loaded(loaded, here); }  // pam.js
  }

  // The relay's trust mode and the last test of the stored profile (an extension route;
  // a server without it simply shows neither).
  async function loadStatus() {
    const result = await apiCall("GET", API_BASE + "/SMTP/Status");
    const status = result.ok ? result.json : null;
    show($("insecure-warning"), Boolean(status && status.Trust === "insecure"));
    if (status) {
      // The operator's implicit-TLS ports decide what a stored UseSSL means: re-read the
      // stored choice with them, unless the user already changed encryption or port.
      const loaded = state.loaded;
      const untouched = loaded && SmtpTls.useSsl() === Boolean(loaded.UseSSL)
        && $("port").value.trim() === String(loaded.Port);
      SmtpTls.setPolicy(status.TlsPolicy);
      if (untouched) { SmtpTls.fill(Boolean(loaded.UseSSL), loaded.Port); }
      storedSecrets(status);
      updateSections();
      if (!state.canModify && state.loaded) { renderReadOnly(state.loaded); }
    }
    window.SmtpWarnings.show($("settings-warnings"), status && status.Warnings);
    // client-cert.js: the client certificate section.
    document.dispatchEvent(new CustomEvent("smtp-profile:status", { detail: status }));
    const last = status && status.LastTest;
    if (!last) {
      setMessage($("last-test"), status ? "The saved settings have not been tested yet." : "");
      return;
    }
    const when = String(last.TestedAt).slice(0, 19).replace("T", " ") + " UTC";
    const outcome = last.Success ? "passed"
      : "failed at step " + (STEP_LABELS[last.FailedStep] || last.FailedStep);
    const stale = last.Current ? "" : " The settings have changed since.";
    setMessage($("last-test"), "Last test of the saved settings: " + when + " by "
      + last.TestedBy + ", " + outcome + "." + stale);
  }

  // ---- the form <-> the profile ------------------------------------------------------

  function secretText(value) {
    return value && typeof value.SecretValue === "string" ? value.SecretValue : "";
  }

  function fillForm(profile) {
    state.loaded = profile;
    $("host").value = profile.Host || "";
    $("port").value = String(profile.Port);
    $("sender-name").value = profile.SenderName || "";
    $("sender-account").value = profile.SenderAccount || "";
    SmtpTls.fill(Boolean(profile.UseSSL), profile.Port);
    $("auth-type").value = String(profile.RelayAuthenticationType);
    $("relay-username").value = secretText(profile.RelayUsername);
    $("client-id").value = secretText(profile.ClientId);
    $("token-endpoint").value = profile.TokenEndpoint || "";
    $("scope").value = profile.Scope || "";
    $("audience").value = profile.Audience || "";
    $("request-headers").replaceChildren();
    (profile.RequestHeaders || []).forEach((h) => addHeaderRow(h.Name, h.Value));
    // Secrets are never returned. A saved Basic profile always has a password (the
    // server refuses one without); an OAuth profile is taken to have a client secret
    // until GET /SMTP/Status says (storedSecrets) that a certificate or key signs instead.
    state.secrets.password = { stored: profile.RelayAuthenticationType === AUTH_BASIC,
                               changing: false };
    state.secrets["client-secret"] = { stored: profile.RelayAuthenticationType === AUTH_OAUTH,
                                       changing: false };
    forgetTypedSecrets();
    clearErrors($("settings-form"));
    updateSections();
    keep.profileShown(profile);  // session.js: "mail is not configured yet"
    if (window.SmtpProfilePam) { window.SmtpProfilePam.loaded(profile); }  // pam.js
  }

  function forgetTypedSecrets() {
    $("relay-password").value = "";
    $("client-secret").value = "";
  }

  function authType() { return Number($("auth-type").value); }

  // The fields a stored secret is bound to on the server (a password is only ever sent
  // to the relay it was saved for; a client secret only to its token endpoint, and the
  // token only to its relay), as the server's SECRET_REENTRY rule has them.
  function bindingChanges(kind) {
    const loaded = state.loaded;
    if (!loaded) { return []; }
    const changed = [];
    if (kind === "client-secret") {
      if ($("token-endpoint").value.trim() !== (loaded.TokenEndpoint || "")) {
        changed.push("Token Endpoint");
      }
      if ($("client-id").value.trim() !== secretText(loaded.ClientId)) {
        changed.push("Client ID");
      }
    }
    if ($("host").value.trim().toLowerCase() !== (loaded.Host || "").toLowerCase()) {
      changed.push("Host");
    }
    if (Number($("port").value) !== loaded.Port) { changed.push("Port"); }
    if (SmtpTls.useSsl() !== Boolean(loaded.UseSSL)) { changed.push("Encryption"); }
    if (authType() !== loaded.RelayAuthenticationType) {
      changed.push("Relay authentication");
    }
    if (kind === "password"
        && $("relay-username").value.trim() !== secretText(loaded.RelayUsername)) {
      changed.push("Username");
    }
    return changed;
  }

  function joinNames(names) {
    if (names.length < 2) { return names.join(""); }
    return names.slice(0, -1).join(", ") + " and " + names[names.length - 1];
  }

  // Which secret input must be typed: none stored, the user chose to change it, or the
  // destination changed so the stored one will not be used.
  const SECRET_INPUTS = { password: "relay-password", "client-secret": "client-secret" };

  function secretNeeded(kind) {
    const secret = state.secrets[kind] || { stored: false, changing: false };
    // A typed value is never hidden away (or silently dropped) by a later edit.
    if (!secret.stored || secret.changing || $(SECRET_INPUTS[kind]).value) { return true; }
    return bindingChanges(kind).length > 0;
  }

  // Whether the stored OAuth certificate credential (oauth-credential.js) signs the token
  // requests for the Token Endpoint, Client ID and relay now in the form: then the server
  // needs no client secret (its precedence: a bound certificate before a client secret).
  function certificateSigns() {
    const credential = window.SmtpOAuthCredential;
    return Boolean(credential && credential.signsFor({
      TokenEndpoint: $("token-endpoint").value.trim(), ClientId: $("client-id").value.trim(),
      Host: $("host").value.trim(), Port: Number($("port").value), UseSSL: SmtpTls.useSsl(),
    }));
  }

  // The secret input is shown and must be typed, unless (client secret) a certificate signs.
  function secretRequired(kind) {
    return secretNeeded(kind) && !(kind === "client-secret" && certificateSigns());
  }

  // What the body carries for a shown secret input: its value, or nothing when it may be
  // left empty (a certificate signs instead).
  function typedSecret(kind) {
    const value = $(SECRET_INPUTS[kind]).value;
    if (!secretNeeded(kind) || (!value && !secretRequired(kind))) { return null; }
    return { SecretValue: value };
  }

  function updateSecretBlock(kind, inputId) {
    const block = document.querySelector('.secret[data-secret="' + kind + '"]');
    const secret = state.secrets[kind] || { stored: false, changing: false };
    const needed = secretNeeded(kind);
    const rebind = secret.stored && !secret.changing && bindingChanges(kind).length > 0;
    show(block.querySelector(".secret-stored"), !needed);
    show(block.querySelector(".secret-entry"), needed);
    show(block.querySelector(".secret-keep"), secret.stored && secret.changing);
    const hint = $(inputId + "-hint");
    const input = $(inputId);
    const required = secretRequired(kind);
    input.required = required;
    block.querySelector(".req").hidden = !required;
    const certificate = kind === "client-secret" && certificateSigns();
    // The stored note says the certificate signs while it does, then what it said before
    // (pam.js may have said a reference is stored).
    const note = block.querySelector(".stored-note");
    if (certificate && note.dataset.beforeCertificate === undefined) {
      note.dataset.beforeCertificate = note.textContent;
      note.textContent = "A client secret is stored, but the certificate credential below "
        + "signs the token requests for this Token Endpoint, Client ID and relay, so it is "
        + "not used.";
    } else if (!certificate && note.dataset.beforeCertificate !== undefined) {
      note.textContent = note.dataset.beforeCertificate;
      delete note.dataset.beforeCertificate;
    }
    if (certificate) {
      hint.textContent = "Not needed: the certificate credential below signs the token "
        + "requests for this Token Endpoint, Client ID and relay. Leave it empty (a secret "
        + "typed here is stored, but the certificate is used).";
    } else if (rebind && kind === "password") {
      hint.textContent = joinNames(bindingChanges(kind)) + " changed since the "
        + "password was saved. The stored password is only sent to the server it was "
        + "saved for, so type it again.";
    } else if (rebind) {
      hint.textContent = joinNames(bindingChanges(kind)) + " changed since the "
        + "client secret was saved. The stored client secret is only sent to the token "
        + "endpoint it was saved for (and its token only to that relay), so type it again.";
    } else if (secret.stored) {
      hint.textContent = "The new value replaces the stored one when you save.";
    } else {
      hint.textContent = "Required. It is stored encrypted and never shown again.";
    }
  }

  function updateSections() {
    const type = authType();
    show($("basic-auth"), type === AUTH_BASIC);
    show($("oauth-auth"), type === AUTH_OAUTH);
    updateSecretBlock("password", "relay-password");
    updateSecretBlock("client-secret", "client-secret");
    // Saving another type deletes the stored credentials: say so before Save.
    const loadedType = state.loaded ? state.loaded.RelayAuthenticationType : 0;
    const stored = loadedType === AUTH_BASIC ? "username and password"
      : loadedType === AUTH_OAUTH ? "client ID, client secret and token settings" : "";
    const leaving = stored && type !== loadedType
      ? "The stored " + stored + " will be deleted when you save"
        + (type === 0 ? " (Anonymous sends no credentials)." : ".") : "";
    setMessage($("auth-type-note"), leaving);
    SmtpTls.cleartextWarning(type === AUTH_BASIC);
  }

  function addHeaderRow(name, value) {
    state.headerRows += 1;
    const n = state.headerRows;
    const row = document.createElement("div");
    row.className = "header-row";
    const makeField = (labelText, id, val) => {
      const wrap = document.createElement("div");
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = labelText;
      const input = document.createElement("input");
      input.id = id;
      input.autocomplete = "off";
      input.spellcheck = false;
      input.value = val || "";
      wrap.append(label, input);
      return wrap;
    };
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove header " + n);
    remove.addEventListener("click", () => {
      row.remove();
      $("add-header").focus();
    });
    row.append(makeField("Header " + n + " name", "header-name-" + n, name),
               makeField("Header " + n + " value", "header-value-" + n, value), remove);
    $("request-headers").append(row);
    return row;
  }

  function headerRows() {
    return Array.from($("request-headers").querySelectorAll(".header-row")).map((row) => {
      const [name, value] = row.querySelectorAll("input");
      return { Name: name.value.trim(), Value: value.value };
    }).filter((h) => h.Name || h.Value);
  }

  function orNull(text) {
    const value = text.trim();
    return value ? value : null;
  }

  // The version-2 body for PUT /SMTP and POST /SMTP/Test.
  function profileBody() {
    const type = authType();
    const body = {
      Host: $("host").value.trim(),
      Port: Number($("port").value),
      UseSSL: SmtpTls.useSsl(),
      RelayAuthenticationType: type,
      SenderName: $("sender-name").value.trim(),
      SenderAccount: $("sender-account").value.trim(),
      RelayUsername: null, RelayPassword: null,
      ClientId: null, ClientSecret: null, TokenEndpoint: null, Scope: null, Audience: null,
      RequestHeaders: null,
    };
    if (type === AUTH_BASIC) {
      body.RelayUsername = { SecretValue: $("relay-username").value.trim() };
      body.RelayPassword = typedSecret("password");
    } else if (type === AUTH_OAUTH) {
      body.ClientId = { SecretValue: $("client-id").value.trim() };
      body.ClientSecret = typedSecret("client-secret");
      body.TokenEndpoint = orNull($("token-endpoint").value);
      body.Scope = orNull($("scope").value);
      body.Audience = orNull($("audience").value);
      body.RequestHeaders = headerRows();
    }
    return body;
  }

  // Checks in the page before anything is sent; the server checks everything again.
  function validateForm() {
    const form = $("settings-form");
    clearErrors(form);
    let ok = true;
    const fail = (id, text) => { fieldError(id, text); ok = false; };
    const host = $("host").value.trim();
    const mistake = host ? SmtpMessages.hostMistake(host) : null;
    if (!host) { fail("host", "Host is required."); }
    else if (mistake) { fail("host", mistake.message); }
    else if (/\s/.test(host)) { fail("host", "Host must not contain spaces."); }
    const portText = $("port").value.trim();
    const port = Number(portText);
    if (!portText) { fail("port", "Port is required."); }
    else if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) {
      fail("port", "Port must be a whole number between 1 and 65535, in digits only.");
    }
    if (!$("sender-name").value.trim()) { fail("sender-name", "Sender Name is required."); }
    const sender = $("sender-account").value.trim();
    if (!sender) { fail("sender-account", "Sender Account is required."); }
    else if (!MAILBOX.test(sender)) {
      fail("sender-account", /\.$/.test(sender)
        ? "Sender Account must not end with a dot after the domain (pki@corp.local, not pki@corp.local.)."
        : "Sender Account must be an e-mail address, like name@example.com.");
    }
    const type = authType();
    if (type === AUTH_BASIC) {
      if (!$("relay-username").value.trim()) {
        fail("relay-username", "Username is required for Basic Authentication.");
      }
      if (secretRequired("password") && !$("relay-password").value) {
        fail("relay-password", "Password is required for Basic Authentication.");
      }
    } else if (type === AUTH_OAUTH) {
      if (!SmtpTls.useSsl()) {
        fail("use-ssl", "OAuth needs encryption: choose STARTTLS or TLS from the first byte "
          + "(the access token is never sent without TLS).");
      }
      if (!$("client-id").value.trim()) { fail("client-id", "Client ID is required."); }
      if (secretRequired("client-secret") && !$("client-secret").value) {
        fail("client-secret", "Client Secret is required (or a certificate credential, "
          + "below, saved for this Token Endpoint, Client ID and relay).");
      }
      const endpoint = $("token-endpoint").value.trim();
      if (!endpoint) { fail("token-endpoint", "Token Endpoint is required."); }
      else if (!/^https?:\/\/\S+$/i.test(endpoint)) {
        fail("token-endpoint", "Token Endpoint must be a URL starting with https://.");
      }
      if (headerRows().some((h) => !h.Name)) {
        fail("request-headers", "Every request header needs a name.");
      }
    }
    return ok;
  }

  // issue 16 (page-truth): a refusal in the page's words, once. Each part of a server
  // message goes next to the field it names, translated into the page's labels; the top
  // says what happened in one sentence; the API's own message stays under "Message from
  // the API". A service that cannot be reached or is busy is told apart and said once.
  function showServerError(result, topElement, action) {
    const problem = SmtpMessages.transportProblem(result);
    showApiMessage(problem ? "" : result.message);
    if (problem) {
      setMessage(topElement, problem);
      topElement.focus();
      return;
    }
    const parts = (result.message || "").split("; ");
    let placed = 0;
    parts.forEach((part) => {
      const id = SmtpMessages.fieldOf(part);
      const target = id === "use-ssl" ? $("encryption") : id && $(id);
      if (target && !target.closest("[hidden]")) {
        fieldError(id, SmtpMessages.translate(part));
        placed += 1;
      }
    });
    if (/^RelayPassword must be re-entered/.test(result.message)) {
      state.secrets.password.changing = true;
      updateSections();
      fieldError("relay-password", SmtpMessages.translate(result.message));
      placed += 1;
    }
    if (/^ClientSecret must be re-entered/.test(result.message)) {
      state.secrets["client-secret"].changing = true;
      updateSections();
      fieldError("client-secret", SmtpMessages.translate(result.message));
      placed += 1;
    }
    const what = action || "The server did not accept this";
    setMessage(topElement, placed === parts.length
      ? what + ": correct the marked field" + (placed > 1 ? "s" : "") + "."
      : what + ": " + SmtpMessages.translate(result.message));
    if (!(placed && focusFirstInvalid(document))) { topElement.focus(); }
  }

  function showApiMessage(text) {
    $("api-message-text").textContent = text || "";
    show($("api-message"), Boolean(text));
  }

  // ---- actions -----------------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const form = $("sign-in-form");
    clearErrors(form);
    setMessage($("sign-in-error"), "");
    setMessage($("sign-in-status"), "");
    const user = $("sign-in-user").value.trim();
    const password = $("sign-in-password").value;
    if (!user) { fieldError("sign-in-user", "User name is required."); }
    if (!password) { fieldError("sign-in-password", "Password is required."); }
    if (!user || !password) { focusFirstInvalid(form); return; }
    $("sign-in-submit").disabled = true;
    try {
      const result = await call("POST", SESSION_URL, { UserName: user, Password: password });
      if (!result.ok) {
        setMessage($("sign-in-error"), result.message);
        $("sign-in-password").value = "";
        $("sign-in-password").focus();
        return;
      }
      $("sign-in-password").value = "";
      if (keep.resume(result.json)) { return; }  // session.js: the kept form is back
      await showSettings(result.json);
      $("main").focus();
    } catch (err) {
      handleFailure(err);
    } finally {
      $("sign-in-submit").disabled = false;
    }
  }

  // The settings in the form are those stored, and no secret was typed: a Save would
  // store nothing new (and would mark the last test as of older settings).
  function sameAsLoaded(body) {
    const loaded = state.loaded;
    if (!loaded || body.RelayPassword || body.ClientSecret) { return false; }
    const shape = (p) => JSON.stringify([
      p.Host || "", p.Port, Boolean(p.UseSSL), p.RelayAuthenticationType, p.SenderName || "",
      p.SenderAccount || "", secretText(p.RelayUsername), secretText(p.ClientId),
      p.TokenEndpoint || "", p.Scope || "", p.Audience || "",
      (p.RequestHeaders || []).map((h) => [h.Name, h.Value])]);
    return shape(body) === shape(loaded);
  }

  async function save(event) {
    event.preventDefault();
    const button = $("save");
    if (isBusy(button)) { return; }
    setMessage($("form-error"), "");
    setMessage($("form-status"), "");
    showApiMessage("");
    if (!validateForm()) {
      setMessage($("form-error"), "Please correct the marked fields.");
      focusFirstInvalid($("settings-form"));
      return;
    }
    const body = profileBody();
    if (sameAsLoaded(body)) {
      setMessage($("form-status"), "Nothing to save: these are the saved settings.");
      return;
    }
    setBusy(button, true);
    try {
      const headers = state.etag ? { "If-Match": state.etag } : {};
      const result = await apiCall("PUT", API_BASE + "/SMTP", body, headers);
      if (result.status === 412) {
        await keep.conflict();  // session.js: theirs beside mine, keep mine or take theirs
        return;
      }
      if (!result.ok) {
        showServerError(result, $("form-error"), "Not saved");
        return;
      }
      state.etag = result.headers.get("ETag");
      fillForm(result.json);
      setMessage($("form-status"), "Saved. The settings are in effect.");
      // The "Last test" line is about the saved settings: they just changed.
      await loadStatus().catch(() => { setMessage($("last-test"), ""); });
    } catch (err) {
      handleFailure(err, "save");
    } finally {
      setBusy(button, false);
    }
  }

  function openTest() {
    show($("test-panel"), true);
    const remembered = sessionStorage.getItem(RECIPIENT_KEY) || keep.defaultRecipient();
    if (remembered && !$("test-recipient").value) { $("test-recipient").value = remembered; }
    $("test-recipient").focus();
  }

  function closeTest() {
    show($("test-panel"), false);
    $("test-open").focus();
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  // kind: "ok", "warning" (sent, but something was not as it should be), "failed",
  // or "info" (cancelled). A warning is amber, never a plain success.
  function renderOutcome(kind, headline, details) {
    const box = $("test-result");
    box.replaceChildren();
    const look = { ok: "success", warning: "warning", failed: "error", info: "info" }[kind];
    box.className = "message " + look;
    box.append(el("h3", headline, "outcome-" + kind));
    details.forEach((node) => box.append(node));
    show(box, true);
    box.focus();
  }

  function detail(label, value) {
    const p = el("p", null, "test-detail");
    p.append(el("strong", label + ": "), el("span", value));
    return p;
  }

  const WARNING_WORDS = {
    "credentials sent without TLS": "the password was sent without encryption: anyone on "
      + "the network path could read it. Choose STARTTLS or TLS from the first byte.",
  };

  // issue 16 (page-truth): the detailed report of POST /SMTP/Diagnose, every step with
  // its reply, details and warnings; the test id once.
  function renderReport(report, recipient, context) {
    const o = SmtpReport.outcome(report);
    const failed = o.failed;
    const warnings = SmtpReport.allWarnings(report);
    const headline = o.kind === "failed"
      ? "Test failed at step " + SmtpReport.label(failed ? failed.Name : "?")
      : "Test e-mail sent to " + recipient + (o.kind === "warning"
        ? (warnings.length > 1 ? ", with warnings" : ", with a warning") : "");
    const details = [detail("Test id", report.TestId)];
    warnings.forEach((w) => {
      details.push(detail("Warning", SmtpReport.label(w.step) + ": " + (WARNING_WORDS[w.text] || w.text)));
    });
    if (failed) {
      const why = SmtpReport.explanation(failed);
      if (why) { details.push(detail("Why", why)); }
      if (failed.Message) { details.push(detail("What happened", SmtpMessages.translate(failed.Message))); }
      if (failed.ReplyCode) {
        details.push(detail("Server replied", failed.ReplyCode + " " + (failed.ReplyText || "")));
      }
      if (failed.Hint) { details.push(detail("Hint", SmtpMessages.translate(failed.Hint))); }
    }
    details.push(...window.SmtpWarnings.elements(report.Warnings));
    details.push(SmtpReport.table(report, SmtpMessages.translate));
    state.lastReport = { report, context };
    renderOutcome(o.kind, headline, details);
    show($("report-tools"), true);
  }

  // POST /SMTP/Test's answer (a server without Diagnose): success with the X-Test-Id
  // header, or an error body whose Message names the failed step.
  function renderTestAnswer(result, recipient) {
    const testId = result.headers.get("X-Test-Id");
    if (result.ok) {
      renderOutcome("ok", "Test e-mail sent to " + recipient,
                    [detail("Test id", testId || "(none)")]);
      return;
    }
    const step = /failed at step '([^']+)'/.exec(result.message);
    const headline = step ? "Test failed at step " + step[1] : "The test could not run";
    const details = [];
    if (testId) { details.push(detail("Test id", testId)); }
    details.push(detail(step ? "What the server said" : "Reason", SmtpMessages.translate(result.message)));
    renderOutcome("failed", headline, details);
  }

  // A refusal of the test request itself (before any step ran): next to its fields if it
  // names them, otherwise in the test panel; said once either way.
  function showTestRefusal(result) {
    const problem = SmtpMessages.transportProblem(result);
    if (problem) {
      renderOutcome("failed", "The test could not run", [detail("Reason", problem)]);
      return;
    }
    const parts = (result.message || "").split("; ");
    const onFields = parts.some((part) => {
      const id = SmtpMessages.fieldOf(part);
      const target = id === "use-ssl" ? $("encryption") : id && $(id);
      return target && !target.closest("[hidden]");
    });
    if (onFields) {
      showServerError(result, $("form-error"), "The test did not run");
      return;
    }
    const api = el("details", null, "api-message");
    api.append(el("summary", "Message from the API"), el("p", result.message, "mono"));
    renderOutcome("failed", "The test did not run",
                  [detail("Reason", SmtpMessages.translate(result.message)), api]);
  }

  function testContext(body, recipient) {
    return { host: body.Host, port: body.Port, encryption: SmtpTls.NAMES[SmtpTls.mode()],
             auth: SmtpMessages.AUTH_NAMES[body.RelayAuthenticationType],
             sender: body.SenderAccount, recipient, at: new Date().toISOString() };
  }

  async function runTest(event) {
    event.preventDefault();
    const button = $("test-run");
    if (isBusy(button)) { return; }
    setMessage($("form-error"), "");
    setMessage($("form-status"), "");
    showApiMessage("");
    show($("test-result"), false);
    show($("report-tools"), false);
    show($("copy-box"), false);
    setMessage($("copy-status"), "");
    const formOk = validateForm();
    const recipient = $("test-recipient").value.trim();
    fieldError("test-recipient", "");
    let recipientOk = true;
    if (!recipient) {
      fieldError("test-recipient", "Recipient is required.");
      recipientOk = false;
    } else if (!MAILBOX.test(recipient)) {
      fieldError("test-recipient", /\.$/.test(recipient)
        ? "Recipient must not end with a dot." : "Recipient must be an e-mail address.");
      recipientOk = false;
    }
    if (!formOk || !recipientOk) {
      if (!formOk) { setMessage($("form-error"), "Please correct the marked fields."); }
      focusFirstInvalid(document);
      return;
    }
    sessionStorage.setItem(RECIPIENT_KEY, recipient);
    const body = { ...profileBody(), TestRecipient: recipient };
    const context = testContext(body, recipient);
    const controller = new AbortController();
    state.testAbort = controller;
    setBusy(button, true);
    setBusy($("save"), true);
    show($("test-cancel"), true);
    const where = "Testing " + body.Host + ":" + body.Port + ", sending to " + recipient;
    $("test-progress-text").textContent = where + "...";
    show($("test-progress"), true);
    setMessage($("test-live"), where + ".");
    $("test-panel").setAttribute("aria-busy", "true");
    try {
      const headers = { "x-keyfactor-requested-with": "XMLHttpRequest",
                        "x-keyfactor-api-version": "2" };
      let result;
      try {
        result = await SmtpReport.stream(API_BASE + "/SMTP/Diagnose", { ...body, Mode: "send" },
          headers, controller.signal, (step) => {
            $("test-progress-text").textContent = where + "... " + SmtpReport.label(step.Name)
              + ": " + step.Status;
          });
      } catch (err) {
        if (err.name === "AbortError") {
          renderOutcome("info", "Test cancelled", [detail("What happens now",
            "The page stopped waiting. The service finishes the test it started (a relay "
            + "already contacted cannot be called back) and records it in the audit trail; "
            + "a test of the saved settings also shows in the Last test line.")]);
          loadStatus().catch(() => { setMessage($("last-test"), ""); });
          return;
        }
        result = { status: 0, headers: new Headers(), json: null, report: null };
      }
      if (result.status === 401) { throw new SessionEnded(""); }
      if (result.report) {
        renderReport(result.report, recipient, context);
        loadStatus().catch(() => { setMessage($("last-test"), ""); });
        return;
      }
      if (result.status === 404) {
        // This server has no step-by-step report: use the Keyfactor Test route.
        const answer = await apiCall("POST", API_BASE + "/SMTP/Test", body);
        if (answer.ok || (answer.json && answer.json.ErrorCode === "0xA0110008")) {
          renderTestAnswer(answer, recipient);
          return;
        }
        showTestRefusal(answer);
        return;
      }
      result.message = result.json && typeof result.json.Message === "string"
        ? result.json.Message : "The service answered " + result.status + ".";
      showTestRefusal(result);
    } catch (err) {
      handleFailure(err, "test");
    } finally {
      state.testAbort = null;
      show($("test-progress"), false);
      show($("test-cancel"), false);
      setMessage($("test-live"), "");
      $("test-panel").removeAttribute("aria-busy");
      setBusy(button, false);
      setBusy($("save"), false);
      if (document.activeElement === $("test-cancel") || document.activeElement === document.body) {
        $("test-result").hidden ? button.focus() : $("test-result").focus();
      }
    }
  }

  function cancelTest() {
    if (state.testAbort) { state.testAbort.abort(); }
  }

  async function copyReport(kind) {
    const last = state.lastReport;
    if (!last) { return; }
    const text = kind === "json" ? SmtpReport.asJson(last.report, last.context)
      : SmtpReport.asText(last.report, last.context);
    const say = (message) => setMessage($("copy-status"), message);
    if (await SmtpReport.copy(text, $("copy-box"), say)) {
      say(kind === "json" ? "Copied the report as JSON." : "Copied the report as text.");
    }
  }

  function handleFailure(err, action) {
    if (err instanceof SessionEnded) {
      // session.js keeps the form and signs in again in place, when there is a form.
      if (!keep.interrupted(action || null)) {
        showSignIn("Your session has ended. Sign in again.");
      }
      return;
    }
    setMessage($("form-error"), "Something went wrong in the page: " + err.message);
  }

  // ---- start -------------------------------------------------------------------------

  function wire() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => { keep.signOut().catch(handleFailure); });
    $("settings-form").addEventListener("submit", save);
    $("settings-form").addEventListener("input", updateSections);
    $("settings-form").addEventListener("change", updateSections);
    // oauth-credential.js: a certificate saved or removed changes what the form needs.
    document.addEventListener("smtp-oauth-credential", updateSections);
    $("test-open").addEventListener("click", openTest);
    $("test-close").addEventListener("click", closeTest);
    $("test-form").addEventListener("submit", runTest);
    // issue 16 (page-truth): cancel, copy, the encryption choice
    $("test-cancel").addEventListener("click", cancelTest);
    $("copy-text").addEventListener("click", () => { copyReport("text"); });
    $("copy-json").addEventListener("click", () => { copyReport("json"); });
    document.querySelectorAll('input[name="tls"]').forEach((radio) => {
      radio.addEventListener("change", () => { SmtpTls.chosen(); updateSections(); });
    });
    $("port").addEventListener("input", () => { SmtpTls.portChanged(); });
    $("add-header").addEventListener("click", () => {
      addHeaderRow("", "").querySelector("input").focus();
    });
    document.querySelectorAll(".secret").forEach((block) => {
      const kind = block.dataset.secret;
      const input = block.querySelector("input");
      block.querySelector(".secret-change").addEventListener("click", () => {
        state.secrets[kind].changing = true;
        updateSections();
        input.focus();
      });
      block.querySelector(".secret-keep").addEventListener("click", () => {
        state.secrets[kind].changing = false;
        input.value = "";
        fieldError(input.id, "");
        updateSections();
        const change = block.querySelector(".secret-change");
        if (!change.closest("[hidden]")) { change.focus(); }
      });
    });
  }

  async function start() {
    keep.attach({ state, call, apiCall, apiBase: API_BASE, profileBody, fillForm,
                  updateSections, showSignIn });
    wire();
    try {
      if (await keep.finishPendingSignOut()) { return; }
      const result = await call("GET", SESSION_URL);
      if (result.status === 200 && result.json) {
        await showSettings(result.json);
      } else {
        showSignIn("");
      }
    } catch (err) {
      handleFailure(err);
    }
  }

  start();
})();
