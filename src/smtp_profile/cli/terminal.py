"""How the CLI shows a profile and a test report to a person: one line a step, as it ends.

Colour only when writing to a terminal (click strips it otherwise); the words carry the
meaning on their own (ok / FAILED / skipped), so piped output reads the same.
"""

from __future__ import annotations

from typing import Any

import typer

_STATUS = {
    "ok": ("ok", typer.colors.GREEN),
    "failed": ("FAILED", typer.colors.RED),
    "skipped": ("skipped", typer.colors.BRIGHT_BLACK),
}


def _first_line(text: object) -> str:
    return str(text).split("\n", 1)[0] if text else ""


def step_summary(step: dict[str, Any]) -> str:
    """The one fact worth seeing on the step's line."""
    details: dict[str, Any] = step.get("Details") or {}
    name = step["Name"]
    if step["Status"] == "failed":
        if step.get("ReplyCode") is None:
            return ""  # the message follows on its own line
        return f"{step['ReplyCode']} {_first_line(step['ReplyText'])}".strip()
    if name == "secret":
        return "; ".join(f"{field} from {where.get('ProviderName', where.get('Provider'))}"
                         f"{' (remembered)' if where.get('Cached') else ''}"
                         for field, where in (details.get("Credentials") or {}).items())
    if name == "resolve":
        return ", ".join(details.get("addresses", []))
    if name == "connect":
        if details.get("address") is None:  # skipped, or failed before an address
            return ""
        return f"{details.get('address')} port {details.get('port')}"
    if name in ("starttls", "tls"):
        session = f"{details.get('protocol', '')} {details.get('cipher', '')}".strip()
        return session + _client_certificate_summary(details.get("client_certificate"))
    if name == "certificate":
        trust = details.get("trust", "system")
        names = ", ".join(details.get("subject_alt_names", [])[:3])
        left = details.get("days_left")
        text = f"{names} (expires in {left} days)" if left is not None else names
        return f"{text}, NOT VERIFIED (insecure)" if trust == "insecure" else text
    if name == "auth":
        return f"{details.get('mechanism', '')} {step.get('ReplyCode') or ''}".strip()
    if name == "ehlo":
        return " ".join(details.get("extensions", []))
    if step.get("ReplyCode") is not None:
        return f"{step['ReplyCode']} {_first_line(step.get('ReplyText'))}".strip()
    return ""


def _client_certificate_summary(info: Any) -> str:
    """`; client cert CN=... presented` (or why not), when one is set or was asked for."""
    if not isinstance(info, dict):
        return ""
    asked = info.get("requested_by_relay")
    if info.get("configured"):
        if info.get("presented"):
            return f"; client cert {info.get('subject')} presented"
        return f"; client cert {info.get('subject')} NOT presented" + (
            " (relay did not ask)" if asked is False else "")
    if asked:
        return "; relay asked for a client certificate, none set" + (
            " (stored one withheld: binding changed)" if info.get("withheld") else "")
    return ""


def step_line(step: dict[str, Any]) -> str:
    word, colour = _STATUS.get(step["Status"], (step["Status"], typer.colors.WHITE))
    status = typer.style(f"{word:<8}", fg=colour, bold=step["Status"] == "failed")
    duration = f"{step['DurationMs']:>7.0f} ms" if step["Status"] != "skipped" else " " * 10
    return f"  {status} {step['Name']:<12}{duration}  {step_summary(step)}".rstrip()


def failure_lines(step: dict[str, Any]) -> list[str]:
    lines = []
    if step.get("Message"):
        lines.append(f"           {step['Message']}")
    if step.get("Hint"):
        lines.append(typer.style(f"           hint: {step['Hint']}", fg=typer.colors.YELLOW))
    return lines


def verdict(report: dict[str, Any]) -> str:
    failed = next((s for s in report["Steps"] if s["Status"] == "failed"), None)
    if report["Success"]:
        delivered = "delivered" if report["Mode"] == "send" else "verified, nothing delivered"
        return typer.style(f"Test {report['TestId']} succeeded ({delivered}).",
                           fg=typer.colors.GREEN, bold=True)
    where = failed["Name"] if failed else "?"
    return typer.style(f"Test {report['TestId']} FAILED at {where}.", fg=typer.colors.RED,
                       bold=True)


def pam_source(secret: dict[str, Any] | None) -> str | None:
    """"from PAM provider 3 (File=x)" for a reference; None for a value or nothing."""
    if not secret or secret.get("Provider") is None:
        return None
    parameters = ", ".join(f"{k}={v}" for k, v in (secret.get("Parameters") or {}).items())
    return f"from PAM provider {secret['Provider']} ({parameters})"


def profile_lines(profile: dict[str, Any], status: dict[str, Any]) -> list[str]:
    auth = {0: "Anonymous", 2: "Basic", 3: "OAuth client credentials"}.get(
        profile["RelayAuthenticationType"], str(profile["RelayAuthenticationType"]))
    username = (profile.get("RelayUsername") or {}).get("SecretValue")
    trust = status.get("Trust", "system")
    lines = [
        f"Host:            {profile['Host'] or '(not set)'}",
        f"Port:            {profile['Port']}",
        f"Use SSL:         {'yes' if profile['UseSSL'] else 'no'}",
        f"Sender name:     {profile['SenderName'] or '(not set)'}",
        f"Sender account:  {profile['SenderAccount'] or '(not set)'}",
        f"Authentication:  {auth}",
    ]
    if username:
        lines.append(f"Relay username:  {username}")
    elif pam_source(profile.get("RelayUsername")):
        lines.append(f"Relay username:  {pam_source(profile.get('RelayUsername'))}")
    if profile["RelayAuthenticationType"] == 2:
        stored = "stored" if status.get("PasswordStored") else "NOT stored"
        lines.append(f"Relay password:  "
                     f"{pam_source(profile.get('RelayPassword')) or f'({stored}; never shown)'}")
    if profile.get("TokenEndpoint"):
        lines.append(f"Token endpoint:  {profile['TokenEndpoint']}")
        if pam_source(profile.get("ClientId")):
            lines.append(f"Client id:       {pam_source(profile.get('ClientId'))}")
        stored = "stored" if status.get("ClientSecretStored") else "NOT stored"
        lines.append(f"Client secret:   "
                     f"{pam_source(profile.get('ClientSecret')) or f'({stored}; never shown)'}")
    trust_text = {"system": "system trust store", "bundle": "relay CA bundle",
                  "pinned": "pinned certificate",
                  "insecure": typer.style("INSECURE: certificates not verified",
                                          fg=typer.colors.RED, bold=True)}.get(trust, trust)
    lines.append(f"TLS trust:       {trust_text}")
    changed = status.get("SecretTrustChanged") or []
    if changed:
        lines.append(typer.style(
            f"Stored secret:   not sent until entered again ({', '.join(changed)} changed "
            "since it was saved)", fg=typer.colors.YELLOW, bold=True))
    last = status.get("LastTest")
    if last:
        outcome = "ok" if last["Success"] else f"FAILED at {last['FailedStep']}"
        stale = "" if last["Current"] else " (profile changed since)"
        when = str(last["TestedAt"])[:19].replace("T", " ") + " UTC"
        lines.append(f"Last test:       {when} by {last['TestedBy']}, "
                     f"{last['Mode']}: {outcome}{stale}")
        if last.get("CertificateNotAfter"):
            lines.append(f"Relay cert:      expires {last['CertificateNotAfter']}")
    else:
        lines.append("Last test:       never")
    lines += warning_lines(status.get("Warnings") or [])
    return lines


def warning_lines(warnings: list[dict[str, Any]]) -> list[str]:
    """A report's or a status's Warnings, one line each (with their link)."""
    colours = {"critical": typer.colors.RED, "warning": typer.colors.YELLOW}
    lines = []
    for warning in warnings:
        severity = str(warning.get("Severity") or "info")
        text = f"{severity.capitalize()}: {warning.get('Message')}"
        if warning.get("Link"):
            text += f" ({warning['Link']})"
        lines.append(typer.style(text, fg=colours.get(severity), bold=severity == "critical"))
    return lines
