"""The Keyfactor SMTP request and response shapes, as pydantic models.

Incoming models come in two kinds, and the model says which (wire/binding.py reads it):

- Keyfactor's shapes (`_TolerantIn`: PUT /SMTP, POST /SMTP/Test, their secret and header
  objects, and Diagnose, which reads a Test body) are read as Keyfactor's own server
  (ASP.NET, Json.NET) reads them: unknown properties are ignored, and whole numbers and
  booleans may come as strings (wire/scalars.py). Clients written against the real
  server send both; refusing them would turn those clients away.
- This service's own shapes (`_In`: relay Options, the page's sign-in) forbid unknown
  fields: their only clients are this service's page and CLI, and there a misspelt name
  would silently drop a trust setting, since a PUT replaces them all.

Both are strict about JSON types otherwise (`25.5` is not a port, `1` not a boolean);
names are matched case-insensitively before these models see them
(`binding.fold_keys`). Outgoing models fix the exact PascalCase spellings Keyfactor
clients match on, including the odd `UseSSL` and `Id`. The OpenAPI document is generated
from these same classes, so it describes what the server really accepts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from smtp_profile.wire.scalars import Boolean, WholeNumber


# Every wire model is built (its validator and serializer made) at its first use, not at
# import (`defer_build`): a started service uses a few of them, and the rest (about 90,
# with the OpenAPI document, itself built at its first request) would cost start-up time
# and memory for routes nobody may call.
class _In(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", populate_by_name=False, frozen=True,
        str_max_length=16384, defer_build=True,
    )


class _TolerantIn(_In):
    """Read as Keyfactor's server reads: unknown properties ignored (see the module)."""

    model_config = ConfigDict(extra="ignore")


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=False, frozen=True, defer_build=True)


class SecretIn(_TolerantIn):
    """KeyfactorAPISecret: a literal `SecretValue`, or a PAM `Provider` (the Id of a
    provider of GET /PamProviders) with `Parameters` (its type's instance-level
    parameters, e.g. a Vault path or an AWS secret id). A reference is stored, never a
    value fetched through it.

    Keyfactor's schema lets a `Parameters` value be null; a map of nulls alone, without a
    `Provider`, names no PAM reference.
    """

    secret_value: str | None = Field(None, alias="SecretValue")
    provider: int | str | None = Field(None, alias="Provider")
    parameters: dict[str, str | None] | None = Field(None, alias="Parameters")


class RequestHeaderIn(_TolerantIn):
    name: str | None = Field(None, alias="Name")
    value: str | None = Field(None, alias="Value")


class ProfileV1In(_TolerantIn):
    """Body of a version-1 PUT /SMTP (JSON or form-encoded)."""

    id: WholeNumber = Field(None, alias="Id", description="Must be 1 when sent.")
    host: str | None = Field(None, alias="Host", description="SMTP relay host name or IP.")
    port: WholeNumber = Field(None, alias="Port", description="Defaults to 25 in version 1.")
    relay_authentication_type: WholeNumber = Field(
        None, alias="RelayAuthenticationType",
        description="0 Anonymous, 2 Basic, 3 OAuth client credentials. Version 1 cannot "
        "carry the OAuth settings: with 3 it keeps the stored ones, and it cannot switch a "
        "type-3 profile to another type (use version 2).",
    )
    relay_username: str | None = Field(None, alias="RelayUsername")
    relay_password: str | None = Field(
        None, alias="RelayPassword",
        description="Write-only. Absent or null keeps the stored password when Host, Port, "
        "UseSSL, RelayAuthenticationType and RelayUsername are unchanged.",
    )
    sender_account: str | None = Field(None, alias="SenderAccount")
    sender_address: str | None = Field(
        None, alias="SenderAddress", description="Deprecated by Keyfactor; accepted and ignored."
    )
    sender_name: str | None = Field(None, alias="SenderName")
    use_ssl: Boolean = Field(
        None, alias="UseSSL", description="Implicit TLS on port 465, STARTTLS elsewhere."
    )


class TestV1In(ProfileV1In):
    """Body of a version-1 POST /SMTP/Test."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    test_recipient: str | None = Field(None, alias="TestRecipient")


class ProfileV2In(_TolerantIn):
    """Body of a version-2 PUT /SMTP."""

    id: WholeNumber = Field(None, alias="Id", description="Must be 1 when sent.")
    host: str | None = Field(None, alias="Host")
    port: WholeNumber = Field(None, alias="Port", description="Required in version 2.")
    relay_authentication_type: WholeNumber = Field(
        None, alias="RelayAuthenticationType",
        description="0 Anonymous, 2 Basic, 3 OAuth client credentials (AUTH XOAUTH2).",
    )
    relay_username: SecretIn | None = Field(
        None, alias="RelayUsername",
        description="Basic: required. OAuth: optional; the mailbox the token authenticates "
        "as (defaults to SenderAccount). A value, or a PAM reference (Provider and "
        "Parameters).",
    )
    relay_password: SecretIn | None = Field(
        None, alias="RelayPassword",
        description="A value (write-only; never returned) or a PAM reference (Provider and "
        "Parameters; returned as stored, fetched when a test needs it). Absent or null "
        "keeps the stored password or reference when the destination is unchanged.",
    )
    sender_account: str | None = Field(None, alias="SenderAccount")
    sender_address: str | None = Field(
        None, alias="SenderAddress", description="Deprecated by Keyfactor; accepted and ignored."
    )
    sender_name: str | None = Field(None, alias="SenderName")
    use_ssl: Boolean = Field(None, alias="UseSSL")
    client_id: SecretIn | None = Field(
        None, alias="ClientId",
        description="OAuth: required; a value or a PAM reference.")
    client_secret: SecretIn | None = Field(
        None, alias="ClientSecret",
        description="OAuth: a value (write-only; never returned) or a PAM reference. "
        "Absent or null keeps the stored client secret or reference when TokenEndpoint, "
        "ClientId, Host, Port and UseSSL are unchanged.",
    )
    token_endpoint: str | None = Field(
        None, alias="TokenEndpoint",
        description="OAuth: required; an https URL (http only for localhost/127.0.0.1/::1).",
    )
    scope: str | None = Field(None, alias="Scope",
                              description="OAuth: `scope` of the token request, if set.")
    audience: str | None = Field(None, alias="Audience",
                                 description="OAuth: `audience` of the token request, if set.")
    request_headers: list[RequestHeaderIn] | None = Field(
        None, alias="RequestHeaders", max_length=32,
        description="OAuth: extra HTTP headers for the token request (at most 16; not "
        "Authorization, Cookie, Host, Content-Type or other framing headers).",
    )


class TestV2In(ProfileV2In):
    """Body of a version-2 POST /SMTP/Test."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    test_recipient: str | None = Field(None, alias="TestRecipient")


class SecretOut(_Out):
    secret_value: str | None = Field(None, alias="SecretValue")
    provider: int | None = Field(None, alias="Provider")
    parameters: dict[str, str] | None = Field(None, alias="Parameters")


class RequestHeaderOut(_Out):
    name: str | None = Field(None, alias="Name")
    value: str | None = Field(None, alias="Value")


class ProfileV1Out(_Out):
    """Version-1 profile: flat strings, no password."""

    host: str | None = Field(alias="Host")
    id: int = Field(alias="Id")
    port: int = Field(alias="Port")
    relay_authentication_type: int = Field(alias="RelayAuthenticationType")
    relay_username: str | None = Field(alias="RelayUsername")
    sender_account: str | None = Field(alias="SenderAccount")
    sender_name: str | None = Field(alias="SenderName")
    use_ssl: bool = Field(alias="UseSSL")


class TestV1Out(_Out):
    """Version-1 Test success: the settings that were tested and the recipient."""

    host: str | None = Field(alias="Host")
    id: int = Field(alias="Id")
    port: int = Field(alias="Port")
    relay_authentication_type: int = Field(alias="RelayAuthenticationType")
    relay_username: str | None = Field(alias="RelayUsername")
    sender_account: str | None = Field(alias="SenderAccount")
    sender_name: str | None = Field(alias="SenderName")
    test_recipient: str = Field(alias="TestRecipient")
    use_ssl: bool = Field(alias="UseSSL")


class ProfileV2Out(_Out):
    """Version-2 profile: secrets as objects; a stored RelayPassword or ClientSecret is
    null, a reference to a PAM provider is shown as the reference."""

    host: str | None = Field(alias="Host")
    id: int = Field(alias="Id")
    port: int = Field(alias="Port")
    relay_authentication_type: int = Field(alias="RelayAuthenticationType")
    relay_username: SecretOut | None = Field(alias="RelayUsername")
    relay_password: SecretOut | None = Field(
        alias="RelayPassword",
        description="A stored password is never returned (null); a reference to a PAM "
        "provider is returned as it was stored, with SecretValue null.")
    sender_account: str | None = Field(alias="SenderAccount")
    sender_name: str | None = Field(alias="SenderName")
    use_ssl: bool = Field(alias="UseSSL")
    client_id: SecretOut | None = Field(alias="ClientId")
    client_secret: SecretOut | None = Field(
        alias="ClientSecret",
        description="A stored client secret is never returned (null); a reference to a PAM "
        "provider is returned as it was stored, with SecretValue null.")
    token_endpoint: str | None = Field(alias="TokenEndpoint")
    scope: str | None = Field(alias="Scope")
    audience: str | None = Field(alias="Audience")
    request_headers: list[RequestHeaderOut] | None = Field(alias="RequestHeaders")


class ErrorOut(_Out):
    """The Keyfactor error body; ErrorCode values are listed in docs/errors.md."""

    error_code: str = Field(alias="ErrorCode", examples=["0xA0110001"])
    message: str = Field(alias="Message")


# -- extensions (not Keyfactor shapes, same conventions) -------------------------------------

class _DiagnoseFields(_TolerantIn):
    mode: str | None = Field(None, alias="Mode", description="send (default) or verify.")
    mechanism: str | None = Field(
        None, alias="Mechanism",
        description="auto (default: the relay option), PLAIN or LOGIN, for this run only.",
    )


class DiagnoseV1In(TestV1In, _DiagnoseFields):
    """Body of POST /SMTP/Diagnose in version 1: a Test body plus Mode and Mechanism."""


class DiagnoseV2In(TestV2In, _DiagnoseFields):
    """Body of POST /SMTP/Diagnose in version 2: a Test body plus Mode and Mechanism."""


class StepOut(_Out):
    name: str = Field(alias="Name", examples=["auth"])
    status: str = Field(alias="Status", examples=["ok", "failed", "skipped"])
    duration_ms: float = Field(alias="DurationMs")
    reply_code: int | None = Field(alias="ReplyCode")
    reply_text: str | None = Field(alias="ReplyText")
    message: str | None = Field(alias="Message")
    hint: str | None = Field(alias="Hint")
    details: dict[str, Any] = Field(alias="Details")


class WarningOut(_Out):
    """One `StatusWarning` (domain/warnings.py): a warning about the settings that does
    not stop them working today, as Status, a report, the page and `show` give it."""

    code: str = Field(alias="Code", examples=["client-certificate-expiring",
                                              "microsoft-basic-auth-retirement"])
    severity: str = Field(alias="Severity", examples=["info", "warning", "critical"])
    message: str = Field(alias="Message")
    date: str | None = Field(None, alias="Date",
                             description="The day it is about (YYYY-MM-DD).")
    link: str | None = Field(None, alias="Link", description="Where to act or read more: "
                             "an API path of this service or a provider's page.")


class ReportOut(_Out):
    """A step-by-step SMTP test report."""

    success: bool = Field(alias="Success")
    test_id: str = Field(alias="TestId")
    mode: str = Field(alias="Mode")
    steps: list[StepOut] = Field(alias="Steps")
    transcript: list[str] = Field(alias="Transcript",
                                  description="The conversation; credentials are ***.")
    warnings: list[WarningOut] = Field(
        default_factory=list, alias="Warnings",
        description="What the settings will run into besides this test (a provider's "
        "deadline, what a verify run cannot prove).")


class OptionsIn(_In):
    """Per-relay trust and AUTH mechanism (PUT /SMTP/Options replaces them all)."""

    ca_bundle: str | None = Field(None, alias="CaBundle",
                                  description="PEM CA certificates trusted for this relay.")
    pinned_sha256: str | None = Field(
        None, alias="PinnedSha256",
        description="SHA-256 fingerprint of the relay's certificate; when set, that "
        "certificate is trusted and no other.")
    insecure: bool | None = Field(
        None, alias="Insecure",
        description="Skip certificate verification. Shown as insecure everywhere.")
    mechanism: str | None = Field(None, alias="Mechanism",
                                  description="auto, PLAIN or LOGIN.")
    trust: str | None = Field(
        None, alias="Trust",
        description="Read-only: derived from CaBundle, PinnedSha256 and Insecure, as GET "
        "returns it. Accepted back when it agrees with them; a contradiction is a 400.")


class OptionsOut(_Out):
    ca_bundle: str | None = Field(alias="CaBundle")
    pinned_sha256: str | None = Field(alias="PinnedSha256")
    insecure: bool = Field(alias="Insecure")
    mechanism: str = Field(alias="Mechanism")
    trust: str = Field(alias="Trust", examples=["system", "bundle", "pinned", "insecure"])


class LastTestOut(_Out):
    test_id: str = Field(alias="TestId")
    tested_at: str = Field(alias="TestedAt")
    tested_by: str = Field(alias="TestedBy")
    mode: str = Field(alias="Mode")
    success: bool = Field(alias="Success")
    failed_step: str | None = Field(alias="FailedStep")
    message: str | None = Field(alias="Message")
    profile_version: int = Field(alias="ProfileVersion")
    current: bool = Field(alias="Current",
                          description="False when the profile changed since this test.")
    certificate_not_after: str | None = Field(alias="CertificateNotAfter")


class TlsPolicyOut(_Out):
    implicit_tls_ports: list[int] = Field(
        alias="ImplicitTlsPorts", description="Ports where UseSSL means TLS from the first "
        "byte (SMTP_PROFILE_IMPLICIT_TLS_PORTS); elsewhere it means STARTTLS.")
    cleartext_credentials: str = Field(
        alias="CleartextCredentials", description="Where credentials may go without TLS "
        "(SMTP_PROFILE_CLEARTEXT_CREDENTIALS): allow, loopback or never.")


class StatusOut(_Out):
    profile_version: int = Field(alias="ProfileVersion")
    updated_at: str | None = Field(alias="UpdatedAt")
    updated_by: str | None = Field(alias="UpdatedBy")
    password_stored: bool = Field(alias="PasswordStored")
    client_secret_stored: bool = Field(alias="ClientSecretStored")
    trust: str = Field(alias="Trust")
    secret_trust_changed: list[str] = Field(
        alias="SecretTrustChanged",
        description="The trust options (Insecure, PinnedSha256, CaBundle) changed since the "
        "stored password or client secret was entered: until it is entered again, a test "
        "refuses to send it (0xA0110007). Empty when nothing changed or nothing is stored.")
    last_test: LastTestOut | None = Field(alias="LastTest")
    tls_policy: TlsPolicyOut = Field(
        alias="TlsPolicy", description="The operator's TLS settings, so a client can say "
        "what UseSSL will mean on a port and whether credentials may go without TLS.")
    warnings: list[WarningOut] = Field(
        default_factory=list, alias="Warnings",
        description="What needs attention before it stops mail: certificates expiring "
        "within 30 days (info), 14 (warning) or 3 (critical), a client certificate that no "
        "longer matches the relay, and so on. Empty when all is well.")
