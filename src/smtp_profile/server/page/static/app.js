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
  const MAILBOX = /^[^\s@]+@[^\s@]+$/;
  const STEP_LABELS = {
    resolve: "resolve", connect: "connect", banner: "banner", ehlo: "EHLO",
    starttls: "STARTTLS", tls: "TLS", certificate: "certificate", auth: "AUTH",
    token: "token", mail_from: "MAIL FROM", rcpt_to: "RCPT TO", data: "DATA", quit: "QUIT",
  };
  // Keyfactor field name -> input id, to put the server's messages next to their field.
  const FIELD_IDS = {
    Host: "host", Port: "port", SenderName: "sender-name", SenderAccount: "sender-account",
    UseSSL: "use-ssl", RelayAuthenticationType: "auth-type", RelayUsername: "relay-username",
    RelayPassword: "relay-password", ClientId: "client-id", ClientSecret: "client-secret",
    TokenEndpoint: "token-endpoint", Scope: "scope", Audience: "audience",
    RequestHeaders: "request-headers", TestRecipient: "test-recipient",
  };

  const $ = (id) => document.getElementById(id);

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

  function setMessage(el, text) {
    el.textContent = text || "";
    show(el, Boolean(text));
  }

  function fieldError(id, text) {
    const input = $(id);
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
    if (first) { first.focus(); }
  }

  // ---- views -------------------------------------------------------------------------

  function showSignIn(notice) {
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
    $("settings-form").querySelectorAll("fieldset").forEach((fs) => { fs.disabled = !canModify; });
    if (!session.Permissions.includes(READ) && !canModify) {
      show($("settings-form"), false);
    }
    await loadProfile();
  }

  async function loadProfile() {
    const result = await apiCall("GET", API_BASE + "/SMTP");
    if (!result.ok) {
      show($("settings-form"), false);
      setMessage($("form-error"), result.message);
      return;
    }
    show($("settings-form"), true);
    state.etag = result.headers.get("ETag");
    fillForm(result.json);
    // Not awaited: the form is ready without it, and focus must not move once a user
    // has started working on the page.
    loadStatus().catch(() => { show($("last-test"), false); });
  }

  // The relay's trust mode and the last test of the stored profile (an extension route;
  // a server without it simply shows neither).
  async function loadStatus() {
    const result = await apiCall("GET", API_BASE + "/SMTP/Status");
    const status = result.ok ? result.json : null;
    show($("insecure-warning"), Boolean(status && status.Trust === "insecure"));
    const last = status && status.LastTest;
    if (!last) {
      show($("last-test"), Boolean(status));
      $("last-test").textContent = "The saved settings have not been tested yet.";
      return;
    }
    const when = String(last.TestedAt).slice(0, 19).replace("T", " ") + " UTC";
    const outcome = last.Success ? "passed"
      : "failed at step " + (STEP_LABELS[last.FailedStep] || last.FailedStep);
    const stale = last.Current ? "" : " The settings have changed since.";
    $("last-test").textContent = "Last test of the saved settings: " + when + " by "
      + last.TestedBy + ", " + outcome + "." + stale;
    show($("last-test"), true);
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
    $("use-ssl").checked = Boolean(profile.UseSSL);
    $("auth-type").value = String(profile.RelayAuthenticationType);
    $("relay-username").value = secretText(profile.RelayUsername);
    $("client-id").value = secretText(profile.ClientId);
    $("token-endpoint").value = profile.TokenEndpoint || "";
    $("scope").value = profile.Scope || "";
    $("audience").value = profile.Audience || "";
    $("request-headers").replaceChildren();
    (profile.RequestHeaders || []).forEach((h) => addHeaderRow(h.Name, h.Value));
    // Secrets are never returned. A saved Basic profile always has a password (the
    // server refuses one without), and likewise an OAuth profile a client secret.
    state.secrets.password = { stored: profile.RelayAuthenticationType === AUTH_BASIC,
                               changing: false };
    state.secrets["client-secret"] = { stored: profile.RelayAuthenticationType === AUTH_OAUTH,
                                       changing: false };
    forgetTypedSecrets();
    clearErrors($("settings-form"));
    updateSections();
    if (window.SmtpProfilePam) { window.SmtpProfilePam.loaded(profile); }  // pam.js
  }

  function forgetTypedSecrets() {
    $("relay-password").value = "";
    $("client-secret").value = "";
  }

  function authType() { return Number($("auth-type").value); }

  // The fields a stored password is bound to on the server (it is only ever sent to
  // the destination it was saved for).
  function passwordBindingChanges() {
    const loaded = state.loaded;
    if (!loaded) { return []; }
    const changed = [];
    if ($("host").value.trim().toLowerCase() !== (loaded.Host || "").toLowerCase()) {
      changed.push("Host");
    }
    if (Number($("port").value) !== loaded.Port) { changed.push("Port"); }
    if ($("use-ssl").checked !== Boolean(loaded.UseSSL)) { changed.push("Use SSL"); }
    if (authType() !== loaded.RelayAuthenticationType) {
      changed.push("Relay authentication");
    }
    if ($("relay-username").value.trim() !== secretText(loaded.RelayUsername)) {
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
    return kind === "password" && passwordBindingChanges().length > 0;
  }

  function updateSecretBlock(kind, inputId) {
    const block = document.querySelector('.secret[data-secret="' + kind + '"]');
    const secret = state.secrets[kind] || { stored: false, changing: false };
    const needed = secretNeeded(kind);
    const rebind = kind === "password" && secret.stored && !secret.changing
      && passwordBindingChanges().length > 0;
    show(block.querySelector(".secret-stored"), !needed);
    show(block.querySelector(".secret-entry"), needed);
    show(block.querySelector(".secret-keep"), secret.stored && secret.changing);
    const hint = $(inputId + "-hint");
    if (rebind) {
      hint.textContent = joinNames(passwordBindingChanges()) + " changed since the "
        + "password was saved. The stored password is only sent to the server it was "
        + "saved for, so type it again.";
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
      UseSSL: $("use-ssl").checked,
      RelayAuthenticationType: type,
      SenderName: $("sender-name").value.trim(),
      SenderAccount: $("sender-account").value.trim(),
      RelayUsername: null, RelayPassword: null,
      ClientId: null, ClientSecret: null, TokenEndpoint: null, Scope: null, Audience: null,
      RequestHeaders: null,
    };
    if (type === AUTH_BASIC) {
      body.RelayUsername = { SecretValue: $("relay-username").value.trim() };
      if (secretNeeded("password")) {
        body.RelayPassword = { SecretValue: $("relay-password").value };
      }
    } else if (type === AUTH_OAUTH) {
      body.ClientId = { SecretValue: $("client-id").value.trim() };
      if (secretNeeded("client-secret")) {
        body.ClientSecret = { SecretValue: $("client-secret").value };
      }
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
    if (!host) { fail("host", "Host is required."); }
    else if (/\s/.test(host)) { fail("host", "Host must not contain spaces."); }
    const portText = $("port").value.trim();
    const port = Number(portText);
    if (!portText) { fail("port", "Port is required."); }
    else if (!Number.isInteger(port) || port < 1 || port > 65535) {
      fail("port", "Port must be a whole number between 1 and 65535.");
    }
    if (!$("sender-name").value.trim()) { fail("sender-name", "Sender Name is required."); }
    const sender = $("sender-account").value.trim();
    if (!sender) { fail("sender-account", "Sender Account is required."); }
    else if (!MAILBOX.test(sender)) {
      fail("sender-account", "Sender Account must be an e-mail address, like name@example.com.");
    }
    const type = authType();
    if (type === AUTH_BASIC) {
      if (!$("relay-username").value.trim()) {
        fail("relay-username", "Username is required for Basic Authentication.");
      }
      if (secretNeeded("password") && !$("relay-password").value) {
        fail("relay-password", "Password is required for Basic Authentication.");
      }
    } else if (type === AUTH_OAUTH) {
      if (!$("client-id").value.trim()) { fail("client-id", "Client ID is required."); }
      if (secretNeeded("client-secret") && !$("client-secret").value) {
        fail("client-secret", "Client Secret is required.");
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

  // Puts each part of a server message next to the field it names; the whole message
  // also goes to the top, where it is announced.
  function showServerError(result, topElement) {
    const parts = (result.message || "").split("; ");
    let placed = false;
    parts.forEach((part) => {
      const match = /^(\w+)/.exec(part);
      const id = match && FIELD_IDS[match[1]];
      const input = id && $(id);
      if (input && !input.closest("[hidden]")) {
        fieldError(id, part);
        placed = true;
      }
    });
    if (/^RelayPassword must be re-entered/.test(result.message)) {
      state.secrets.password.changing = true;
      updateSections();
      fieldError("relay-password", result.message);
    }
    setMessage(topElement, "The server did not accept this: " + result.message);
    if (placed) { focusFirstInvalid(document); } else { topElement.focus(); }
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
      await showSettings(result.json);
      $("main").focus();
    } catch (err) {
      handleFailure(err);
    } finally {
      $("sign-in-submit").disabled = false;
    }
  }

  async function signOut() {
    await call("DELETE", SESSION_URL);
    showSignIn("You have signed out.");
  }

  async function save(event) {
    event.preventDefault();
    setMessage($("form-error"), "");
    setMessage($("form-status"), "");
    if (!validateForm()) {
      setMessage($("form-error"), "Please correct the marked fields.");
      focusFirstInvalid($("settings-form"));
      return;
    }
    $("save").disabled = true;
    try {
      const headers = state.etag ? { "If-Match": state.etag } : {};
      const result = await apiCall("PUT", API_BASE + "/SMTP", profileBody(), headers);
      if (result.status === 412) {
        setMessage($("form-error"), "Someone else changed these settings after you loaded "
          + "them; nothing was saved. Reload the page to see their version.");
        $("form-error").focus();
        return;
      }
      if (!result.ok) {
        showServerError(result, $("form-error"));
        return;
      }
      state.etag = result.headers.get("ETag");
      fillForm(result.json);
      setMessage($("form-status"), "Saved. The settings are in effect.");
    } catch (err) {
      handleFailure(err);
    } finally {
      $("save").disabled = false;
    }
  }

  function openTest() {
    show($("test-panel"), true);
    const remembered = sessionStorage.getItem(RECIPIENT_KEY);
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

  function renderOutcome(ok, headline, details) {
    const box = $("test-result");
    box.replaceChildren();
    box.className = "message " + (ok ? "success" : "error");
    box.append(el("h3", headline, ok ? "outcome-ok" : "outcome-failed"));
    details.forEach((node) => box.append(node));
    show(box, true);
    box.focus();
  }

  function detail(label, value) {
    const p = el("p", null, "test-detail");
    p.append(el("strong", label + ": "), el("span", value));
    return p;
  }

  // The detailed report of POST /SMTP/Diagnose: every step with its timing.
  function renderReport(report, recipient) {
    const failed = (report.Steps || []).find((s) => s.Status === "failed");
    const headline = report.Success ? "Test e-mail sent to " + recipient
      : "Test failed at step " + (STEP_LABELS[failed && failed.Name] || (failed && failed.Name)
        || "?");
    const details = [detail("Test id", report.TestId)];
    if (failed && failed.Message) { details.push(detail("What happened", failed.Message)); }
    if (failed && failed.ReplyCode) {
      details.push(detail("Server replied", failed.ReplyCode + " " + (failed.ReplyText || "")));
    }
    if (failed && failed.Hint) { details.push(detail("Hint", failed.Hint)); }
    const table = el("table", null, "steps");
    const head = el("tr");
    ["Step", "Result", "Time (ms)", "Server reply"].forEach((h) => {
      const th = el("th", h);
      th.scope = "col";
      head.append(th);
    });
    table.append(el("caption", "Steps of test " + report.TestId, "hint"), head);
    (report.Steps || []).forEach((step) => {
      const row = el("tr", null, "step-" + step.Status);
      row.append(el("td", STEP_LABELS[step.Name] || step.Name), el("td", step.Status),
                 el("td", step.Status === "skipped" ? "" : Math.round(step.DurationMs), "num"),
                 el("td", step.ReplyCode ? step.ReplyCode + " " + (step.ReplyText || "") : ""));
      table.append(row);
    });
    const wrap = el("div", null, "table-wrap");
    wrap.append(table);
    details.push(wrap);
    renderOutcome(Boolean(report.Success), headline, details);
  }

  // POST /SMTP/Test's answer: success with the X-Test-Id header, or an error body whose
  // Message names the failed step.
  function renderTestAnswer(result, recipient) {
    const testId = result.headers.get("X-Test-Id");
    if (result.ok) {
      renderOutcome(true, "Test e-mail sent to " + recipient,
                    [detail("Test id", testId || "(none)")]);
      return;
    }
    const step = /failed at step '([^']+)'/.exec(result.message);
    const headline = step ? "Test failed at step " + step[1] : "The test could not run";
    const details = [];
    if (testId) { details.push(detail("Test id", testId)); }
    details.push(detail(step ? "What the server said" : "Reason", result.message));
    renderOutcome(false, headline, details);
  }

  async function runTest(event) {
    event.preventDefault();
    setMessage($("form-error"), "");
    setMessage($("form-status"), "");
    show($("test-result"), false);
    const formOk = validateForm();
    const recipient = $("test-recipient").value.trim();
    fieldError("test-recipient", "");
    let recipientOk = true;
    if (!recipient) {
      fieldError("test-recipient", "Recipient is required.");
      recipientOk = false;
    } else if (!MAILBOX.test(recipient)) {
      fieldError("test-recipient", "Recipient must be an e-mail address.");
      recipientOk = false;
    }
    if (!formOk || !recipientOk) {
      if (!formOk) { setMessage($("form-error"), "Please correct the marked fields."); }
      focusFirstInvalid(document);
      return;
    }
    sessionStorage.setItem(RECIPIENT_KEY, recipient);
    const body = { ...profileBody(), TestRecipient: recipient };
    $("test-run").disabled = true;
    $("save").disabled = true;
    $("test-progress-text").textContent = "Testing " + body.Host + ":" + body.Port
      + ", sending to " + recipient + "...";
    show($("test-progress"), true);
    $("test-panel").setAttribute("aria-busy", "true");
    try {
      let result = await apiCall("POST", API_BASE + "/SMTP/Diagnose", { ...body, Mode: "send" });
      if (result.status === 404) {
        // This server has no step-by-step report: use the Keyfactor Test route.
        result = await apiCall("POST", API_BASE + "/SMTP/Test", body);
        if (result.ok || (result.json && result.json.ErrorCode === "0xA0110008")) {
          renderTestAnswer(result, recipient);
          return;
        }
      } else if (result.ok && result.json) {
        renderReport(result.json, recipient);
        loadStatus().catch(() => { show($("last-test"), false); });
        return;
      }
      showServerError(result, $("form-error"));
      renderOutcome(false, "The test could not run", [detail("Reason", result.message)]);
    } catch (err) {
      handleFailure(err);
    } finally {
      show($("test-progress"), false);
      $("test-panel").removeAttribute("aria-busy");
      $("test-run").disabled = false;
      $("save").disabled = false;
    }
  }

  function handleFailure(err) {
    if (err instanceof SessionEnded) {
      showSignIn("Your session has ended. Sign in again.");
      return;
    }
    setMessage($("form-error"), "Something went wrong in the page: " + err.message);
  }

  // ---- start -------------------------------------------------------------------------

  function wire() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => { signOut().catch(handleFailure); });
    $("settings-form").addEventListener("submit", save);
    $("settings-form").addEventListener("input", updateSections);
    $("settings-form").addEventListener("change", updateSections);
    $("test-open").addEventListener("click", openTest);
    $("test-close").addEventListener("click", closeTest);
    $("test-form").addEventListener("submit", runTest);
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
    wire();
    try {
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
