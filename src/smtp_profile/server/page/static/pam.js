// smtp-profile admin page: where each credential comes from (stored here, or a PAM
// provider). Kept apart from app.js; app.js calls SmtpProfilePam.loaded(profile) after
// it filled the form, and again with what GET /SMTP/Status says is stored. Read-only: references are set with the API (version 2) or the CLI.
// Every text is set with textContent, never as HTML.
"use strict";

window.SmtpProfilePam = (function () {
  const API_BASE = document.querySelector('meta[name="smtp-profile-api-base"]').content;
  // Keyfactor field -> the block of the form it belongs to, and how it is called there.
  const FIELDS = [
    { name: "RelayUsername", block: () => document.getElementById("relay-username")
        .closest(".field"), label: "The username", type: 2, secret: false },
    { name: "RelayPassword", block: () => document.querySelector('[data-secret="password"]'),
      label: "The password", type: 2, secret: true },
    { name: "ClientId", block: () => document.getElementById("client-id").closest(".field"),
      label: "The client ID", type: 3, secret: false },
    { name: "ClientSecret",
      block: () => document.querySelector('[data-secret="client-secret"]'),
      label: "The client secret", type: 3, secret: true },
  ];

  async function providerName(id) {
    try {
      const response = await fetch(API_BASE + "/PamProviders/" + encodeURIComponent(id), {
        credentials: "same-origin",
        headers: { "x-keyfactor-requested-with": "XMLHttpRequest",
                   "x-keyfactor-api-version": "2" },
      });
      if (!response.ok) { return null; }
      const provider = await response.json();
      return provider.Name + " (" + provider.ProviderType.Name + ")";
    } catch (error) {
      return null;
    }
  }

  function describe(reference, name) {
    const parameters = Object.entries(reference.Parameters || {})
      .map(([key, value]) => key + " = " + value).join(", ");
    const provider = name ? "\u201c" + name + "\u201d" : String(reference.Provider);
    return "from PAM provider " + provider + (parameters ? ": " + parameters : "")
      + ". It is fetched when a test needs it and never stored here.";
  }

  // `storedHere` (optional, from GET /SMTP/Status): which secrets have a value stored
  // here; one without a value and without a reference gets no "stored here" note.
  async function loaded(profile, storedHere) {
    document.querySelectorAll(".pam-source").forEach((el) => el.remove());
    for (const field of FIELDS) {
      if (profile.RelayAuthenticationType !== field.type) { continue; }
      const value = profile[field.name];
      const isReference = Boolean(value && value.Provider !== null
                                  && value.Provider !== undefined);
      if (!isReference && !field.secret) { continue; }
      if (!isReference && storedHere && storedHere[field.name] === false) { continue; }
      const note = document.createElement("p");
      note.className = "hint pam-source";
      note.dataset.pamField = field.name;
      note.textContent = field.label + " is stored here (encrypted).";
      field.block().prepend(note);
      if (isReference) {
        const stored = field.block().querySelector(".stored-note");
        if (stored) {
          stored.textContent = "A reference is stored; leaving it as it is keeps it.";
        }
        note.textContent = field.label + " comes " + describe(value, null)
          + " Change it with a version-2 PUT /SMTP.";
        const name = await providerName(value.Provider);
        if (name) {
          note.textContent = field.label + " comes " + describe(value, name)
            + " Change it with a version-2 PUT /SMTP.";
        }
      }
    }
  }

  return { loaded };
})();
