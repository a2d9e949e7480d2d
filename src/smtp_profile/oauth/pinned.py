"""An httpx transport that connects only to the addresses a policy has judged.

httpx would look the token endpoint's name up again when it connects, and a name can
answer differently the second time (DNS rebinding). This transport keeps the URL as it
is, so the Host header, SNI and the certificate check all use the endpoint's name, but
its network backend connects to the vetted addresses, in order, and to nothing else:
another host or port (a redirect, should one ever be followed) fails to connect.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence

import httpcore
import httpx

from smtp_profile.domain.addresses import AddressError, ascii_host
from smtp_profile.mailer.resolver import ResolvedAddress


def same_host(url_host: str, vetted_host: str) -> bool:
    """Whether the host httpcore connects to is the one that was looked up."""
    try:
        return ascii_host(url_host.strip("[]")) == ascii_host(vetted_host)
    except AddressError:
        return False


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects `host`:`port` to the vetted addresses instead of looking the name up."""

    def __init__(self, host: str, port: int, addresses: Sequence[ResolvedAddress]) -> None:
        self.host = host
        self.port = port
        self.addresses = list(addresses)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 - httpcore's API
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        if port != self.port or not same_host(host, self.host):
            raise httpcore.ConnectError(
                f"{host}:{port} is not the token endpoint that was looked up and judged")
        failure: Exception = httpcore.ConnectError("the token endpoint has no address")
        for address in self.addresses:
            try:
                return await self._inner.connect_tcp(
                    address.ip, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
            self, path: str, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's
            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("token endpoints are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its error mapping included) on a `PinnedBackend`."""

    def __init__(self, *, ssl_context: ssl.SSLContext, host: str, port: int,
                 addresses: Sequence[ResolvedAddress]) -> None:
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        self.backend = PinnedBackend(host, port, addresses)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, http1=True, http2=False, retries=0,
            network_backend=self.backend)
