/* Provider presets on the settings page: a select that fills the fields a provider
   documents (Host, Port, TLS, authentication type and, where the provider fixes them,
   the user name, token endpoint and scope). It never hides or locks a field, and never
   touches a password or secret: those are the operator's to enter. The presets are the
   server's own data (domain/presets.py), embedded in the page as JSON. */
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function readPresets() {
    const data = $("preset-data");
    if (!data) { return []; }
    try { return JSON.parse(data.textContent || "[]"); } catch (e) { return []; }
  }

  function setValue(id, value) {
    const el = $(id);
    if (!el) { return; }
    if (el.type === "checkbox") { el.checked = Boolean(value); } else { el.value = String(value); }
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // The Encryption choice (tls.js) that UseSSL means on this port, as if the user chose it.
  function chooseEncryption(useSsl, port) {
    if (!window.SmtpTls) { return; }
    window.SmtpTls.fill(useSsl, port);
    const chosen = document.querySelector('input[name="tls"]:checked');
    if (chosen) { chosen.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  function init() {
    const presets = readPresets();
    const select = $("preset");
    if (!select || presets.length === 0) { return; }
    const byName = {};
    presets.forEach((preset) => {
      byName[preset.Name] = preset;
      const option = document.createElement("option");
      option.value = preset.Name;
      option.textContent = preset.Title;
      select.append(option);
    });
    const note = $("preset-note");
    const defaultNote = note.textContent;
    const paramField = $("preset-parameter-field");
    const paramInput = $("preset-parameter");
    const paramError = $("preset-parameter-error");

    function chosen() { return byName[select.value] || null; }

    select.addEventListener("change", () => {
      const preset = chosen();
      paramError.hidden = true;
      note.textContent = preset ? preset.Note : defaultNote;
      const parameter = preset && preset.Parameter;
      paramField.hidden = !parameter;
      // aria-disabled, not disabled: the button stays in the keyboard's way and says why
      // it does nothing (the page keeps no control that cannot be reached).
      $("preset-apply").setAttribute("aria-disabled", String(!preset));
      if (parameter) {
        $("preset-parameter-label").textContent =
          parameter.Name === "tenant" ? "Tenant ID or domain" : "Region";
        paramInput.placeholder = parameter.Example || "";
        paramInput.value = "";
      }
    });

    $("preset-apply").addEventListener("click", () => {
      const preset = chosen();
      if (!preset) {
        note.textContent = "Choose a provider first, then Fill fields.";
        select.focus();
        return;
      }
      const parameter = preset.Parameter;
      let value = paramInput.value.trim();
      let host = preset.Host;
      if (parameter) {
        const choices = parameter.Choices || {};
        const names = Object.keys(choices);
        if (names.length > 0) {
          value = value.toLowerCase();
          if (!(value in choices)) {
            return refuse(`Choose one of: ${names.join(", ")}.`);
          }
          host = choices[value];
        } else if (!value || (parameter.Pattern && !new RegExp(parameter.Pattern).test(value))) {
          return refuse(`Enter ${parameter.Label}, e.g. ${parameter.Example}.`);
        }
      }
      paramError.hidden = true;
      setValue("auth-type", preset.RelayAuthenticationType);
      setValue("host", host.replace("{region}", value));
      setValue("port", preset.Port);
      chooseEncryption(Boolean(preset.UseSSL), preset.Port);
      if (preset.RelayUsername) { setValue("relay-username", preset.RelayUsername); }
      if (preset.TokenEndpoint) { setValue("token-endpoint", preset.TokenEndpoint.replace("{tenant}", value)); }
      if (preset.Scope) { setValue("scope", preset.Scope); }
      const status = $("form-status");
      if (status) {
        status.textContent = `Filled from the ${preset.Title} preset; review the fields, `
          + "enter the credentials, then Save.";
        status.hidden = false;
      }
    });

    function refuse(message) {
      paramError.textContent = message;
      paramError.hidden = false;
      paramInput.focus();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
