// smtp-profile admin page: keeping the user's work (issue 16, items 1, 4, 6, 8).
// The session's countdown and "Stay signed in", signing in again without losing the
// form, the unsaved-changes guard, the 412 conflict view, a sign-out that is only
// reported when the server confirmed it, and the first-use note.
// app.js calls these through window.SmtpKeep and hands over its helpers with attach().
// Nothing typed is ever written to localStorage or sessionStorage: the form stays in the
// page (hidden while signing in again) and nowhere else.
"use strict";

window.SmtpKeep = (function () {
  const SESSION_URL = "/web/session";
  const MODIFY = "/system_settings/modify/";
  // A non-secret flag: a sign-out the server has not confirmed yet. While it is set, the
  // page finishes the sign-out instead of resuming the session the cookie still names.
  const SIGN_OUT_PENDING = "smtp-profile.sign-out-pending";
  const EMAIL_KEY = "smtp-profile.user-email";
  const WARN_BEFORE_MS = 2 * 60 * 1000;
  const PING_EVERY_MS = 60 * 1000;
  const AUTH_NAMES = { 0: "Anonymous", 2: "Basic Authentication", 3: "OAuth Client Credentials" };
  const FIELD_LABELS = {
    Host: "Host", Port: "Port", UseSSL: "Encryption", RelayAuthenticationType: "Relay authentication",
    SenderName: "Sender Name", SenderAccount: "Sender Account", RelayUsername: "Username",
    ClientId: "Client ID", TokenEndpoint: "Token Endpoint", Scope: "Scope",
    Audience: "Audience", RequestHeaders: "Request headers",
  };

  const $ = (id) => document.getElementById(id);
  let page = null;         // app.js's helpers, see attach()
  let timers = [];
  let expiresAt = 0;       // by the page's clock, from the server's ExpiresInSeconds
  let endsBy = 0;          // the longest the session can last, by the page's clock
  let lastPing = 0;
  let activeSincePing = false;
  let resumeAfter = null;  // {user, action} while the sign-in form stands in for the form
  let focusBeforeWarning = null;
  let conflictServer = null;

  function attach(helpers) { page = helpers; }

  function setMessage(el, text) {
    el.textContent = text || "";
    el.hidden = !text;
  }

  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function minutesWord(ms) {
    const minutes = Math.max(1, Math.round(ms / 60000));
    return minutes === 1 ? "about a minute" : "about " + minutes + " minutes";
  }

  // ---- the session's countdown -------------------------------------------------------

  function stopTimers() {
    timers.forEach((t) => clearTimeout(t));
    timers = [];
  }

  function hideWarning() {
    $("session-warning").hidden = true;
  }

  // Called with every session answer (sign-in, GET /web/session).
  function track(session) {
    stopTimers();
    if (!session || typeof session.ExpiresInSeconds !== "number") { return; }  // Basic
    const now = Date.now();
    lastPing = now;
    activeSincePing = false;
    expiresAt = now + session.ExpiresInSeconds * 1000;
    const longest = session.MaxExpiresAt && session.ExpiresAt
      ? Date.parse(session.MaxExpiresAt) - Date.parse(session.ExpiresAt) : 0;
    endsBy = expiresAt + Math.max(0, longest);
    if (session.Email) {  // kept for the tab, with whose address it is (not a secret)
      sessionStorage.setItem(EMAIL_KEY, JSON.stringify({ user: session.UserName,
                                                         email: session.Email }));
    }
    const left = expiresAt - now;
    const lead = Math.min(WARN_BEFORE_MS, left / 2);
    timers.push(setTimeout(beforeWarning, Math.max(0, left - lead)));
    timers.push(setTimeout(atTheEnd, Math.max(0, left)));
    if (!$("session-warning").hidden) {
      hideWarning();
      restoreFocus();
    }
  }

  function stop() {
    stopTimers();
    hideWarning();
    expiresAt = 0;
  }

  function restoreFocus() {
    const target = focusBeforeWarning;
    focusBeforeWarning = null;
    if (target && document.contains(target) && !target.closest("[hidden]")) {
      target.focus();
    } else if (document.activeElement === document.body) {
      $("main").focus();
    }
  }

  // GET /web/session: like any use it extends the session on the server.
  async function ping() {
    const result = await page.call("GET", SESSION_URL);
    if (result.status === 200 && result.json) {
      page.state.session = result.json;
      track(result.json);
      return "live";
    }
    return result.status === 401 ? "ended" : "unknown";
  }

  async function beforeWarning() {
    // Someone working on the page is not interrupted: the session is extended instead.
    if (activeSincePing && expiresAt < endsBy) {
      if ((await ping()) === "live" && expiresAt - Date.now() > WARN_BEFORE_MS / 2) {
        return;
      }
    }
    showWarning();
  }

  function showWarning() {
    const left = expiresAt - Date.now();
    const atMost = expiresAt >= endsBy - 1000;
    $("session-warning-text").textContent = left <= 0
      ? "Your sign-in may have ended: the service cannot be reached to check. What you "
        + "typed stays in the form."
      : atMost
      ? "Your sign-in reaches its longest allowed time at " + clockTime(expiresAt)
        + " (in " + minutesWord(left) + ") and cannot be extended. Save your changes before "
        + "then. Afterwards you sign in again; what you typed stays in the form."
      : "Your sign-in ends at " + clockTime(expiresAt) + " (in " + minutesWord(left)
        + ") because nothing has been done on this page for a while.";
    $("session-stay").hidden = atMost;
    if (!$("session-warning").hidden) { return; }
    focusBeforeWarning = document.activeElement;
    $("session-warning").hidden = false;
  }

  async function stay() {
    const outcome = await ping();
    if (outcome === "ended") { interrupted(null); return; }
    if (outcome !== "live") {
      $("session-warning-text").textContent = "The service cannot be reached, so the "
        + "sign-in could not be extended. It ends at " + clockTime(expiresAt) + ".";
    }
  }

  async function atTheEnd() {
    // Ask the server rather than trust the page's clock (another tab may have used it).
    const outcome = await ping();
    if (outcome === "live" && expiresAt > Date.now()) { return; }
    if (outcome !== "unknown") { interrupted(null); return; }
    showWarning();
  }

  function noteActivity() {
    if (!expiresAt || !page || !page.state.session) { return; }
    activeSincePing = true;
    if (Date.now() - lastPing >= PING_EVERY_MS && expiresAt < endsBy) {
      lastPing = Date.now();
      ping().catch(() => {});
    }
  }

  // ---- signing in again without losing the form --------------------------------------

  // The session ended (a 401, or the countdown ran out). The settings stay in the page,
  // hidden; the sign-in form asks for the password; resume() shows them again.
  function interrupted(action) {
    if (!page.state.session || !page.state.loaded) { return false; }
    resumeAfter = { user: page.state.session.UserName, action };
    stop();
    page.state.session = null;
    $("settings-view").hidden = true;
    $("signed-in-as").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in-view").hidden = false;
    setMessage($("sign-in-error"), "");
    const what = action === "save" ? " Nothing was saved."
      : action === "test" ? " The test did not run." : "";
    setMessage($("sign-in-status"), "Your session has ended." + what + " Sign in again to "
      + "continue: what you typed stays in the form.");
    $("sign-in-user").value = resumeAfter.user;
    $("sign-in-password").value = "";
    $("sign-in-password").focus();
    return true;
  }

  // After a sign-in: true if the form was kept and shown again.
  function resume(session) {
    localStorage.removeItem(SIGN_OUT_PENDING);  // the sign-in replaced the old session
    hideSignOutFailure();
    const pending = resumeAfter;
    resumeAfter = null;
    if (!pending || !page.state.loaded
        || session.UserName.toLowerCase() !== pending.user.toLowerCase()
        || !session.Permissions.includes(MODIFY)) {
      return false;
    }
    page.state.session = session;
    $("sign-in-view").hidden = true;
    $("signed-in-as").textContent = "Signed in as " + session.UserName;
    $("signed-in-as").hidden = false;
    $("sign-out").hidden = false;
    $("settings-view").hidden = false;
    track(session);
    const button = pending.action === "test" ? $("test-run") : $("save");
    const again = pending.action === "test" ? "Press Send test e-mail to run the test."
      : pending.action === "save" ? "Press Save to save them."
        : "Save them when you are ready.";
    setMessage($("form-status"), "Signed in again. Your changes are still in the form. "
      + again);
    if (pending.action === "test") { $("test-panel").hidden = false; }
    if (!button.closest("[hidden]")) { button.focus(); } else { $("main").focus(); }
    return true;
  }

  // ---- unsaved changes ---------------------------------------------------------------

  function secretText(value) {
    return value && typeof value.SecretValue === "string" ? value.SecretValue : "";
  }

  // The fields a person edits, as comparable text; only those of the chosen auth type.
  function flat(profile) {
    const type = Number(profile.RelayAuthenticationType);
    const out = {
      Host: (profile.Host || "").trim(),
      Port: profile.Port === null || profile.Port === undefined ? "" : String(profile.Port),
      UseSSL: profile.UseSSL ? "yes" : "no",
      RelayAuthenticationType: AUTH_NAMES[type] || String(type),
      SenderName: (profile.SenderName || "").trim(),
      SenderAccount: (profile.SenderAccount || "").trim(),
    };
    if (type === 2) { out.RelayUsername = secretText(profile.RelayUsername); }
    if (type === 3) {
      out.ClientId = secretText(profile.ClientId);
      out.TokenEndpoint = profile.TokenEndpoint || "";
      out.Scope = profile.Scope || "";
      out.Audience = profile.Audience || "";
      out.RequestHeaders = (profile.RequestHeaders || [])
        .map((h) => h.Name + ": " + h.Value).join("\n");
    }
    return out;
  }

  function formBody() {
    const body = page.profileBody();
    const port = $("port").value.trim();
    body.Port = port === "" ? null : Number(port);
    return body;
  }

  function differences(a, b) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return Array.from(keys).filter((k) => (a[k] || "") !== (b[k] || ""));
  }

  function typedSecret() {
    return Boolean($("relay-password").value || $("client-secret").value);
  }

  function isDirty() {
    if (!page || !page.state.loaded || $("settings-form").hidden) { return false; }
    return typedSecret() || differences(flat(page.state.loaded), flat(formBody())).length > 0;
  }

  function guardUnload(event) {
    if (!isDirty()) { return undefined; }
    event.preventDefault();
    event.returnValue = "";  // older Chromium wants it set to show the prompt
    return "";
  }

  // ---- 412: someone else saved first -------------------------------------------------

  function show(value) { return value === "" || value === undefined ? "(empty)" : value; }

  async function conflict() {
    const result = await page.apiCall("GET", page.apiBase + "/SMTP");
    if (!result.ok || !result.json) {
      setMessage($("form-error"), "Someone else changed these settings after you loaded "
        + "them; nothing was saved, and their version could not be read: " + result.message);
      $("form-error").focus();
      return;
    }
    conflictServer = { profile: result.json, etag: result.headers.get("ETag") };
    const base = flat(page.state.loaded);
    const theirs = flat(result.json);
    const mine = flat(formBody());
    const changed = differences(base, theirs);
    const rows = changed.length ? changed : differences(base, mine);
    const table = $("conflict-table");
    table.querySelectorAll("tr.diff").forEach((tr) => tr.remove());
    rows.forEach((key) => {
      const tr = document.createElement("tr");
      tr.className = "diff";
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = FIELD_LABELS[key] || key;
      tr.append(th);
      [base[key], theirs[key], mine[key]].forEach((value) => {
        const td = document.createElement("td");
        td.textContent = show(value);
        tr.append(td);
      });
      table.append(tr);
    });
    const clash = changed.filter((k) => (mine[k] || "") !== (base[k] || "")
      && (mine[k] || "") !== (theirs[k] || ""));
    $("conflict-summary").textContent = (changed.length
      ? "They changed " + changed.map((k) => FIELD_LABELS[k] || k).join(", ") + "."
      : "They saved without changing a field shown here (a stored secret may have "
        + "changed).")
      + (clash.length ? " You changed " + clash.map((k) => FIELD_LABELS[k] || k).join(", ")
        + " too: keeping your changes keeps your value there." : "")
      + " Nothing of yours was saved yet.";
    $("conflict").hidden = false;
    $("conflict-title").focus();
  }

  // Re-base: the server's version, with the fields the user changed set to theirs.
  function keepMine() {
    const server = conflictServer;
    if (!server) { return; }
    const base = flat(page.state.loaded);
    const body = formBody();
    const mine = flat(body);
    const merged = { ...server.profile };
    differences(base, mine).forEach((key) => {
      if (key in body) { merged[key] = body[key]; }
    });
    if (differences(base, mine).includes("RelayAuthenticationType")) {
      ["RelayUsername", "ClientId", "TokenEndpoint", "Scope", "Audience", "RequestHeaders"]
        .forEach((key) => { merged[key] = body[key]; });
    }
    const typed = { password: $("relay-password").value, secret: $("client-secret").value };
    const changing = {
      password: page.state.secrets.password && page.state.secrets.password.changing,
      secret: page.state.secrets["client-secret"]
        && page.state.secrets["client-secret"].changing,
    };
    page.fillForm(merged);
    // The stored version is the server's; the form shows the merge on top of it.
    page.state.loaded = server.profile;
    page.state.etag = server.etag;
    page.state.secrets.password = { stored: server.profile.RelayAuthenticationType === 2,
                                    changing: Boolean(changing.password) };
    page.state.secrets["client-secret"] = {
      stored: server.profile.RelayAuthenticationType === 3, changing: Boolean(changing.secret) };
    $("relay-password").value = typed.password;
    $("client-secret").value = typed.secret;
    page.updateSections();
    closeConflict();
    setMessage($("form-error"), "");
    setMessage($("form-status"), "Your changes now sit on top of the version saved by the "
      + "other person. Check the form, then press Save.");
    $("save").focus();
  }

  function takeTheirs() {
    const server = conflictServer;
    if (!server) { return; }
    page.fillForm(server.profile);
    page.state.etag = server.etag;
    closeConflict();
    setMessage($("form-error"), "");
    setMessage($("form-status"), "The form shows the version now saved; your changes "
      + "were discarded.");
    $("host").focus();
  }

  function closeConflict() {
    conflictServer = null;
    $("conflict").hidden = true;
  }

  // ---- sign-out that signs out -------------------------------------------------------

  function hideSignOutFailure() { $("sign-out-failed").hidden = true; }

  function signOutFailed(result) {
    const why = result.status === 0 ? "the service cannot be reached"
      : "the service answered " + result.status;
    $("sign-out-failed-text").textContent = "Could not sign out: " + why + ". Your "
      + "session may still be valid on the service" + (expiresAt
      ? " until " + clockTime(expiresAt) : "") + ". This page has cleared the settings it "
      + "showed, and this browser finishes signing out as soon as the service answers: "
      + "press Try again, or reload the page later. On a shared computer, close the browser.";
    $("sign-out-failed").hidden = false;
  }

  async function sendSignOut() {
    localStorage.setItem(SIGN_OUT_PENDING, "1");
    const result = await page.call("DELETE", SESSION_URL);
    if (result.status === 204) {
      localStorage.removeItem(SIGN_OUT_PENDING);
      hideSignOutFailure();
      return true;
    }
    signOutFailed(result);
    return false;
  }

  async function signOut() {
    if (isDirty() && !window.confirm("You have changes that are not saved. Sign out and "
                                     + "lose them?")) {
      return;
    }
    const done = await sendSignOut();
    resumeAfter = null;
    closeConflict();
    forgetUser();
    page.showSignIn(done ? "You have signed out." : "");
    if (!done) { $("sign-out-retry").focus(); }
  }

  async function retrySignOut() {
    $("sign-out-retry").disabled = true;
    try {
      if (await sendSignOut()) {
        setMessage($("sign-in-status"), "You have signed out.");
        $("sign-in-user").focus();
      } else {
        $("sign-out-retry").focus();
      }
    } finally {
      $("sign-out-retry").disabled = false;
    }
  }

  // At start: a sign-out the server never confirmed is finished first. True if the
  // page must not resume the session.
  async function finishPendingSignOut() {
    if (!localStorage.getItem(SIGN_OUT_PENDING)) { return false; }
    const done = await sendSignOut();
    page.showSignIn(done ? "You have signed out (the sign-out that could not reach the "
      + "service earlier is now done)." : "");
    if (!done) { $("sign-out-retry").focus(); }
    return true;
  }

  // ---- first use and the test recipient ----------------------------------------------

  function profileShown(profile) {
    const empty = !profile || !profile.Host;
    const canModify = Boolean(page.state.session
      && page.state.session.Permissions.includes(MODIFY));
    $("first-use-text").textContent = canModify
      ? "Mail is not configured yet: no e-mail is sent until a relay is saved here. Enter "
        + "the relay's Host and Port, a Sender Name and Sender Account (and the relay's "
        + "authentication), press Save, then Test to send yourself a test e-mail."
      : "Mail is not configured yet: no e-mail is sent until someone with the "
        + "permission to modify system settings enters a relay here.";
    $("first-use").hidden = !empty;
  }

  // The signed-in user's own address, where the service knows one.
  function defaultRecipient() {
    const session = page && page.state.session;
    if (!session) { return ""; }
    if (session.Email) { return session.Email; }
    try {
      const known = JSON.parse(sessionStorage.getItem(EMAIL_KEY) || "null");
      return known && known.user === session.UserName ? known.email : "";
    } catch (err) {
      return "";
    }
  }

  function forgetUser() {
    sessionStorage.removeItem(EMAIL_KEY);
  }

  // ---- wiring ------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    window.addEventListener("beforeunload", guardUnload);
    ["input", "keydown", "pointerdown"].forEach((type) => {
      document.addEventListener(type, noteActivity, { capture: true, passive: true });
    });
    $("session-stay").addEventListener("click", () => { stay().catch(() => {}); });
    $("conflict-keep").addEventListener("click", keepMine);
    $("conflict-theirs").addEventListener("click", takeTheirs);
    $("sign-out-retry").addEventListener("click", () => { retrySignOut().catch(() => {}); });
  });

  return { attach, track, stop, interrupted, resume, isDirty, conflict, signOut,
           finishPendingSignOut, profileShown, defaultRecipient, forgetUser };
})();
