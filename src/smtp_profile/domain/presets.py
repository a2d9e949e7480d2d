"""Provider presets: the settings a well-known relay documents, as data, filled in by name.

A preset only fills fields (Host, Port, UseSSL, RelayAuthenticationType and, where the
provider fixes them, RelayUsername, TokenEndpoint and Scope); it never hides or locks
one, and the credentials are always the operator's to enter. The CLI (`smtp-profile set
--preset NAME`) and the web page (the same data, embedded in the page) both read this
module, so the two cannot disagree. `source` names the provider's documentation each
preset was checked against (README, "Provider presets", says which facts rest on
third-party pages only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.service_account import GMAIL_HOST, GMAIL_SCOPE, GOOGLE_TOKEN_URI

# A Microsoft Entra tenant: a GUID or a verified domain name (contoso.onmicrosoft.com).
_TENANT = re.compile(r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|"
                     r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                     r"[A-Za-z]{2,63})$")
# An AWS Region name: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-3...
_AWS_REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$")


@dataclass(frozen=True)
class Parameter:
    """What a preset needs to be told: a Microsoft tenant, an AWS or Mailgun region."""

    name: str  # "tenant" or "region"
    label: str
    pattern: str | None = None  # a regular expression the value must match
    choices: dict[str, str] = field(default_factory=dict)  # value -> host, when fixed
    example: str = ""


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    host: str  # may hold {region}
    port: int
    use_ssl: bool
    auth_type: int  # 2 Basic, 3 OAuth
    note: str
    source: str
    username: str | None = None
    token_endpoint: str | None = None  # may hold {tenant}
    scope: str | None = None
    parameter: Parameter | None = None

    def fields(self, value: str | None = None) -> dict[str, Any]:
        """The version-2 profile fields this preset sets, for the tenant or region
        `value` when it needs one; ValidationFailed names a missing or bad value."""
        value = self._checked(value)
        host = self.host
        if self.parameter is not None and self.parameter.choices:
            host = self.parameter.choices[value or ""]
        elif self.parameter is not None and self.parameter.name == "region":
            host = host.format(region=value)
        fields: dict[str, Any] = {"Host": host, "Port": self.port, "UseSSL": self.use_ssl,
                                  "RelayAuthenticationType": self.auth_type}
        if self.username is not None:
            fields["RelayUsername"] = {"SecretValue": self.username}
        if self.token_endpoint is not None:
            fields["TokenEndpoint"] = self.token_endpoint.format(tenant=value)
        if self.scope is not None:
            fields["Scope"] = self.scope
        return fields

    def _checked(self, value: str | None) -> str | None:
        parameter = self.parameter
        if parameter is None:
            if value:
                raise ValidationFailed([f"The preset {self.name!r} takes no tenant or "
                                        "region"])
            return None
        if not value or not value.strip():
            raise ValidationFailed([f"The preset {self.name!r} needs --{parameter.name} "
                                    f"({parameter.label}, e.g. {parameter.example})"])
        value = value.strip()
        if parameter.choices and value.lower() not in parameter.choices:
            raise ValidationFailed([f"--{parameter.name} for {self.name!r} must be one of "
                                    f"{', '.join(parameter.choices)} (got {value[:40]!r})"])
        if parameter.choices:
            return value.lower()
        if parameter.pattern and not re.fullmatch(parameter.pattern, value):
            raise ValidationFailed([f"--{parameter.name} for {self.name!r} must be "
                                    f"{parameter.label} like {parameter.example} "
                                    f"(got {value[:40]!r})"])
        return value

    def to_json(self) -> dict[str, Any]:
        """The preset as the web page reads it."""
        parameter = self.parameter
        return {
            "Name": self.name, "Title": self.title, "Host": self.host, "Port": self.port,
            "UseSSL": self.use_ssl, "RelayAuthenticationType": self.auth_type,
            "RelayUsername": self.username, "TokenEndpoint": self.token_endpoint,
            "Scope": self.scope, "Note": self.note, "Source": self.source,
            "Parameter": None if parameter is None else {
                "Name": parameter.name, "Label": parameter.label,
                "Pattern": parameter.pattern, "Choices": parameter.choices,
                "Example": parameter.example},
        }


PRESETS: tuple[Preset, ...] = (
    Preset(
        name="microsoft-365", title="Microsoft 365 (OAuth, app-only)",
        host="smtp.office365.com", port=587, use_ssl=True, auth_type=3,
        token_endpoint="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",  # noqa: S106
        scope="https://outlook.office365.com/.default",
        parameter=Parameter("tenant", "the Entra tenant id (a GUID) or its domain",
                            _TENANT.pattern, example="contoso.onmicrosoft.com"),
        note="Enter ClientId and ClientSecret of the app registration; it needs the "
        "application permission SMTP.SendAsApp (Office 365 Exchange Online), an Exchange "
        "service principal and a mailbox permission, and SMTP AUTH enabled for the mailbox.",
        source="https://learn.microsoft.com/exchange/client-developer/legacy-protocols/"
        "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"),
    Preset(
        name="google-app-password", title="Google Workspace / Gmail (app password)",
        host=GMAIL_HOST, port=587, use_ssl=True, auth_type=2,
        note="RelayUsername is the full mailbox address, RelayPassword a 16-character app "
        "password (needs 2-step verification); the account password no longer works.",
        source="https://developers.google.com/workspace/gmail/imap/imap-smtp"),
    Preset(
        name="google-service-account",
        title="Google Workspace (service account, domain-wide delegation)",
        host=GMAIL_HOST, port=587, use_ssl=True, auth_type=3,
        token_endpoint=GOOGLE_TOKEN_URI, scope=GMAIL_SCOPE,
        note="Upload the service account's JSON key (smtp-profile service-account set "
        "--key-file sa.json, or PUT /SMTP/OAuth/ServiceAccount); ClientId is the key's "
        "client_id and TokenEndpoint its token_uri. Grant the client id the scope "
        "https://mail.google.com/ under domain-wide delegation; the mailbox is "
        "RelayUsername, else SenderAccount.",
        source="https://developers.google.com/workspace/gmail/imap/xoauth2-protocol"),
    Preset(
        name="amazon-ses", title="Amazon SES",
        host="email-smtp.{region}.amazonaws.com", port=587, use_ssl=True, auth_type=2,
        parameter=Parameter("region", "an AWS Region", _AWS_REGION.pattern,
                            example="eu-west-1"),
        note="RelayUsername and RelayPassword are the SES SMTP credentials of that Region "
        "(created in the SES console), not an IAM access key.",
        source="https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html"),
    Preset(
        name="sendgrid", title="SendGrid", host="smtp.sendgrid.net", port=587,
        use_ssl=True, auth_type=2, username="apikey",
        note="RelayUsername is the literal word apikey; RelayPassword is an API key with "
        "Mail Send permission.",
        source="https://www.twilio.com/docs/sendgrid/for-developers/sending-email/"
        "integrating-with-the-smtp-api"),
    Preset(
        name="mailgun", title="Mailgun", host="smtp.mailgun.org", port=587, use_ssl=True,
        auth_type=2,
        parameter=Parameter("region", "the account's region", None,
                            {"us": "smtp.mailgun.org", "eu": "smtp.eu.mailgun.org"},
                            example="eu"),
        note="RelayUsername and RelayPassword are the sending domain's SMTP credentials "
        "(often postmaster@your-domain).",
        source="https://cloud.google.com/compute/docs/tutorials/sending-mail/using-mailgun"),
    Preset(
        name="postmark", title="Postmark", host="smtp.postmarkapp.com", port=587,
        use_ssl=True, auth_type=2,
        note="The Server API Token is both RelayUsername and RelayPassword.",
        source="https://postmarkapp.com/support/article/"
        "811-what-are-the-smtp-details-api-tokens-i-should-be-using"),
)

_BY_NAME = {preset.name: preset for preset in PRESETS}


def preset_named(name: str) -> Preset:
    """The preset called `name` (case-insensitive); ValidationFailed lists the names."""
    preset = _BY_NAME.get(name.strip().lower())
    if preset is None:
        raise ValidationFailed([f"Unknown preset {name[:40]!r}; choose one of "
                                f"{', '.join(_BY_NAME)}"])
    return preset
