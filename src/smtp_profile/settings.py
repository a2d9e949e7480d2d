"""The service's settings: one pydantic-settings object, read from flags, SMTP_PROFILE_*
environment variables and defaults.

Each field is one setting: its name gives the flag (`--connect-timeout`) and the variable
(`SMTP_PROFILE_CONNECT_TIMEOUT`), its `Field` the default, the accepted values and the
description that `serve --help` shows (cli/options.py builds the options from the
fields) and that tests/test_settings_docs.py holds the README's table to. Flags win over
the environment, the environment over the defaults; an empty variable counts as unset.

The operator's limits on Test and Diagnose are turned into domain objects here, once:
`outbound` (OutboundPolicy) and `recipients` (RecipientPolicy).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import AfterValidator, BeforeValidator, Field, FilePath, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from smtp_profile.domain.bearer import ClaimMapping, TokenRules, check_provider_url
from smtp_profile.domain.cleartext import CleartextCredentials
from smtp_profile.domain.outbound import (
    DEFAULT_PORTS,
    DEFAULT_TOKEN_PORTS,
    OutboundPolicy,
    parse_ports,
    parse_targets,
)
from smtp_profile.domain.profile import IMPLICIT_TLS_PORTS
from smtp_profile.domain.recipients import RecipientPolicy, parse_domains

ENV_PREFIX = "SMTP_PROFILE_"
DEFAULT_DATA_DIR = Path("smtp-profile-data")
DEFAULT_BASE_PATH = "/KeyfactorAPI"
DATABASE_FILE_NAME = "smtp-profile.db"
INITIAL_ADMIN_PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name
MAX_BODY_BYTES = 64 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _stripped(value: object) -> object:
    """Flags and variables are compared without surrounding blanks, as click did."""
    return value.strip() if isinstance(value, str) else value


def _port_list(text: str) -> str:
    """`25,465,1025-65535` (the outbound grammar: commas, ranges); kept as written."""
    parse_ports(text)  # raises PolicyError (a ValueError) naming the bad part
    return text


def _implicit_tls_ports(value: object) -> object:
    """`465, 587`, `465 587` or a range: the grammar of every port setting (domain.outbound)."""
    return frozenset(parse_ports(value)) if isinstance(value, str) else value


def _ports_in_range(ports: frozenset[int]) -> frozenset[int]:
    if any(not 1 <= p <= 65535 for p in ports):
        raise ValueError("must be between 1 and 65535")
    return ports


def _targets(text: str) -> str:
    parse_targets(text)  # raises PolicyError (a ValueError) naming the bad part
    return text


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _domains(value: object) -> object:
    return parse_domains(value) if isinstance(value, str) else value


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return value


def _provider_url(url: str | None) -> str | None:
    return None if url is None else check_provider_url(url)


SQLITE_SYNCHRONOUS = ("normal", "full")


def _sqlite_synchronous(value: str) -> str:
    if value not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"must be normal or full, not {value!r}")
    return value


def _log_level(level: str) -> str:
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    return level


Switch = Annotated[bool, BeforeValidator(_stripped)]
PortList = Annotated[str, AfterValidator(_port_list)]
ImplicitTlsPorts = Annotated[frozenset[int], NoDecode, BeforeValidator(_implicit_tls_ports),
                             AfterValidator(_ports_in_range)]
Domains = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_domains)]
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]


def _unset(text: str) -> dict[str, Any]:
    """What leaving a setting unset means, for `--help` and the README."""
    return {"unset": text}


ENVIRONMENT_ONLY: dict[str, Any] = {"flag": False}
"""A setting with no flag, so its value stays out of shell history and `ps`."""


class Settings(BaseSettings):
    """Everything the service needs to start; built once by the CLI or a test.

    `outbound` and `recipients` are built from the fields; a test may hand ready ones
    (`Settings(outbound=OutboundPolicy(...))`) instead.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port to listen on.")
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        description="Directory for the SQLite database, the key file and the initial "
        "admin password.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the database (postgresql://... or "
        "sqlite:///...).", json_schema_extra=_unset("SQLite in the data dir"))
    sqlite_synchronous: Annotated[str, BeforeValidator(_lower),
                                  AfterValidator(_sqlite_synchronous)] = Field(
        "full", description="SQLite only: when a commit waits for the disk. full (the "
        "default): at every commit, so an answered change survives a power cut; normal: "
        "at checkpoints only (a committed change survives a crash of this process, but "
        "a power cut or operating-system crash may undo the last changes, each whole, "
        "with its audit record), and saves about a millisecond per write.")
    base_path: str = Field(DEFAULT_BASE_PATH, description="Path the API is served under.")
    ca_bundle: FilePath | None = Field(
        None, description="Extra PEM CA certificates trusted for relay TLS (besides the "
        "system store).", json_schema_extra=_unset("none"))
    connect_timeout: float = Field(
        10.0, ge=0.1, description="Seconds to wait for the relay's TCP connection and "
        "greeting.")
    test_timeout: float = Field(
        30.0, ge=0.1, description="Seconds a whole test e-mail conversation may take.")
    auth_domain: str | None = Field(
        None, description="If set, a DOMAIN\\user login must name this domain; otherwise "
        "it is ignored.", json_schema_extra=_unset("none"))
    local_hostname: str | None = Field(
        None, description="Name sent in EHLO.", json_schema_extra=_unset("this host's name"))
    implicit_tls_ports: ImplicitTlsPorts = Field(
        IMPLICIT_TLS_PORTS, description="Ports where UseSSL means TLS from the first byte "
        "(a list like 465, 587 or a range); on other ports UseSSL means STARTTLS.")
    cleartext_credentials: Annotated[CleartextCredentials, BeforeValidator(_lower)] = Field(
        CleartextCredentials.LOOPBACK, description="Where Test and Diagnose may send relay "
        "credentials (Basic AUTH) over a connection without TLS: allow (anywhere), "
        "loopback (only to a relay on this machine) or never.")
    session_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60, description="Minutes a web page sign-in lasts without "
        "activity; each use extends it (sliding) up to --session-max-minutes.")
    session_max_minutes: int = Field(
        720, ge=1, le=30 * 24 * 60, description="Minutes a web page sign-in lasts at most, "
        "however active the user; then the page asks to sign in again.")
    log_level: Annotated[str, AfterValidator(_log_level)] = Field(
        "info", description="debug, info, warning or error.")
    access_log: Switch = Field(
        False, description="Log one line per HTTP request (uvicorn's access log, at info "
        "level). Off by default: every change is in the audit trail already, and the line "
        "costs about a quarter of GET's throughput.")
    audit_retention_days: int = Field(
        365, ge=0, description="Days audit records are kept (pruned at start and hourly); "
        "0 keeps them forever.")
    outbound_hosts: Annotated[str, AfterValidator(_targets)] = Field(
        "", description="Hosts and networks Test and Diagnose may connect to, "
        "comma-separated (smtp.corp.example, *.corp.example, 10.0.0.0/8).",
        json_schema_extra=_unset("any host"))
    outbound_ports: PortList = Field(
        DEFAULT_PORTS, description="Ports Test and Diagnose may connect to "
        "(this service's own port never).")
    allow_link_local: Switch = Field(
        False, description="Let tests reach link-local addresses (169.254.0.0/16, "
        "fe80::/10), where cloud metadata services live.")
    token_endpoint_ports: PortList = Field(
        DEFAULT_TOKEN_PORTS, description="Ports an https OAuth TokenEndpoint "
        "may use (this service's own port never).")
    token_endpoint_http_ports: PortList = Field(
        "", description="Ports a plain-http OAuth TokenEndpoint on this machine "
        "(loopback) may use; unset: plain http is refused.", json_schema_extra=_unset("none"))
    test_recipient_domains: Domains = Field(
        (), description="If set, test messages may only go to these domains "
        "(comma-separated, *.example for subdomains).", json_schema_extra=_unset("any"))
    tests_per_minute: int = Field(
        30, ge=0, description="Tests and diagnoses each user may run per minute, across all "
        "instances; 0: no limit.")
    max_concurrent_tests: int = Field(
        50, ge=1, description="Tests and diagnoses this instance runs at once, for all users "
        "together; beyond it a test is refused with 503 and Retry-After.")
    request_read_timeout: float = Field(
        10.0, ge=0.1, description="Seconds a client has to send a whole request (headers "
        "and body) once it connects or its previous answer ends; a slower connection is "
        "closed.")
    connections_per_address: int = Field(
        100, ge=0, description="Connections one client address (IPv6: one /64) may hold "
        "open at once; more are answered 429 and closed. Trusted proxies are exempt. "
        "0: no limit.")
    tls_cert: FilePath | None = Field(
        None, description="PEM certificate (chain) to serve HTTPS; needs --tls-key.",
        json_schema_extra=_unset("none"))
    tls_key: FilePath | None = Field(
        None, description="PEM private key for --tls-cert.", json_schema_extra=_unset("none"))
    trusted_proxies: CommaList = Field(
        (), description="Addresses of reverse proxies whose X-Forwarded-For/-Proto headers "
        "are believed (comma-separated IPs or networks).", json_schema_extra=_unset("none"))
    basic_auth: Switch = Field(
        True, description="Accept HTTP Basic sign-ins on the API (local users); switch off "
        "to accept only bearer tokens there.")
    oidc_issuer: Annotated[str | None, AfterValidator(_provider_url)] = Field(
        None, description="Issuer URL of the OpenID Connect identity provider whose bearer "
        "tokens the API accepts (https; plain http only on loopback).",
        json_schema_extra=_unset("none: no bearer tokens"))
    oidc_audiences: CommaList = Field(
        (), description="Audiences (aud) a bearer token must name one of, comma-separated; "
        "needed with --oidc-issuer.", json_schema_extra=_unset("none"))
    oidc_user_claims: CommaList = Field(
        ("preferred_username", "sub"), description="Claims that name a token's user, "
        "tried in order (comma-separated).")
    oidc_permission_claims: CommaList = Field(
        ("realm_access.roles", "roles", "scope", "scp"), description="Claims (dotted paths "
        "into nested ones) whose values grant permissions: lists, or space-separated "
        "strings like scope.")
    oidc_read_values: CommaList = Field(
        (), description="Claim values that grant /system_settings/read/ (comma-separated).",
        json_schema_extra=_unset("none"))
    oidc_modify_values: CommaList = Field(
        (), description="Claim values that grant /system_settings/modify/ "
        "(comma-separated).", json_schema_extra=_unset("none"))
    pam_cache_seconds: float = Field(
        30.0, ge=0, le=3600, description="Seconds a value fetched from a PAM provider is "
        "kept in memory for further Tests (0: never kept; a Diagnose always fetches).")
    pam_timeout: float = Field(
        10.0, gt=0, le=120, description="Seconds a PAM provider (or external command) may "
        "take to give one value.")
    oidc_refetch_seconds: float = Field(
        30.0, ge=0, description="Least seconds between two fetches of the provider's keys "
        "when tokens name a key not seen yet.")
    secret_key: str | None = Field(
        None, repr=False,
        description="Base64 AES-256 key for secrets at rest (smtp-profile new-key makes "
        "one).",
        json_schema_extra={**ENVIRONMENT_ONLY,
                           **_unset("key file `<data-dir>/secret.key`")})

    _outbound: OutboundPolicy
    _recipients: RecipientPolicy

    def __init__(self, *, outbound: OutboundPolicy | None = None,
                 recipients: RecipientPolicy | None = None, **values: Any) -> None:
        super().__init__(**values)
        if outbound is None:
            networks, names = parse_targets(self.outbound_hosts)
            outbound = OutboundPolicy(
                ports=parse_ports(self.outbound_ports), networks=networks, names=names,
                allow_link_local=self.allow_link_local,
                token_ports=parse_ports(self.token_endpoint_ports),
                token_http_ports=parse_ports(self.token_endpoint_http_ports))
        self._outbound = outbound
        self._recipients = (RecipientPolicy(self.test_recipient_domains) if recipients is None
                            else recipients)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key (SMTP_PROFILE_TLS_CERT, "
                             "SMTP_PROFILE_TLS_KEY) go together")
        return self

    @model_validator(mode="after")
    def _identity_provider(self) -> Settings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_audiences:
            raise ValueError("--oidc-issuer needs --oidc-audiences (SMTP_PROFILE_OIDC_AUDIENCES)")
        if not (self.oidc_read_values or self.oidc_modify_values):
            raise ValueError("--oidc-issuer needs --oidc-read-values or --oidc-modify-values: "
                             "which role, group or scope values grant the permissions")
        return self

    @property
    def bearer_rules(self) -> TokenRules | None:
        """What bearer tokens must say (None: bearer tokens are not accepted)."""
        if self.oidc_issuer is None:
            return None
        return TokenRules(self.oidc_issuer, self.oidc_audiences)

    @property
    def claim_mapping(self) -> ClaimMapping:
        """How a verified token's claims name its user and grant permissions."""
        return ClaimMapping(self.oidc_user_claims, self.oidc_permission_claims,
                            frozenset(self.oidc_read_values),
                            frozenset(self.oidc_modify_values))

    @property
    def outbound(self) -> OutboundPolicy:
        """Where Test and Diagnose may connect (hosts, ports, token endpoints)."""
        return self._outbound

    @property
    def recipients(self) -> RecipientPolicy:
        """Where test messages may go."""
        return self._recipients

    def serving(self) -> Settings:
        """These settings for `serve`: Test and Diagnose never reach its own port."""
        served = self.model_copy()
        served._outbound = replace(self._outbound, own_ports=frozenset({self.port}))
        return served

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL: the configured one, or SQLite in the data dir."""
        if self.database_url:
            return async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / DATABASE_FILE_NAME).resolve()}"

    @property
    def normalized_base_path(self) -> str:
        path = "/" + self.base_path.strip("/")
        return "" if path == "/" else path


def env_var(name: str) -> str:
    """The environment variable of the setting `name`."""
    return ENV_PREFIX + name.upper()


def flag(name: str) -> str | None:
    """The command-line flag of the setting `name`; None for environment-only ones."""
    extra = _extra(Settings.model_fields[name])
    return None if extra.get("flag") is False else "--" + name.replace("_", "-")


def shown_default(name: str) -> str:
    """The default as `--help` and the README show it: the value, or what unset means."""
    info = Settings.model_fields[name]
    value = info.default
    unset = _extra(info).get("unset")
    if unset is not None and value in (None, "", ()):
        return str(unset)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, frozenset):
        return ",".join(str(port) for port in sorted(value))
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def bounds(name: str) -> str | None:
    """The field's numeric range as click writes it (`x>=0.1`, `1<=x<=10080`)."""
    low = high = None
    for rule in Settings.model_fields[name].metadata:
        if isinstance(rule, Ge):
            low = rule.ge
        elif isinstance(rule, Le):
            high = rule.le
    if low is not None and high is not None:
        return f"{low}<=x<={high}"
    if low is not None:
        return f"x>={low}"
    return None if high is None else f"x<={high}"


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def async_url(url: str) -> str:
    """Map the URLs operators write to the async drivers the service uses."""
    for prefix, driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix):]
    return url


def sync_url(url: str) -> str:
    """The blocking-driver twin of an async URL, for Alembic migrations."""
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)

