"""AWS Secrets Manager as a PAM provider, through boto3.

`GetSecretValue` for the reference's `SecretId` (a name or an ARN), then, when the
reference names a `Key`, that key of the secret's JSON object (the shape the AWS console's
"key/value" secrets and RDS rotation use). The provider names its `Region` and, optionally,
an `EndpointUrl` (a VPC interface endpoint, or a test server); it signs in with its own
access key (`AccessKeyId` and `SecretAccessKey`, optionally `SessionToken`, stored
encrypted) or, with none of those, with the AWS SDK's default credential chain of the
service's host (environment, shared files, the instance or task role).

boto3 is synchronous: each fetch runs in a thread of the source's own, within the time
limit (asyncio's and botocore's connect and read timeouts), without retries, so a stalled
endpoint costs one time limit. botocore's loggers are held at WARNING (`logs.QUIET`): at
DEBUG they print every answer's body, the secret in it. boto3 is imported at a source's
first fetch, not when the service starts. AWS's answers map to `SecretFailure`:
ResourceNotFoundException is NOT_FOUND, AccessDeniedException FORBIDDEN, an unknown or
wrongly signed key
(UnrecognizedClientException, InvalidSignatureException, ExpiredTokenException, ...)
SIGNED_OUT, a connection failure UNREACHABLE, a timeout TIMED_OUT.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from smtp_profile.domain.json_text import parse_json
from smtp_profile.domain.secret_reference import (
    ParameterSpec,
    SecretFailure,
    SecretUnavailable,
)
from smtp_profile.logs import quiet_libraries
from smtp_profile.pam.parameters import check_settings, one_line, present, reference_values

if TYPE_CHECKING:
    import boto3

NAME = "AWS-SecretsManager"
"""In the style of Keyfactor's type names (`Hashicorp-Vault`, `Azure-KeyVault`)."""

PARAMETERS = (
    ParameterSpec("Region", "AWS Region (e.g. eu-west-1)"),
    ParameterSpec("EndpointUrl", "Endpoint URL (a VPC endpoint; default: AWS's)",
                  required=False),
    ParameterSpec("AccessKeyId", "Access Key ID (empty: the host's default credentials)",
                  required=False),
    ParameterSpec("SecretAccessKey", "Secret Access Key", secret=True, required=False),
    ParameterSpec("SessionToken", "Session Token (temporary credentials)", secret=True,
                  required=False),
    ParameterSpec("SecretId", "Secret name or ARN", instance_level=True),
    ParameterSpec("Key", "JSON key inside the secret (empty: the whole value)",
                  required=False, instance_level=True),
)

_REGION = re.compile(r"\A[a-z]{2}(-[a-z]+)+-\d{1,2}\Z")
_SIGNED_OUT = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
    "SignatureDoesNotMatch", "IncompleteSignature", "ExpiredTokenException", "ExpiredToken",
    "InvalidAccessKeyId", "MissingAuthenticationToken", "AuthFailure", "RequestExpired",
})
_FORBIDDEN = frozenset({"AccessDeniedException", "AccessDenied", "DecryptionFailure"})
_MISCONFIGURED = frozenset({"InvalidParameterException", "ValidationException",
                            "InvalidRequestException"})
_XML_FIELD = "<{0}>([^<]*)</{0}>"

_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def _shared_session() -> boto3.session.Session:
    """One boto3 session for all sources: it loads the service models once (a client of
    a new session costs hundreds of milliseconds); clients are made under the lock."""
    global _session
    import boto3.session  # here, not at the top: boto3 loads only when AWS is used

    if _session is None:
        _session = boto3.session.Session()
    return _session


def _endpoint_problems(url: str | None) -> list[str]:
    if url is None:
        return []
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        return [f"EndpointUrl {url!r} is not a URL."]
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return ["EndpointUrl must be an https URL such as "
                "https://secretsmanager.eu-west-1.amazonaws.com."]
    if parts.username or parts.password or parts.query or parts.fragment:
        return ["EndpointUrl must not hold a user, query or fragment."]
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return ["EndpointUrl must use https (plain http is allowed only to this "
                    "machine's loopback address)."]
    return []


@dataclass
class AwsSecretsProviderType:
    """The `AWS-SecretsManager` type: see the module's docstring."""

    name: str = NAME
    parameters: tuple[ParameterSpec, ...] = PARAMETERS

    def validate(self, settings: Mapping[str, str]) -> None:
        given = present(settings)
        problems = _endpoint_problems(given.get("EndpointUrl"))
        region = given.get("Region")
        if region is not None and not _REGION.match(region):
            problems.append(f"Region {region!r} is not an AWS region name such as "
                            "eu-west-1.")
        if ("AccessKeyId" in given) != ("SecretAccessKey" in given):
            problems.append("Give AccessKeyId and SecretAccessKey together (or neither, for "
                            "the host's default credentials).")
        if "SessionToken" in given and "AccessKeyId" not in given:
            problems.append("SessionToken goes with AccessKeyId and SecretAccessKey.")
        check_settings(NAME, PARAMETERS, settings, problems)

    def open(self, settings: Mapping[str, str], *, timeout: float) -> AwsSecretsSource:
        self.validate(settings)
        quiet_libraries()  # botocore's debug lines hold the answer, the secret in it
        return AwsSecretsSource(present(settings), timeout)


@dataclass
class AwsSecretsSource:
    """A Secrets Manager client (made on first use) and the threads that call it."""

    settings: dict[str, str] = field(repr=False)
    timeout: float
    _client: Any = field(default=None, repr=False)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4,
                                                   thread_name_prefix="pam-aws"),
        repr=False)

    def _make_client(self) -> Any:
        from botocore.config import Config

        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                        retries={"total_max_attempts": 1},
                        user_agent_extra="smtp-profile")
        given = self.settings
        with _session_lock:
            if self._client is None:
                self._client = _shared_session().client(
                    "secretsmanager", region_name=given["Region"],
                    endpoint_url=given.get("EndpointUrl"),
                    aws_access_key_id=given.get("AccessKeyId"),
                    aws_secret_access_key=given.get("SecretAccessKey"),
                    aws_session_token=given.get("SessionToken"), config=config)
            return self._client

    def _get(self, secret_id: str) -> dict[str, Any]:
        client = self._client or self._make_client()
        answer: dict[str, Any] = client.get_secret_value(SecretId=secret_id)
        return answer

    async def fetch(self, parameters: Mapping[str, str]) -> str:
        values = reference_values(NAME, PARAMETERS, parameters)
        secret_id = values["SecretId"]
        answer = await self._in_thread(lambda: self._get(secret_id), secret_id)
        return _value(answer, secret_id, values.get("Key"))

    async def _in_thread(self, call: Callable[[], dict[str, Any]],
                         secret_id: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                return await loop.run_in_executor(self._executor, call)
        except TimeoutError:
            raise SecretUnavailable(
                SecretFailure.TIMED_OUT,
                f"AWS Secrets Manager did not answer within {self.timeout:g} seconds."
            ) from None
        except Exception as exc:
            problem = _failure(exc, secret_id, self.settings)
            if problem.failure is SecretFailure.SIGNED_OUT and "AccessKeyId" not in \
                    self.settings:
                self._client = None  # the host's credentials may appear (a role attached)
            raise problem from None

    async def aclose(self) -> None:
        """Waits for a call still running in a thread (bounded by botocore's timeouts)."""
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        if self._client is not None:
            self._client.close()


def _value(answer: Mapping[str, Any], secret_id: str, key: str | None) -> str:
    text = answer.get("SecretString")
    if text is None:
        binary = answer.get("SecretBinary")
        if key is not None:
            raise SecretUnavailable(
                SecretFailure.MISCONFIGURED,
                f"The secret {secret_id} is binary, so it has no JSON key {key!r}.")
        try:
            text = bytes(binary or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnavailable(SecretFailure.MISCONFIGURED,
                                    f"The secret {secret_id} is binary, not text.") from None
    if key is None:
        if not text:
            raise SecretUnavailable(SecretFailure.EMPTY, f"The secret {secret_id} is empty.")
        return str(text)
    try:
        document = parse_json(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise SecretUnavailable(
            SecretFailure.MISCONFIGURED,
            f"The secret {secret_id} is not a JSON object, so it has no key {key!r} (leave "
            "Key empty to use the whole value).")
    if key not in document:
        raise SecretUnavailable(SecretFailure.NOT_FOUND,
                                f"The secret {secret_id} has no JSON key {key!r}.")
    value = document[key]
    if not isinstance(value, str):
        raise SecretUnavailable(
            SecretFailure.NOT_FOUND,
            f"The JSON key {key!r} of the secret {secret_id} holds no text.")
    if not value:
        raise SecretUnavailable(SecretFailure.EMPTY,
                                f"The JSON key {key!r} of the secret {secret_id} is empty.")
    return value


def _failure(exc: Exception, secret_id: str, settings: Mapping[str, str]) -> SecretUnavailable:
    """botocore's exceptions as `SecretFailure`s, with AWS's own short message."""
    from botocore import exceptions as aws

    if isinstance(exc, SecretUnavailable):
        return exc
    if isinstance(exc, aws.ClientError):
        code, message = _code_and_message(exc.response)
        said = _clean(f"{code}: {message}" if message else code, settings)
        if code in _SIGNED_OUT:
            return SecretUnavailable(SecretFailure.SIGNED_OUT,
                                     f"AWS does not accept the provider's credentials ({said}).")
        if code in _FORBIDDEN:
            return SecretUnavailable(SecretFailure.FORBIDDEN,
                                     f"AWS does not allow reading {secret_id} ({said}).")
        if code == "ResourceNotFoundException":
            return SecretUnavailable(SecretFailure.NOT_FOUND,
                                     f"AWS Secrets Manager has no secret {secret_id} ({said}).")
        if code == "InvalidRequestException" and "delet" in message.lower():
            return SecretUnavailable(SecretFailure.NOT_FOUND,
                                     f"The secret {secret_id} is scheduled for deletion "
                                     f"({said}).")
        if code in _MISCONFIGURED:
            return SecretUnavailable(SecretFailure.MISCONFIGURED,
                                     f"AWS refused the request for {secret_id} ({said}).")
        return SecretUnavailable(SecretFailure.UNREACHABLE,
                                 f"AWS Secrets Manager answered with an error ({said}).")
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return SecretUnavailable(SecretFailure.SIGNED_OUT,
                                 "No AWS credentials: the provider has no AccessKeyId and the "
                                 "host's default credential chain found none.")
    if isinstance(exc, aws.ConnectTimeoutError | aws.ReadTimeoutError):
        return SecretUnavailable(SecretFailure.TIMED_OUT,
                                 "AWS Secrets Manager did not answer in time "
                                 f"({_clean(str(exc), settings)}).")
    if isinstance(exc, aws.SSLError):
        return SecretUnavailable(SecretFailure.UNREACHABLE,
                                 "The TLS connection to AWS Secrets Manager failed "
                                 f"({_clean(str(exc), settings)}).")
    if isinstance(exc, aws.EndpointConnectionError | aws.ConnectionClosedError |
                  aws.HTTPClientError):
        return SecretUnavailable(SecretFailure.UNREACHABLE,
                                 "AWS Secrets Manager cannot be reached "
                                 f"({_clean(str(exc), settings)}).")
    if isinstance(exc, aws.ParamValidationError | aws.NoRegionError):
        return SecretUnavailable(SecretFailure.MISCONFIGURED, _clean(str(exc), settings))
    if isinstance(exc, aws.BotoCoreError):
        return SecretUnavailable(SecretFailure.UNREACHABLE,
                                 f"AWS Secrets Manager failed ({type(exc).__name__}).")
    raise exc


def _code_and_message(response: Mapping[str, Any]) -> tuple[str, str]:
    """AWS's error code and message. JSON-protocol services answer `__type`/`message`;
    an endpoint that answers in the query protocol's XML instead (as moto's sign-in
    checks do) leaves botocore with the HTTP status as code and the XML as message."""
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    if message.lstrip().startswith("<"):
        inner_code = re.search(_XML_FIELD.format("Code"), message)
        inner_message = re.search(_XML_FIELD.format("Message"), message)
        code = inner_code.group(1) if inner_code else code
        message = inner_message.group(1) if inner_message else ""
    return code or "UnknownError", message


def _clean(text: str, settings: Mapping[str, str]) -> str:
    for name in ("SecretAccessKey", "SessionToken"):
        secret = settings.get(name)
        if secret:
            text = text.replace(secret, "***")
    return one_line(text)
