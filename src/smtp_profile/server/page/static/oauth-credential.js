// smtp-profile admin page: the OAuth certificate credential (an extension of type 3).
// Its own file, hooked to the page only by the "oauth-credential" container in the OAuth
// section: it shows the stored certificate (never a key: the API has none to give), takes
// a new one as PEM files or a PKCS#12 file with its password, records the client secret's
// expiry, and removes the credential. Server data goes into the page as text only.
"use strict";

(function () {
  const API_BASE = document.querySelector('meta[name="smtp-profile-api-base"]').content;
  const ROUTE = API_BASE + "/SMTP/OAuth/Credential";
  const MODIFY = "/system_settings/modify/";
  const root = document.getElementById("oauth-credential");
  if (!root) { return; }
  const section = root.closest("fieldset") || root;
  let etag = null;
  let loading = false;
  let stored = null;  // the credential as the server last described it

  // ---- where the stored certificate signs (app.js asks, to know whether the form
  // needs a client secret) --------------------------------------------------------------

  // The parts of a token endpoint that decide where it is (as the server compares them:
  // case of scheme and host, a default port written out, an empty path do not count).
  function endpoint(value) {
    try {
      const url = new URL(value);
      const port = url.port || (url.protocol === "https:" ? "443" : "80");
      return [url.protocol, url.hostname, port, url.pathname || "/", url.search].join(" ");
    } catch (err) {
      return null;
    }
  }

  function sameHost(a, b) {
    const name = (value) => (value || "").trim().toLowerCase().replace(/\.$/, "");
    return name(a) !== "" && name(a) === name(b);
  }

  function signsFor(binding) {
    if (!stored || !stored.CertificateInfo) { return false; }
    const here = endpoint(binding.TokenEndpoint);
    return here !== null && here === endpoint(stored.TokenEndpoint)
      && binding.ClientId === stored.ClientId && sameHost(binding.Host, stored.Host)
      && binding.Port === stored.Port && binding.UseSSL === Boolean(stored.UseSSL);
  }

  window.SmtpOAuthCredential = { signsFor };

  // The form's Token Endpoint, Client ID and relay: a new certificate is bound to them.
  function formBinding() {
    const value = (id) => { const input = document.getElementById(id);
                            return input ? input.value.trim() : ""; };
    return { TokenEndpoint: value("token-endpoint"), ClientId: value("client-id"),
             Host: value("host"), Port: Number(value("port")),
             UseSSL: Boolean(window.SmtpTls && window.SmtpTls.useSsl()) };
  }

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function field(id, label, input, hint) {
    const wrapper = el("div", { class: "field" });
    wrapper.append(el("label", { for: id }, label), input);
    if (hint) { wrapper.append(el("p", { class: "hint", id: id + "-hint" }, hint)); }
    return wrapper;
  }

  // ---- the form, built once --------------------------------------------------------

  root.classList.add("oauth-credential");
  root.append(el("p", { class: "group-title", id: "oauth-credential-title" },
                 "Certificate credential (instead of the client secret)"));
  const summary = el("div", { id: "oauth-credential-summary", "aria-live": "polite" });
  root.append(summary);
  const certFile = el("input", { id: "oauth-certificate-file", type: "file",
                                 accept: ".pem,.crt,.cer" });
  const keyFile = el("input", { id: "oauth-key-file", type: "file", accept: ".pem,.key" });
  const p12File = el("input", { id: "oauth-pkcs12-file", type: "file", accept: ".pfx,.p12" });
  const password = el("input", { id: "oauth-pkcs12-password", type: "password",
                                 autocomplete: "new-password" });
  const expires = el("input", { id: "oauth-client-secret-expires", type: "date" });
  const grid = el("div", { class: "grid" });
  grid.append(
    field("oauth-certificate-file", "Certificate (PEM)", certFile,
          "The certificate uploaded to the app registration, then any intermediates."),
    field("oauth-key-file", "Private key (PEM)", keyFile, "Never shown again once saved."),
    field("oauth-pkcs12-file", "Or PKCS#12 (.pfx)", p12File, ""),
    field("oauth-pkcs12-password", "PKCS#12 or key password", password, ""),
    field("oauth-client-secret-expires", "Client secret expires", expires,
          "As the identity provider shows it; warnings come 30, 14 and 3 days before."));
  root.append(grid);
  const error = el("p", { class: "message error", id: "oauth-credential-error", role: "alert" });
  error.hidden = true;
  const status = el("p", { class: "message", id: "oauth-credential-status", role: "status" });
  status.hidden = true;
  const actions = el("div", { class: "actions" });
  const save = el("button", { type: "button", id: "oauth-credential-save" },
                  "Save certificate credential");
  const remove = el("button", { type: "button", class: "secondary",
                                id: "oauth-credential-remove" }, "Remove");
  actions.append(save, remove);
  root.append(error, status, actions);

  function say(node, text) { node.textContent = text || ""; node.hidden = !text; }

  // ---- talking to the server -------------------------------------------------------

  async function call(method, body) {
    const headers = { "x-keyfactor-requested-with": "XMLHttpRequest",
                      "x-keyfactor-api-version": "2", "Accept": "application/json" };
    if (etag && method !== "GET") { headers["If-Match"] = etag; }
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(ROUTE, init);
    let json = null;
    try { json = await response.json(); } catch (err) { json = null; }
    if (response.ok) { etag = response.headers.get("ETag"); }
    return { ok: response.ok, status: response.status, json };
  }

  function render(body) {
    summary.replaceChildren();
    const info = body.CertificateInfo;
    if (!info) {
      summary.append(el("p", { class: "stored-note" },
                        "No certificate is stored: the client secret is used."));
    } else {
      const list = el("dl", { class: "oauth-credential-facts" });
      [["Certificate", info.Subject], ["Thumbprint", info.Thumbprint],
       ["x5t#S256", info.X5tS256], ["Expires", info.NotAfter],
       ["Key", info.KeyType + ", " + info.Algorithm],
       ["Bound to", body.TokenEndpoint + " (client " + body.ClientId + "), relay " +
                    body.Host + ":" + body.Port],
       ["In use", body.InUse ? "yes" : "no: the profile's endpoint, client or relay differ"],
      ].forEach(([term, value]) => { list.append(el("dt", {}, term), el("dd", {}, value)); });
      summary.append(list);
    }
    expires.value = body.ClientSecretExpires || "";
    remove.hidden = !info && !body.ClientSecretExpires;
    stored = body;
    // app.js: whether the client secret is still required depends on this.
    document.dispatchEvent(new Event("smtp-oauth-credential"));
  }

  async function load() {
    if (loading) { return; }
    loading = true;
    try {
      const result = await call("GET");
      if (result.ok && result.json) { render(result.json); say(error, ""); }
      else { say(error, result.json && result.json.Message ? result.json.Message
                                                           : "The credential cannot be read."); }
    } finally {
      loading = false;
    }
  }

  function base64(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((byte) => { binary += String.fromCharCode(byte); });
    return btoa(binary);
  }

  async function submit() {
    say(error, ""); say(status, "");
    const body = {};
    if (p12File.files.length) {
      body.Pkcs12 = base64(await p12File.files[0].arrayBuffer());
    } else if (certFile.files.length || keyFile.files.length) {
      if (!certFile.files.length || !keyFile.files.length) {
        say(error, "Choose both the certificate and its private key, or a PKCS#12 file.");
        return;
      }
      body.Certificate = await certFile.files[0].text();
      body.PrivateKey = await keyFile.files[0].text();
    }
    // A new certificate is bound to the Token Endpoint, Client ID and relay in the form
    // above; without one, the stored binding stays as it is.
    const upload = Boolean(body.Pkcs12 || body.Certificate);
    const binding = upload || !stored || !stored.CertificateInfo ? formBinding() : {
      TokenEndpoint: stored.TokenEndpoint, ClientId: stored.ClientId, Host: stored.Host,
      Port: stored.Port, UseSSL: stored.UseSSL };
    if (upload && !(binding.TokenEndpoint && binding.ClientId && binding.Host)) {
      say(error, "Fill in Host, Client ID and Token Endpoint above first: the certificate "
          + "only ever signs for them.");
      return;
    }
    Object.entries(binding).forEach(([name, value]) => {
      if (value !== "" && !(name === "Port" && !value)) { body[name] = value; }
    });
    if (password.value) { body.Pkcs12Password = password.value; }
    if (expires.value) { body.ClientSecretExpires = expires.value; }
    const result = await call("PUT", body);
    password.value = "";
    if (!result.ok) {
      say(error, result.json && result.json.Message ? result.json.Message
                                                    : "The service answered " + result.status);
      return;
    }
    [certFile, keyFile, p12File].forEach((input) => { input.value = ""; });
    render(result.json);
    say(status, "Saved.");
  }

  async function drop() {
    say(error, ""); say(status, "");
    const result = await call("DELETE");
    if (!result.ok) { say(error, result.json ? result.json.Message : "Not removed."); return; }
    render(result.json);
    say(status, "Removed.");
  }

  save.addEventListener("click", () => { submit().catch((err) => say(error, err.message)); });
  remove.addEventListener("click", () => { drop().catch((err) => say(error, err.message)); });

  // Load whenever the OAuth section is shown (the page shows it for type 3, signed in).
  async function permissions() {
    const result = await fetch("/web/session", {
      headers: { "x-keyfactor-requested-with": "XMLHttpRequest" },
      credentials: "same-origin", cache: "no-store" });
    if (!result.ok) { return []; }
    const session = await result.json();
    return session.Permissions || [];
  }

  async function shown() {
    const granted = await permissions();
    actions.hidden = !granted.includes(MODIFY);
    await load();
  }

  new MutationObserver(() => {
    if (!section.hidden) { shown().catch(() => {}); }
  }).observe(section, { attributes: true, attributeFilter: ["hidden"] });
  // app.js reads Status after every load and Save: "In use" may have changed with the
  // profile, so the credential is read again then.
  document.addEventListener("smtp-profile:status", () => {
    if (!section.hidden) { load().catch(() => {}); }
  });
  if (!section.hidden) { shown().catch(() => {}); }
})();
