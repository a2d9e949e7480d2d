"""One interface to the profile and its relay options for the CLI: local, or over HTTP.

Both speak the version-2 JSON shapes of the API, so the CLI prints the same thing either
way: `LocalClient` runs the use cases in-process through the same wire encoders the API
uses; `RemoteClient` calls a running server (Basic auth, Keyfactor headers) and streams a
diagnosis as NDJSON so steps appear as they happen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from smtp_profile.domain.actor import Actor
from smtp_profile.domain.audit import AuditAction
from smtp_profile.domain.errors import DomainError, ValidationFailed
from smtp_profile.domain.pam import provider_id_problem
from smtp_profile.runtime import Runtime
from smtp_profile.wire import v2
from smtp_profile.wire.client_certificate import (
    client_certificate_etag,
    client_certificate_version,
    decode_client_certificate,
    encode_client_certificate,
)
from smtp_profile.wire.pam import decode_provider, encode_provider, encode_types, provider_id_of
from smtp_profile.wire.report import (
    decode_diagnose,
    decode_options,
    encode_options,
    encode_report,
    encode_status,
    encode_step,
    options_etag,
    options_version,
)
from smtp_profile.wire.service_account import (
    decode_service_account,
    encode_service_account,
    service_account_etag,
    service_account_version,
)

StepCallback = Callable[[dict[str, Any]], None]
SERVICE_ACCOUNT_PATH = "/SMTP/OAuth/ServiceAccount"

if TYPE_CHECKING:
    import httpx


class ClientError(Exception):
    """The service refused the request; carries its ErrorCode and Message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProfileClient(Protocol):
    async def get(self) -> dict[str, Any]: ...

    async def put(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def status(self) -> dict[str, Any]: ...

    async def diagnose(self, body: dict[str, Any], on_step: StepCallback) -> dict[str, Any]: ...

    async def options(self) -> tuple[dict[str, Any], str]:
        """The relay options (GET /SMTP/Options) and their ETag."""
        ...

    async def put_options(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]:
        """Replace the relay options; with `etag`, refused if they changed since."""
        ...

    async def service_account(self) -> tuple[dict[str, Any], str]:
        """The Google service account key without its private key, and its ETag."""
        ...

    async def put_service_account(self, body: dict[str, Any],
                                  etag: str | None) -> dict[str, Any]: ...

    async def delete_service_account(self, etag: str | None) -> dict[str, Any]: ...

    async def client_certificate(self) -> tuple[dict[str, Any], str]:
        """The relay client certificate (never its key) and its ETag."""
        ...

    async def set_client_certificate(self, body: dict[str, Any] | None,
                                     etag: str | None) -> dict[str, Any]:
        """Store the certificate in `body` (a PUT body); None removes it."""
    async def pam(self, method: str, path: str = "",
                  body: dict[str, Any] | None = None) -> Any:
        """The PAM provider routes: `method` on /PamProviders`path` (GET, POST, PUT,
        DELETE; `path` "", "/Types" or "/<id>"), answered in their JSON shapes."""
        ...

    async def close(self) -> None: ...


class LocalClient:
    """The profile in a data dir or database, as the actor `user` (audit records name it)."""

    def __init__(self, runtime: Runtime, user: str) -> None:
        self._runtime = runtime
        self._actor = Actor(user, "local")

    async def get(self) -> dict[str, Any]:
        return v2.encode_profile((await self._runtime.service.get()).profile)

    async def put(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            stored = await self._runtime.service.replace(v2.decode_profile(body),
                                                         actor=self._actor)
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        return v2.encode_profile(stored.profile)

    async def status(self) -> dict[str, Any]:
        current = await self._runtime.service.status()
        stored = current.stored
        settings = self._runtime.settings
        return encode_status(stored.profile, stored.version, stored.updated_at,
                             stored.updated_by, current.options, current.last_test,
                             current.warnings,
                             implicit_tls_ports=settings.implicit_tls_ports,
                             cleartext=settings.cleartext_credentials)

    async def diagnose(self, body: dict[str, Any], on_step: StepCallback) -> dict[str, Any]:
        service = self._runtime.service
        try:
            request = decode_diagnose(body, version=2)
            prepared = await service.prepare_test(
                request.draft, request.recipient, actor=self._actor,
                action=AuditAction.DIAGNOSE, mode=request.mode, mechanism=request.mechanism)
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        outcome = await service.run_test(prepared, actor=self._actor,
                                         action=AuditAction.DIAGNOSE,
                                         on_step=lambda step: on_step(encode_step(step)))
        return encode_report(outcome.report)

    async def options(self) -> tuple[dict[str, Any], str]:
        stored = await self._runtime.service.options()
        return encode_options(stored.options), options_etag(stored.version)

    async def put_options(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]:
        try:
            stored = await self._runtime.service.set_options(
                decode_options(body), actor=self._actor, expected_version=options_version(etag))
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        return encode_options(stored.options)

    async def service_account(self) -> tuple[dict[str, Any], str]:
        stored = await self._runtime.service_accounts.get()
        return encode_service_account(stored), service_account_etag(stored.version)

    async def put_service_account(self, body: dict[str, Any],
                                  etag: str | None) -> dict[str, Any]:
        try:
            upload = decode_service_account(body)
            stored = await self._runtime.service_accounts.upload(
                upload.key_file, host=upload.host, port=upload.port, use_ssl=upload.use_ssl,
                actor=self._actor, expected_version=service_account_version(etag))
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        return encode_service_account(stored)

    async def delete_service_account(self, etag: str | None) -> dict[str, Any]:
        try:
            stored = await self._runtime.service_accounts.delete(
                actor=self._actor, expected_version=service_account_version(etag))
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        return encode_service_account(stored)

    async def client_certificate(self) -> tuple[dict[str, Any], str]:
        view = await self._runtime.client_certificates.view()
        return encode_client_certificate(view), client_certificate_etag(view.stored.version)

    async def set_client_certificate(self, body: dict[str, Any] | None,
                                     etag: str | None) -> dict[str, Any]:
        certificates = self._runtime.client_certificates
        try:
            expected = client_certificate_version(etag)
            view = (await certificates.remove(actor=self._actor, expected_version=expected)
                    if body is None else
                    await certificates.set(decode_client_certificate(body),
                                           actor=self._actor, expected_version=expected))
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None
        return encode_client_certificate(view)
    async def pam(self, method: str, path: str = "",
                  body: dict[str, Any] | None = None) -> Any:
        pam = self._runtime.pam
        try:
            if path == "/Types":
                return encode_types(pam.types())
            if method == "GET" and not path:
                return [encode_provider(p, _type(pam, p.type_name)) for p in await pam.list()]
            if method == "GET":
                provider = await pam.get(int(path.strip("/")))
                return encode_provider(provider, _type(pam, provider.type_name))
            if method == "DELETE":
                await pam.delete(int(path.strip("/")), actor=self._actor)
                return None
            data = body or {}
            if method == "POST":
                draft, _ = decode_provider(data, pam.types())
                provider = await pam.create(draft, actor=self._actor)
            else:
                provider_id = provider_id_of(data) or 0
                problem = provider_id_problem(provider_id)
                if problem is not None:
                    raise ValidationFailed([problem])
                current = await pam.get(provider_id)
                draft, _ = decode_provider(data, pam.types(),
                                           default_type=pam.type_of(current.type_name))
                provider = await pam.update(provider_id, draft, actor=self._actor)
            return encode_provider(provider, _type(pam, provider.type_name))
        except DomainError as exc:
            raise ClientError(exc.kind.code, exc.message) from None

    async def close(self) -> None:
        await self._runtime.close()


class RemoteClient:
    """A running smtp-profile (or any server speaking these routes) at `url`."""

    def __init__(self, url: str, user: str, password: str, base_path: str,
                 *, verify: bool | str = True) -> None:
        import httpx  # here, not at the top: `serve` imports this module and needs no client

        self._base = base_path
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), auth=(user, password), verify=verify,
            timeout=httpx.Timeout(10.0, read=300.0),
            headers={"x-keyfactor-requested-with": "APIClient",
                     "x-keyfactor-api-version": "2"},
        )

    async def get(self) -> dict[str, Any]:
        return await self._json("GET", "/SMTP")

    async def put(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json("PUT", "/SMTP", body)

    async def status(self) -> dict[str, Any]:
        return await self._json("GET", "/SMTP/Status")

    async def diagnose(self, body: dict[str, Any], on_step: StepCallback) -> dict[str, Any]:
        async with self._http.stream("POST", f"{self._base}/SMTP/Diagnose", json=body,
                                     headers={"accept": "application/x-ndjson"}) as response:
            if response.status_code != 200:
                await response.aread()
                raise _error(response)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if "Step" in item:
                    on_step(item["Step"])
                elif "Report" in item:
                    report: dict[str, Any] = item["Report"]
                    return report
        raise ClientError("", "the server ended the diagnosis without a report")

    async def options(self) -> tuple[dict[str, Any], str]:
        response = await self._http.get(f"{self._base}/SMTP/Options")
        if response.status_code != 200:
            raise _error(response)
        body: dict[str, Any] = response.json()
        return body, response.headers.get("etag", "")

    async def put_options(self, body: dict[str, Any], etag: str | None) -> dict[str, Any]:
        headers = {"if-match": etag} if etag else {}
        response = await self._http.put(f"{self._base}/SMTP/Options", json=body,
                                        headers=headers)
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result

    async def service_account(self) -> tuple[dict[str, Any], str]:
        response = await self._http.get(f"{self._base}{SERVICE_ACCOUNT_PATH}")
        if response.status_code != 200:
            raise _error(response)
        body: dict[str, Any] = response.json()
        return body, response.headers.get("etag", "")

    async def put_service_account(self, body: dict[str, Any],
                                  etag: str | None) -> dict[str, Any]:
        response = await self._http.put(f"{self._base}{SERVICE_ACCOUNT_PATH}", json=body,
                                        headers={"if-match": etag} if etag else {})
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result

    async def delete_service_account(self, etag: str | None) -> dict[str, Any]:
        response = await self._http.delete(f"{self._base}{SERVICE_ACCOUNT_PATH}",
                                           headers={"if-match": etag} if etag else {})
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result

    async def client_certificate(self) -> tuple[dict[str, Any], str]:
        response = await self._http.get(f"{self._base}/SMTP/ClientCertificate")
        if response.status_code != 200:
            raise _error(response)
        body: dict[str, Any] = response.json()
        return body, response.headers.get("etag", "")

    async def set_client_certificate(self, body: dict[str, Any] | None,
                                     etag: str | None) -> dict[str, Any]:
        headers = {"if-match": etag} if etag else {}
        path = f"{self._base}/SMTP/ClientCertificate"
        response = (await self._http.delete(path, headers=headers) if body is None
                    else await self._http.put(path, json=body, headers=headers))
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result
    async def pam(self, method: str, path: str = "",
                  body: dict[str, Any] | None = None) -> Any:
        response = await self._http.request(method, f"{self._base}/PamProviders{path}",
                                            json=body)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise _error(response)
        return response.json()

    async def close(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self._http.request(method, f"{self._base}{path}", json=body)
        if response.status_code != 200:
            raise _error(response)
        result: dict[str, Any] = response.json()
        return result


def _type(pam: Any, name: str) -> Any:
    return next((t for t in pam.types() if t.name == name), None)


def _error(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
        return ClientError(str(body.get("ErrorCode", "")), str(body.get("Message", "")))
    except (ValueError, AttributeError):
        return ClientError("", f"HTTP {response.status_code} from {response.request.url}")
