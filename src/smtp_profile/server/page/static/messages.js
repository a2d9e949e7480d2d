// smtp-profile admin page: messages for people (issue 16, item 5).
// The API speaks in Keyfactor's field names and codes; the page speaks in its labels.
// Each refusal is put next to the field it concerns in the page's words, and the API's
// own message stays available (app.js shows it under "Message from the API").
"use strict";

window.SmtpMessages = (function () {
  // Keyfactor field name -> [input id, the page's label]. The order matters for
  // translate(): longer names first, so "RelayUsername" is not read as "Relay...".
  const FIELDS = [
    ["RelayAuthenticationType", "auth-type", "Relay authentication"],
    ["RelayUsername", "relay-username", "Username"],
    ["RelayPassword", "relay-password", "Password"],
    ["SenderAccount", "sender-account", "Sender Account"],
    ["SenderName", "sender-name", "Sender Name"],
    ["TokenEndpoint", "token-endpoint", "Token Endpoint"],
    ["RequestHeaders", "request-headers", "Request headers"],
    ["ClientSecret", "client-secret", "Client Secret"],
    ["ClientId", "client-id", "Client ID"],
    ["TestRecipient", "test-recipient", "Recipient"],
    ["Audience", "audience", "Audience"],
    ["UseSSL", "use-ssl", "Encryption"],
    ["Scope", "scope", "Scope"],
    ["Host", "host", "Host"],
    ["Port", "port", "Port"],
  ];
  const AUTH_NAMES = { 0: "Anonymous", 2: "Basic Authentication", 3: "OAuth Client Credentials" };

  // API jargon -> the page's words. Applied before the field names.
  const PHRASES = [
    [/RelayAuthenticationType (\d)/g, (m, n) => AUTH_NAMES[n] ? '"' + AUTH_NAMES[n] + '"' : m],
    [/\bUseSSL (?:true|on)\b/gi, "encryption (STARTTLS or TLS)"],
    [/\bUseSSL\b/g, "Encryption"],
    [/SMTP_PROFILE_CA_BUNDLE(?: \([^)]*\))?/g, "the CA certificates this service trusts (an operator setting)"],
    [/SMTP_PROFILE_[A-Z_]+/g, "an operator setting of this service"],
    [/(?:PUT|GET) \/\S*\/SMTP\/Options/g, "the relay's trust options (set through the API)"],
    [/\bversion 2\b/g, "this page"],
  ];

  function translate(text) {
    let out = String(text || "");
    PHRASES.forEach(([pattern, replacement]) => { out = out.replace(pattern, replacement); });
    FIELDS.forEach(([api, , label]) => {
      out = out.replace(new RegExp("\\b" + api + "\\b", "g"), label);
    });
    return out;
  }

  // Which input a part of a server message is about: its first word is a field name.
  function fieldOf(part) {
    const match = /^\s*(\w+)/.exec(part);
    if (!match) { return null; }
    const found = FIELDS.find(([api]) => api === match[1]);
    return found ? found[1] : null;
  }

  function seconds(n) {
    const whole = Math.max(1, Math.ceil(Number(n) || 1));
    return whole === 1 ? "1 second" : whole + " seconds";
  }

  // The answers that are not about the settings: the service is down, or busy.
  // Returns a sentence, or null when the answer is about the request itself.
  function transportProblem(result) {
    if (result.status === 0) {
      return "The service cannot be reached. Check the network connection, or whether "
        + "the service is running, then try again. Nothing was saved or sent.";
    }
    if (result.status === 429 || result.status === 503) {
      const retry = result.headers && result.headers.get("Retry-After");
      const wait = retry && /^\d+$/.test(retry.trim()) ? " Try again in " + seconds(retry) + "." : " Try again shortly.";
      return (result.status === 429 ? "Too many requests." : "The service is busy.") + wait;
    }
    if (result.status >= 500) {
      return "The service had a problem (" + result.status + "); the server log has the "
        + "details. Try again; if it persists, tell the service's operator.";
    }
    return null;
  }

  // Mistakes people make in Host, recognised before anything is sent.
  // Returns {message, host, port} (host/port: the values meant, when clear) or null.
  function hostMistake(text) {
    const host = text.trim();
    const url = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(host);
    if (url) {
      const rest = splitPort(url[2].replace(/^[^@]*@/, ""));
      return { message: "Host is only the relay's name or address: leave out \""
        + url[1] + "://\"" + (rest.port ? " and put the port in Port" : "") + ", e.g. "
        + (rest.host || "smtp.corp.example") + ".", host: rest.host, port: rest.port };
    }
    if (host.includes("@")) {
      return { message: "Host is the relay's name or address, not an e-mail address "
        + "(the sender's address goes in Sender Account).", host: null, port: null };
    }
    const split = splitPort(host);
    if (split.port) {
      return { message: "Put the port in the Port field: Host " + split.host + ", Port "
        + split.port + ".", host: split.host, port: split.port };
    }
    if (/[/\\]/.test(host)) {
      return { message: "Host is only a name or an address, without a path.", host: null,
               port: null };
    }
    return null;
  }

  function splitPort(text) {
    const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
    if (bracketed) { return { host: bracketed[1], port: bracketed[2] }; }
    const plain = /^([^:\s]+):(\d+)$/.exec(text);  // one colon only: not an IPv6 address
    if (plain) { return { host: plain[1], port: plain[2] }; }
    return { host: text.replace(/^\[|\]$/g, ""), port: null };
  }

  return { translate, fieldOf, transportProblem, hostMistake, seconds, AUTH_NAMES };
})();
