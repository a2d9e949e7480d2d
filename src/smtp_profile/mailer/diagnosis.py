"""What went wrong at a step, in plain words, and what to do about it.

Every explanation is chosen from evidence the conversation actually observed (an errno,
an OpenSSL verify code, a reply code, the extensions offered), never guessed from the
configuration alone. Each explanation is a failure of the stage it belongs to
(`failures.py`); the ones that fit any stage (a refusal reply, a hang-up, a timeout)
take the step.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from smtp_profile.domain.cleartext import SETTING as CLEARTEXT_SETTING
from smtp_profile.domain.cleartext import CleartextCredentials
from smtp_profile.domain.providers import ReplyEntry
from smtp_profile.domain.steps import STEP_LABELS, StepName
from smtp_profile.mailer.catalogue import catalogue
from smtp_profile.mailer.failures import (
    AuthFailed,
    BannerFailed,
    CertificateFailed,
    ConnectFailed,
    MailFromFailed,
    ResolveFailed,
    StarttlsFailed,
    StepFailure,
    TlsFailed,
    failure_at,
)

PORT_ADVICE = "Usual ports: 25 (relay), 587 (submission with STARTTLS), 465 (implicit TLS)."


def resolve_failed(host: str, exc: OSError) -> ResolveFailed:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return ResolveFailed(
        f"the host name {host!r} does not resolve ({reason})",
        hint="Check the spelling of Host, or use the relay's IP address; the machine "
        "running this service must be able to resolve the name.",
    )


def wrong_resolution(resolved: str, host: str) -> ResolveFailed:
    """The lookup handed in was judged for another name: connect to nothing."""
    return ResolveFailed(f"the addresses passed in are for {resolved!r}, not {host!r}")


def no_addresses(host: str) -> ResolveFailed:
    return ResolveFailed(f"the host name {host!r} resolved to no usable address")


def connect_failed(port: int, attempts: list[tuple[str, BaseException]],
                   timeout: float,
                   other_ports: list[PortAnswer] | None = None) -> ConnectFailed:
    """No address took the connection. `other_ports`: what the other usual submission
    ports of the same host said, probed after a timeout (see `probes.other_ports`)."""
    summary = "; ".join(f"{ip}: {_connect_reason(exc, timeout)}" for ip, exc in attempts)
    last = attempts[-1][1]
    details: dict[str, object] = {
        "attempts": [ip for ip, _ in attempts],
        "addresses": [{"address": ip, "port": port, "result": _connect_result(exc)}
                      for ip, exc in attempts]}
    if isinstance(last, ConnectionRefusedError):
        hint = f"Nothing listens on port {port} at that address. {PORT_ADVICE}"
    elif isinstance(last, TimeoutError):
        hint = ("No answer at all: a firewall may be dropping the connection, or the host "
                "is down. Check that this machine may reach the relay on that port.")
        if other_ports is not None:
            details["other_ports"] = [
                {"address": a.address, "port": a.port, "result": a.result}
                for a in other_ports]
            hint = _blocked_port_hint(port, other_ports) or hint
    else:
        hint = "Check the network path from this machine to the relay."
    return ConnectFailed(f"could not connect to port {port} ({summary})", hint=hint,
                         details=details)


@dataclass(frozen=True)
class PortAnswer:
    """What one other port of the relay's host said to a bare TCP connection."""

    address: str
    port: int
    result: str
    """`answers`, `refused`, `silent`, or the system's reason."""


def _connect_result(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "silent"
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or "error"


_PORT_USE = {465: "with UseSSL (implicit TLS)", 587: "with UseSSL (STARTTLS)",
             25: "(STARTTLS if offered)", 2525: "(STARTTLS if offered)"}


def _blocked_port_hint(port: int, answers: list[PortAnswer]) -> str | None:
    """`port 25 is silent but 587 answers`: the silent port is blocked on the way out."""
    if not answers:
        return None
    order = [587, 465, 2525, 25]
    answering = sorted({a.port for a in answers if a.result == "answers"},
                       key=lambda p: (order.index(p) if p in order else len(order), p))
    if answering:
        listed = " and ".join(str(p) for p in answering)
        verb = "answers" if len(answering) == 1 else "answer"
        first = answering[0]
        return (f"Port {port} is silent but {listed} {verb}: outbound port {port} is "
                f"probably blocked here (by a firewall or the hosting provider). Ask for it "
                f"to be opened, or use port {first} {_PORT_USE.get(first, '')}".rstrip()
                + ".")
    refusing = sorted({a.port for a in answers if a.result == "refused"})
    if refusing:
        listed = ", ".join(str(p) for p in refusing)
        return (f"Port {port} is silent while {listed} refuse the connection: the host is "
                f"reachable, so port {port} is probably filtered (by a firewall here or in "
                f"front of the relay). Check that the relay listens on port {port} and that "
                "this machine may reach it.")
    ports = ", ".join(str(p) for p in sorted({a.port for a in answers}))
    return (f"Port {port} is silent and so are the other usual submission ports ({ports}): "
            "the host is down, or this machine cannot reach it at all (routing, firewall, "
            "proxy-only network).")


def _connect_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def silent_server(seconds: float, *, speaks_tls: bool, port: int) -> BannerFailed:
    message = f"the server accepted the connection but sent no greeting within {seconds:g} s"
    if speaks_tls:
        return BannerFailed(
            message,
            hint=f"Port {port} expects TLS from the first byte (implicit TLS, as on port "
            "465): a TLS handshake on it succeeds. Set UseSSL with the implicit-TLS port, "
            "or use the relay's STARTTLS port (587 or 25).",
            details={"speaks_tls": True},
        )
    return BannerFailed(
        message,
        hint="An SMTP server greets at once. This port accepts TCP but says nothing and "
        "does not speak TLS either: it is probably another service, or a firewall or "
        "proxy is holding the connection.",
        details={"speaks_tls": False},
    )


def not_smtp_server(step: StepName, answer_to: str | None = None) -> StepFailure:
    """The peer answered with something that is not an SMTP reply; never echo it.

    `answer_to` names what was answered when it is not the step's own command."""
    return failure_at(step)(
        f"not an SMTP server: the answer to {answer_to or STEP_LABELS[step]} is not an "
        "SMTP reply",
        hint="The host and port reach another kind of service (web, database, ...). "
        "Check the relay's host name and port.",
    )


_PLAINTEXT_MARKERS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                      "HTTP_REQUEST", "UNKNOWN_PROTOCOL")


def answered_in_plain_text(exc: BaseException) -> bool:
    """True when OpenSSL saw a non-TLS record where the server's hello should be."""
    reason = str(getattr(exc, "reason", None) or exc).upper()
    return any(marker in reason for marker in _PLAINTEXT_MARKERS)


def plaintext_reply_to_tls(exc: BaseException, *, port: int,
                           greets_smtp: bool | None) -> TlsFailed:
    reason = getattr(exc, "reason", None) or str(exc)
    if greets_smtp:
        return TlsFailed(
            f"the server answered the TLS handshake with a plain-text SMTP greeting ({reason})",
            hint=f"Port {port} speaks plain SMTP first and upgrades with STARTTLS, so TLS "
            "from the first byte fails. Use UseSSL on this port as STARTTLS (only "
            "implicit-TLS ports such as 465 start with TLS), or use the relay's implicit-TLS "
            "port.",
            details={"plain_smtp_greeting": True},
        )
    return TlsFailed(
        f"not an SMTP server over TLS: the answer to the TLS handshake is not TLS ({reason})",
        hint="The host and port reach a service that neither speaks TLS nor greets like an "
        "SMTP server. Check the relay's host name and port.",
        details={"plain_smtp_greeting": False},
    )


def tls_no_answer(seconds: float) -> TlsFailed:
    return TlsFailed(
        f"no answer to the TLS handshake within {seconds:g} s",
        hint="The port accepted the connection but does not answer TLS: it may be "
        "another service, or a firewall is holding the connection.",
    )


def tls_failed(step: StepName, exc: BaseException) -> StepFailure:
    """The handshake (implicit TLS, or after STARTTLS) failed; OpenSSL's reason says why."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    text = str(reason).upper()
    if any(marker in text for marker in ("UNSUPPORTED_PROTOCOL", "PROTOCOL_VERSION",
                                         "NO_PROTOCOLS_AVAILABLE")):
        return failure_at(step)(
            f"no TLS version in common with the server ({reason})",
            hint="This service requires TLS 1.2 or newer; the relay must be upgraded.",
        )
    return failure_at(step)(f"the TLS handshake failed ({reason})",
                       hint="The relay's TLS configuration refused this client.")


def tls_disconnected(*, implicit: bool) -> TlsFailed | StarttlsFailed:
    return (TlsFailed if implicit else StarttlsFailed)(
        "the server closed the connection during the TLS handshake",
        hint="The server may not speak TLS on this port, or it refused this client's TLS "
        "versions and ciphers." if implicit else
        "The server offered STARTTLS but dropped the handshake; check its TLS setup.",
    )


# OpenSSL X509 verify codes (include/openssl/x509_vfy.h) that have a specific hint.
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (2, 20, 21)
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


def certificate_failed(exc: ssl.SSLCertVerificationError, host: str, trust_source: str,
                       certificate: dict[str, object]) -> CertificateFailed:
    code = exc.verify_code
    reason = exc.verify_message or str(exc)
    details: dict[str, object] = {**certificate, "trusted": False, "verify_code": code,
                                  "reason": reason}
    if code == _EXPIRED:
        message = "the relay's certificate has expired"
        hint = "The relay administrator must renew the certificate."
        if "not_after" in certificate:
            message += f" (on {str(certificate['not_after'])[:10]})"
            reason = "certificate has expired"
    elif code == _NOT_YET_VALID:
        message = "the relay's certificate is not valid yet"
        hint = "Check the clock of this machine and of the relay."
    elif code in (_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN):
        message = "the relay's certificate is self-signed"
        hint = (f"If you trust it, add the certificate (or its CA) to {trust_source}; "
                "otherwise the relay needs a certificate from a trusted CA.")
    elif code in _UNKNOWN_ISSUER:
        message = "the relay's certificate is signed by a CA this service does not trust"
        hint = f"Add the issuing CA's certificate to {trust_source}."
    elif code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        message = f"the relay's certificate is not valid for {host!r}"
        names = certificate.get("subject_alt_names")
        listed = f" ({', '.join(map(str, names))})" if isinstance(names, list) and names else ""
        hint = (f"Set Host to a name the certificate lists{listed}, or have the relay "
                "present a certificate for this name.")
        details["host_matches"] = False
    else:
        message = "the relay's certificate was refused"
        hint = f"If the relay is yours, check its certificate chain and {trust_source}."
    return CertificateFailed(f"{message} ({reason})", hint=hint, details=details)


def pin_mismatch(expected: str, certificate: dict[str, object]) -> CertificateFailed:
    return CertificateFailed(
        "the relay's certificate does not match the pinned SHA-256 fingerprint",
        hint="The relay presented another certificate than the one pinned: it was renewed, "
        "or the connection is intercepted. Check with the relay's administrator before "
        "pinning the new fingerprint.",
        details={**certificate, "trusted": False, "pinned_sha256": expected},
    )


def starttls_not_offered() -> StarttlsFailed:
    return StarttlsFailed(
        "UseSSL is set but the server does not offer STARTTLS",
        hint=f"Use the relay's TLS port, or clear UseSSL only if the network path is "
        f"trusted. {PORT_ADVICE}",
    )


def auth_not_offered(*, tls_active: bool, starttls_offered: bool) -> AuthFailed:
    if not tls_active and starttls_offered:
        hint = ("The server offers STARTTLS; most servers offer AUTH only after it. "
                "Set UseSSL.")
    else:
        hint = ("This port does not take authenticated submissions. Use Anonymous "
                "(RelayAuthenticationType 0) if the relay trusts this machine, or the "
                "submission port 587.")
    return AuthFailed("the server does not offer AUTH", hint=hint)


def cleartext_refused(reason: str, policy: CleartextCredentials) -> AuthFailed:
    """AUTH not attempted: the operator forbids credentials without TLS to this address.

    `details.refused_by` names the setting, so a page can explain the refusal."""
    return AuthFailed(reason, hint=(
        "Use TLS: STARTTLS on port 587 (or 25) or TLS from the first byte on port 465 "
        "(UseSSL on). Only the operator of this service can change the setting."),
        details={"refused_by": CLEARTEXT_SETTING, "setting": policy.value})


def mechanism_not_offered(mechanism: str, offered: list[str]) -> AuthFailed:
    return AuthFailed(
        f"AUTH {mechanism} was chosen but the server offers only "
        f"{' '.join(offered) or '(none)'}",
        hint="Set the mechanism back to auto, or to one the server offers.",
    )


def no_common_mechanism(offered: list[str], supported: list[str]) -> AuthFailed:
    return AuthFailed(
        f"the server offers AUTH {' '.join(offered) or '(none)'}, none of which this "
        f"service supports ({', '.join(supported)})",
        hint="Enable AUTH PLAIN or LOGIN on the relay (over TLS).",
    )


def smtputf8_unsupported() -> MailFromFailed:
    return MailFromFailed(
        "an address has non-ASCII characters before the @ but the server does not offer "
        "SMTPUTF8",
        hint="Use an ASCII address, or a relay that supports SMTPUTF8.",
    )


def timed_out(step: StepName, seconds: float) -> StepFailure:
    """The whole test ran out of time while `step` was running."""
    return failure_at(step)(
        f"no answer during {STEP_LABELS[step]} within the test time limit of {seconds:g} s",
        hint="The relay or the network stalled; a firewall or a proxy may be holding the "
        "connection open.",
    )


def read_timed_out(step: StepName, waiting_for: str | None = None) -> StepFailure:
    return failure_at(step)(
        f"the server did not answer {waiting_for or STEP_LABELS[step]} in time",
        hint="The relay stalled mid-conversation; try again, and check its load and logs.",
    )


def disconnected(step: StepName, during: str | None = None) -> StepFailure:
    return failure_at(step)(
        f"the server closed the connection during {during or STEP_LABELS[step]}",
        hint="Check the relay's logs for why it dropped this client.")


def network_error(step: StepName, exc: OSError) -> StepFailure:
    return failure_at(step)(
        f"network error during {STEP_LABELS[step]}: {exc.strerror or exc}")


def reply_failed(step: StepName, code: int, text: str, *, sender: str | None = None,
                 username: str | None = None, tls_active: bool = False,
                 mechanism: str | None = None) -> StepFailure:
    """A refusal reply at `step`, explained; a reply the provider catalogue knows gets
    the catalogue's explanation, any other the generic one.

    aiosmtplib reports a line that is not an SMTP reply with code -1; its text is
    whatever the peer sent, so it is dropped here rather than echoed.
    """
    if code < 0:
        return not_smtp_server(step)
    message, hint = _reply_explanation(step, code, text, sender=sender, username=username,
                                       tls_active=tls_active)
    entry = known_reply(step, code, text, mechanism=mechanism) if code != 421 else None
    if entry is not None:
        return catalogued(failure_at(step)(message, reply_code=code, reply_text=text), entry)
    return failure_at(step)(message, hint=hint, reply_code=code, reply_text=text)


def known_reply(step: StepName, code: int, text: str, *,
                mechanism: str | None = None) -> ReplyEntry | None:
    """The provider catalogue's entry for this reply at this step, if any."""
    return catalogue().reply(step, code, text, mechanism=mechanism)


def catalogued(failure: StepFailure, entry: ReplyEntry) -> StepFailure:
    """`failure` explained by a catalogue entry: its meaning, hint and documentation."""
    provider = catalogue().providers[entry.provider].name
    failure.message = f"{failure.message} ({provider}: {entry.meaning})"
    failure.args = (failure.message,)
    failure.hint = entry.full_hint
    failure.details.update({"catalogue_entry": entry.id,
                            "catalogue_version": catalogue().version})
    if entry.link:
        failure.details["documentation"] = entry.link
    return failure


def _reply_explanation(step: StepName, code: int, text: str, *, sender: str | None,
                       username: str | None, tls_active: bool) -> tuple[str, str | None]:
    lowered = text.lower()
    if code == 421:
        return ("the server is closing the connection (421)",
                "The relay is busy, shutting down, or refusing this client; try later.")
    if step is StepName.BANNER:
        return (f"the server refused the connection ({code})",
                "The relay does not accept connections from this machine.")
    if step is StepName.EHLO:
        return (f"the server refused EHLO ({code})",
                "The relay may not speak ESMTP or refuses this client's name.")
    if step is StepName.STARTTLS:
        return (f"the server refused STARTTLS ({code})", None)
    if step is StepName.AUTH:
        if code == 504 or "5.7.4" in text:
            return ("the server refused the authentication mechanism",
                    "Some servers mis-handle one mechanism (Exchange: 504 5.7.4); "
                    "try the other of PLAIN and LOGIN.")
        if code == 530 or ("starttls" in lowered and not tls_active):
            return ("the server requires STARTTLS before AUTH", "Set UseSSL.")
        if code == 534 or "5.7.9" in text:
            return ("the server wants a stronger login for this account",
                    "The provider requires OAuth or an app password for this mailbox.")
        return ("the server rejected the credentials",
                "Check RelayUsername and RelayPassword. Some providers need an app "
                "password, or have SMTP AUTH switched off for the mailbox.")
    if step is StepName.MAIL_FROM:
        if code == 552:
            return ("the server refused the message size announced in MAIL FROM",
                    "The relay's size limit is smaller than the test message.")
        hint = ("The relay refused SenderAccount. Use an address the relay accepts for "
                "this machine.")
        if username and sender and sender.lower() != username.lower():
            hint = (f"The relay refused SenderAccount {sender!r}; authenticated relays "
                    f"usually require the sender to be the authenticated mailbox "
                    f"({username!r}) or one it may send as.")
        return (f"the server refused the sender ({code})", hint)
    if step is StepName.RCPT_TO:
        if code in (550, 551, 553, 554) and ("relay" in lowered or "5.7.1" in text
                                             or "5.7.54" in text):
            return ("the server refused to relay to the recipient",
                    "The relay does not deliver to this domain for this client: "
                    "authenticate, or allow this machine's address to relay.")
        if 400 <= code < 500:
            return (f"the server deferred the recipient ({code})",
                    "A temporary refusal (greylisting, rate limit): try again later.")
        return (f"the server refused the recipient ({code})",
                "Check TestRecipient; the relay does not accept it.")
    if step is StepName.DATA:
        if code == 552 or "5.3.4" in text:
            return ("the server refused the message as too large",
                    "The relay's size limit is smaller than the test message.")
        if code == 554 or code >= 550:
            return (f"the server refused the message ({code})",
                    "The relay's content or policy checks rejected the test message; "
                    "its reply and logs say why.")
        return (f"the server did not accept the message ({code})", None)
    if step is StepName.QUIT:
        return (f"the server answered QUIT with {code}", None)
    return (f"the server replied {code}", None)



# -- the relay client certificate --------------------------------------------------------

_ALERT_HINTS = {
    "unknown_ca": "The relay does not trust the certificate's issuer ({issuer}): add that CA "
                  "to the CAs the relay accepts client certificates from (Postfix: "
                  "smtpd_tls_CAfile), or use a certificate from a CA it trusts.",
    "certificate_expired": "The relay says the certificate has expired (not after "
                           "{not_after}): set a renewed one.",
    "unsupported_certificate": "The relay refuses the certificate's usage: a client "
                               "certificate needs clientAuth in its Extended Key Usage{eku}.",
    "bad_certificate": "The relay could not verify the certificate (its signature, chain or "
                       "usage){eku}; check the chain sent with it and its clientAuth usage.",
    "certificate_unknown": "The relay refused the certificate for a reason it did not name"
                           "{eku}; its TLS log says which.",
    "certificate_revoked": "The relay says the certificate is revoked: set a new one.",
    "access_denied": "The relay verified the certificate but does not admit it.",
    "certificate_required": "The relay requires a client certificate and none was "
                            "presented.",
}


def client_certificate_refused(failure: StepFailure, facts: dict[str, object],
                               alerts: list[str]) -> StepFailure:
    """The relay answered the client certificate with a fatal alert: say which and why."""
    eku = ("; this certificate has no clientAuth usage"
           if facts.get("client_auth_usage") is False else "")
    hint = " ".join(_ALERT_HINTS.get(name, "The relay refused the certificate.").format(
        issuer=facts.get("issuer"), not_after=facts.get("not_after"), eku=eku)
        for name in dict.fromkeys(alerts))
    return failure_at(failure.step)(
        f"the relay refused the client certificate ({', '.join(alerts)}): {failure.message}",
        hint=hint, reply_code=failure.reply_code, reply_text=failure.reply_text,
        details={**failure.details, "client_certificate_refused": alerts})


def client_certificate_dropped(failure: StepFailure,
                               facts: dict[str, object]) -> StepFailure:
    """The connection ended right after the certificate was sent, with no alert seen."""
    reasons = []
    if facts.get("expired"):
        reasons.append("it has expired")
    if facts.get("client_auth_usage") is False:
        reasons.append("it has no clientAuth in its Extended Key Usage")
    known = f" This certificate: {'; '.join(reasons)}." if reasons else ""
    return failure_at(failure.step)(
        f"{failure.message}, after this client certificate was sent",
        hint="The relay asked for a client certificate and closed the connection once it "
             "had it, without a TLS alert this service could read: it most likely refused "
             "it (an issuer it does not trust, an expired certificate, or no clientAuth "
             f"usage).{known} The relay's TLS log names the reason.",
        reply_code=failure.reply_code, reply_text=failure.reply_text,
        details=failure.details)


def client_certificate_missing(failure: StepFailure, withheld: str | None) -> StepFailure:
    """Refused after a handshake in which the relay asked for a certificate we lacked."""
    why = (withheld if withheld else
           "No client certificate is stored.")
    return failure_at(failure.step)(
        failure.message,
        hint=f"The relay asked for a client certificate during the TLS handshake and none "
             f"was presented; it may relay only for a known certificate. {why} Set one "
             "with `smtp-profile client-cert set` or PUT /KeyfactorAPI/SMTP/"
             "ClientCertificate." + (f" {failure.hint}" if failure.hint else ""),
        reply_code=failure.reply_code, reply_text=failure.reply_text,
        details=failure.details)


def client_certificate_not_requested(failure: StepFailure) -> StepFailure:
    """Refused; the certificate was ready but the relay never asked for it."""
    return failure_at(failure.step)(
        failure.message,
        hint="A client certificate is set, but the relay never asked for one during the "
             "TLS handshake, so it was not presented: a relay that relays by certificate "
             "must request it (Postfix: smtpd_tls_ask_ccert = yes)."
             + (f" {failure.hint}" if failure.hint else ""),
        reply_code=failure.reply_code, reply_text=failure.reply_text,
        details=failure.details)


def client_certificate_not_admitted(failure: StepFailure,
                                    facts: dict[str, object]) -> StepFailure:
    """Refused although the relay asked for and received the certificate."""
    return failure_at(failure.step)(
        failure.message,
        hint="The relay asked for and received the client certificate (SHA-256 "
             f"{facts.get('sha256')}) but does not relay for it: add its fingerprint to "
             "the relay's list of known certificates (Postfix: relay_clientcerts with "
             "permit_tls_clientcerts), or its issuer for permit_tls_all_clientcerts."
             + (f" {failure.hint}" if failure.hint else ""),
        reply_code=failure.reply_code, reply_text=failure.reply_text,
        details=failure.details)


def client_certificate_unloadable(step: StepName, exc: BaseException) -> StepFailure:
    return failure_at(step)(
        f"the client certificate could not be loaded ({exc})",
        hint="Set the client certificate again (PUT /KeyfactorAPI/SMTP/ClientCertificate).")
