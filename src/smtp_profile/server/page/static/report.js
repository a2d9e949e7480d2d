// smtp-profile admin page: the whole truth of a test (issue 16, items 2 and 9).
// Runs POST /SMTP/Diagnose as a stream (one step per line) that the user can cancel,
// and shows every step with its reply, its details and its warnings: a warning is amber,
// never a plain success; the failed row is marked. The report can be copied as text or
// JSON for a ticket (it is the server's report: already redacted, no secret in it).
"use strict";

window.SmtpReport = (function () {
  const LABELS = {
    resolve: "resolve", connect: "connect", banner: "banner", ehlo: "EHLO",
    starttls: "STARTTLS", tls: "TLS", certificate: "certificate", auth: "AUTH",
    token: "token", mail_from: "MAIL FROM", rcpt_to: "RCPT TO", data: "DATA", quit: "QUIT",
  };
  const CLEARTEXT_SETTING = "SMTP_PROFILE_CLEARTEXT_CREDENTIALS";

  function label(name) { return LABELS[name] || name; }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function warningsOf(step) {
    const details = step.Details || {};
    return typeof details.warning === "string" && details.warning ? [details.warning] : [];
  }

  function allWarnings(report) {
    const found = [];
    (report.Steps || []).forEach((step) => {
      warningsOf(step).forEach((w) => found.push({ step: step.Name, text: w }));
    });
    return found;
  }

  function outcome(report) {
    const failed = (report.Steps || []).find((s) => s.Status === "failed");
    if (failed) { return { kind: "failed", failed }; }
    if (report.Success && allWarnings(report).length) { return { kind: "warning" }; }
    return { kind: report.Success ? "ok" : "failed", failed: null };
  }

  // What a reader should take from the failed step, in the page's words.
  function explanation(step, translate) {
    const details = step.Details || {};
    if (details.refused_by === CLEARTEXT_SETTING) {
      return "This service's operator does not allow the password to be sent without "
        + "encryption" + (details.setting === "loopback" ? " except to a relay on this "
        + "machine" : "") + " (" + CLEARTEXT_SETTING + "=" + details.setting + "), so it was "
        + "not sent. Choose STARTTLS or TLS from the first byte under Encryption.";
    }
    return null;
  }

  function resultText(step) {
    if (step.Status === "ok" && warningsOf(step).length) { return "warning"; }
    return { ok: "ok", failed: "failed", skipped: "skipped" }[step.Status] || step.Status;
  }

  // A detail's value as words that wrap at spaces: lists joined by ", ", objects as
  // "name: value" pairs.
  function shown(value) {
    if (Array.isArray(value)) { return value.map(shown).join(", "); }
    if (value && typeof value === "object") {
      return Object.keys(value).map((k) => k.replace(/_/g, " ") + ": " + shown(value[k])).join("; ");
    }
    return value === null || value === undefined ? "" : String(value);
  }

  function detailList(details) {
    const dl = el("dl", null, "step-details");
    Object.keys(details).forEach((key) => {
      if (key === "warning") { return; }
      dl.append(el("dt", key.replace(/_/g, " ")), el("dd", shown(details[key])));
    });
    return dl;
  }

  // The table of steps: Step | Result | Time (ms) | Reply and details.
  function table(report, translate) {
    const wrap = el("div", null, "table-wrap");
    const t = el("table", null, "steps");
    t.append(el("caption", "Steps", "visually-hidden"));
    const head = el("tr");
    [["Step", ""], ["Result", ""], ["Time (ms)", "num"], ["Reply and details", ""]].forEach(([h, c]) => {
      const th = el("th", h, c);
      th.scope = "col";
      head.append(th);
    });
    const thead = el("thead");
    thead.append(head);
    const tbody = el("tbody");
    (report.Steps || []).forEach((step) => {
      const result = resultText(step);
      const row = el("tr", null, "step-" + step.Status + (result === "warning" ? " step-warning" : ""));
      const name = el("th", label(step.Name));
      name.scope = "row";
      const status = el("td", null, "result");
      status.append(el("span", result, "badge badge-" + result));
      const cell = el("td", null, "reply");
      if (step.ReplyCode) { cell.append(el("div", step.ReplyCode + " " + (step.ReplyText || ""), "mono")); }
      warningsOf(step).forEach((w) => cell.append(el("div", "Warning: " + w, "step-warning-text")));
      if (step.Message) { cell.append(el("div", translate(step.Message), "step-message")); }
      if (step.Hint) { cell.append(el("div", "Hint: " + translate(step.Hint), "hint")); }
      const details = step.Details || {};
      if (Object.keys(details).some((k) => k !== "warning")) {
        const more = el("details");
        more.append(el("summary", "Details"), detailList(details));
        cell.append(more);
      }
      row.append(name, status,
                 el("td", step.Status === "skipped" ? "" : Math.round(step.DurationMs), "num"),
                 cell);
      tbody.append(row);
    });
    t.append(thead, tbody);
    wrap.append(t);
    return wrap;
  }

  // The report as plain text, for a ticket: what was tested, then every step.
  function asText(report, context) {
    const lines = [];
    const o = outcome(report);
    lines.push("smtp-profile test report");
    lines.push("Test id: " + report.TestId);
    lines.push("Outcome: " + (o.kind === "failed" ? "failed at step " + label(o.failed && o.failed.Name)
      : o.kind === "warning" ? "passed with warnings" : "passed"));
    if (context) {
      lines.push("Relay: " + context.host + ":" + context.port + ", encryption: " + context.encryption
        + ", authentication: " + context.auth);
      lines.push("Sender: " + context.sender + ", recipient: " + context.recipient);
      lines.push("Run at: " + context.at + " (" + report.Mode + ")");
    }
    lines.push("");
    (report.Steps || []).forEach((step) => {
      const time = step.Status === "skipped" ? "" : Math.round(step.DurationMs) + " ms";
      lines.push([label(step.Name), resultText(step), time].filter(Boolean).join("  ")
        + (step.ReplyCode ? "  " + step.ReplyCode + " " + (step.ReplyText || "") : ""));
      warningsOf(step).forEach((w) => lines.push("    warning: " + w));
      if (step.Message) { lines.push("    " + step.Message); }
      if (step.Hint) { lines.push("    hint: " + step.Hint); }
      Object.keys(step.Details || {}).forEach((key) => {
        if (key === "warning") { return; }
        const value = step.Details[key];
        lines.push("    " + key + ": " + shown(value));
      });
    });
    if ((report.Transcript || []).length) {
      lines.push("", "Transcript (credentials are ***):");
      report.Transcript.forEach((line) => lines.push("  " + line));
    }
    return lines.join("\n") + "\n";
  }

  function asJson(report, context) {
    return JSON.stringify({ Context: context || null, Report: report }, null, 2) + "\n";
  }

  // Copies `text`; where the clipboard is not available (plain http to another host),
  // shows it selected in a read-only box to copy by hand.
  async function copy(text, fallbackBox, say) {
    try {
      if (!navigator.clipboard || !window.isSecureContext) { throw new Error("no clipboard"); }
      await navigator.clipboard.writeText(text);
      fallbackBox.hidden = true;
      return true;
    } catch (err) {
      fallbackBox.value = text;
      fallbackBox.hidden = false;
      fallbackBox.focus();
      fallbackBox.select();
      say("The browser does not allow copying here: the report is selected in the box "
        + "below; press Ctrl+C (or Cmd+C) to copy it.");
      return false;
    }
  }

  // POST /SMTP/Diagnose with Accept: application/x-ndjson. Calls onStep for each
  // finished step; resolves to {status, headers, report} or {status, headers, json}
  // for a refusal. `signal` aborts it (an AbortError is thrown).
  async function stream(url, body, headers, signal, onStep) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store", signal,
      headers: { ...headers, "Content-Type": "application/json", "Accept": "application/x-ndjson" },
      body: JSON.stringify(body),
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.includes("ndjson") || !response.body) {
      const text = await response.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (err) { json = null; }
      // A server that answers the report as one JSON document is read as well.
      const whole = response.ok && json && Array.isArray(json.Steps) ? json : null;
      return { status: response.status, headers: response.headers, json, report: whole };
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    let report = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (value) { buffered += decoder.decode(value, { stream: true }); }
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) { continue; }
        const item = JSON.parse(line);
        if (item.Step) { onStep(item.Step); }
        if (item.Report) { report = item.Report; }
      }
      if (done) { break; }
    }
    return { status: response.status, headers: response.headers, json: null, report };
  }

  return { table, asText, asJson, copy, stream, outcome, explanation, allWarnings, label, el };
})();
