// smtp-profile admin page: warnings about the settings (a provider's deadline, what a
// verify run cannot prove, an expiring credential). The server words them (GET
// /SMTP/Status's Warnings, a Diagnose report's Warnings); this file only shows them, so
// app.js needs two hooks: SmtpWarnings.show(container, warnings) and
// SmtpWarnings.elements(warnings).
"use strict";

window.SmtpWarnings = (function () {
  const CLASSES = { critical: "error", warning: "warning", info: "info" };

  // One element per warning: its message, its date, and a link to the provider's page.
  function elements(warnings) {
    return (Array.isArray(warnings) ? warnings : []).map((warning) => {
      const severity = CLASSES[warning.Severity] ? warning.Severity : "info";
      const box = document.createElement("div");
      box.className = "message " + CLASSES[severity] + " settings-warning";
      box.setAttribute("data-code", String(warning.Code || ""));
      box.textContent = String(warning.Message || "");
      if (warning.Link && /^https:\/\//.test(warning.Link)) {
        box.append(" ");
        const link = document.createElement("a");
        link.href = warning.Link;
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        link.textContent = "More";
        box.append(link);
      }
      return box;
    });
  }

  // Replace what `container` shows with `warnings`; hidden when there are none.
  function show(container, warnings) {
    if (!container) { return; }
    const boxes = elements(warnings);
    container.replaceChildren(...boxes);
    container.hidden = boxes.length === 0;
  }

  return { elements, show };
})();
