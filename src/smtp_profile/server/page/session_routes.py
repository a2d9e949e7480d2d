"""Sign-in, session info and sign-out for the web page.

Every route here wants `x-keyfactor-requested-with: XMLHttpRequest`, the page's header:
a cross-site form can neither sign a victim in to an attacker's account nor sign them out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from smtp_profile.domain.addresses import AddressError, check_mailbox
from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.secrets import Secret
from smtp_profile.server.authentication import SESSION_COOKIE, authenticate, login_name
from smtp_profile.server.body import read_object
from smtp_profile.server.keyfactor_headers import require_page_header
from smtp_profile.server.page.models import SessionOut, SignInIn
from smtp_profile.server.request_state import client_address, runtime_of
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.usecases.accounts import Principal
from smtp_profile.usecases.signin import WRONG_CREDENTIALS
from smtp_profile.wire.binding import bind

SESSION_PATH = "/web/session"
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter()


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def known_address(*names: str) -> str | None:
    """The first of `names` that is an e-mail address (the sign-in name as typed,
    `user@domain`, or a user name that is one); None when the service knows none.
    Users have no address field: this is the only address the service has for them."""
    for name in names:
        try:
            check_mailbox(name)
        except AddressError:
            continue
        return name
    return None


def session_body(principal: Principal, expires_at: datetime | None,
                 ends_by: datetime | None, now: datetime, *,
                 typed: str = "") -> dict[str, object]:
    return SessionOut(
        UserName=principal.name,
        Permissions=sorted(p.value for p in principal.permissions),
        ExpiresAt=_moment(expires_at),
        ExpiresInSeconds=None if expires_at is None
        else max(0, int((expires_at - now).total_seconds())),
        MaxExpiresAt=_moment(ends_by),
        Email=known_address(typed, principal.name),
    ).model_dump(by_alias=True)


@router.post(SESSION_PATH, summary="Sign in to the web page", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    """Check the password (slowed down after failures) and start a session cookie."""
    require_page_header(request, SESSION_PATH)
    data, _ = await read_object(request)
    body = bind(SignInIn, data)
    runtime = runtime_of(request)
    name = login_name(body.user_name.strip(), runtime.settings.auth_domain)
    if name is None:
        raise DomainError(ErrorKind.UNAUTHENTICATED, WRONG_CREDENTIALS)
    principal = (await runtime.sign_in.admit(name, Secret(body.password),
                                             client=client_address(request),
                                             channel="web")).principal
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again replaces the browser's old session, not adds to it
        await runtime.sessions.close(previous)
    opened = await runtime.sessions.open(principal)
    response = KeyfactorJSON(session_body(principal, opened.expires_at, opened.ends_by,
                                          runtime.sessions.now(),
                                          typed=body.user_name.strip()), headers=NO_STORE)
    response.set_cookie(  # the server ends the session; the cookie lasts its longest
        SESSION_COOKIE, opened.token.reveal(),
        max_age=int(runtime.sessions.maximum.total_seconds()), path="/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )
    return response


@router.get(SESSION_PATH, summary="Who is signed in", include_in_schema=False)
async def session_info(request: Request) -> Response:
    """The signed-in user's name and permissions, so the page knows what to offer; like
    any use of the session it extends it (the page calls it while the user is active)."""
    require_page_header(request, SESSION_PATH)
    caller = await authenticate(request)
    return KeyfactorJSON(session_body(caller.principal, caller.expires_at, caller.ends_by,
                                      runtime_of(request).sessions.now()),
                         headers=NO_STORE)


@router.delete(SESSION_PATH, summary="Sign out of the web page", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    """Delete the session on the server and the cookie in the browser."""
    require_page_header(request, SESSION_PATH)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await runtime_of(request).sessions.close(token)
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response
