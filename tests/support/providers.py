"""Microsoft 365 and Google, played on loopback: relays that answer with a provider's
reply at a chosen step, and access tokens with the providers' claim shapes.

The relays are real aiosmtpd servers (`SmtpServer`) whose handler answers one command
with the scripted reply; the names the providers use (smtp.office365.com, smtp.gmail.com)
resolve to 127.0.0.1 through the tests' resolver and are in a certificate from the test
CA, so the service treats the relay as the provider's. The tokens are JWTs signed with a
test key (the service never checks the signature: the relay does); a real identity
provider signs them with its own key.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import trustme
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from tests.support.smtp import Behaviour, LoopThread, RecordingHandler, close_server

PROVIDER_NAMES = ["smtp.office365.com", "outlook.office365.com", "smtp.gmail.com",
                  "contoso-com.mail.protection.outlook.com", "mail.test", "localhost"]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "3f1b9c56-8f5c-4c0e-9b5e-1d2a7c3e4f50"
_SIGNING_KEY = "loopback-identity-provider-test-signing-key"


def provider_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for the providers' relay names."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*PROVIDER_NAMES).configure_cert(context)
    return context


def microsoft_token(now: datetime, *, audience: str = "https://outlook.office365.com",
                    roles: tuple[str, ...] = ("SMTP.SendAsApp",), lifetime: float = 3600,
                    **extra: Any) -> str:
    """An app-only access token shaped like Entra ID's v1 tokens for Exchange Online."""
    claims: dict[str, Any] = {
        "aud": audience, "iss": f"https://sts.windows.net/{TENANT}/", "tid": TENANT,
        "appid": APP_ID, "roles": list(roles), "oid": "0b6c0a9e-5d1f-4a53-9d0e-2c1f6a7b8c9d",
        "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()), "ver": "1.0"}
    claims.update(extra)
    return jwt.encode(claims, _SIGNING_KEY, algorithm="HS256")


@dataclass
class Scripted:
    """The reply a provider relay gives at one step (`auth`, `mail_from`, `rcpt_to`,
    `data`); every other command is accepted."""

    step: str
    reply: str


class ProviderHandler(RecordingHandler):
    """Answers the scripted step with the provider's reply, as the provider would."""

    def __init__(self, behaviour: Behaviour, scripted: Scripted) -> None:
        super().__init__(behaviour)
        self.scripted = scripted

    async def handle_AUTH(self, server: SMTP, session: Session, envelope: Envelope,
                          args: list[str]) -> Any:
        if self.scripted.step != "auth":
            return MISSING
        if args[0].upper() == "LOGIN" and len(args) == 1:
            await server.challenge_auth("Username:")
            await server.challenge_auth("Password:")
        elif args[0].upper() == "LOGIN":
            await server.challenge_auth("Password:")
        return self.scripted.reply

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        if self.scripted.step == "mail_from":
            return self.scripted.reply
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.scripted.step == "rcpt_to":
            return self.scripted.reply
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.scripted.step == "data":
            self.behaviour.data_commands += 1
            return self.scripted.reply
        return await super().handle_DATA(server, session, envelope)


class _LongLines(SMTP):
    """aiosmtpd with room for a JWT in AUTH XOAUTH2: Entra ID's tokens run to a few
    kilobytes, and Exchange Online takes them; aiosmtpd's default line is 512 bytes."""

    command_size_limit = 16384
    command_size_limits = collections.defaultdict(lambda: 16384)  # noqa: RUF012
    line_length_limit = 16384


class ProviderRelay:
    """A real aiosmtpd relay with STARTTLS on 127.0.0.1, answering like a provider: the
    `scripted` step gets the provider's reply, AUTH PLAIN/LOGIN checks `behaviour.users`,
    AUTH XOAUTH2 accepts `behaviour.xoauth2_tokens`."""

    def __init__(self, loop: LoopThread, context: ssl.SSLContext, behaviour: Behaviour,
                 scripted: Scripted | None = None) -> None:
        self.loop = loop
        self.behaviour = behaviour
        self.handler = (ProviderHandler(behaviour, scripted) if scripted
                        else RecordingHandler(behaviour))
        excluded = [] if behaviour.xoauth2_tokens is not None else ["XOAUTH2"]
        kwargs: dict[str, Any] = {"hostname": "relay.provider.test", "auth_require_tls": False,
                                  "tls_context": context, "auth_exclude_mechanism": excluded}
        if behaviour.users:
            kwargs["authenticator"] = self._authenticate

        def factory() -> SMTP:
            return _LongLines(self.handler, loop=loop.loop, **kwargs)

        self.server: asyncio.AbstractServer = loop.run(
            loop.loop.create_server(factory, "127.0.0.1", 0))
        self.port: int = self.server.sockets[0].getsockname()[1]

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.behaviour.users.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    @property
    def received(self) -> list[Any]:
        return self.handler.received

    def close(self) -> None:
        close_server(self.loop, self.server)
