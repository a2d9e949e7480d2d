"""The AWS-SecretsManager provider through boto3 against moto's server on loopback, with
moto's IAM checks on (a reader, a user allowed nothing, wrong and disabled keys)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtp_profile.domain.errors import ValidationFailed
from smtp_profile.domain.secret_reference import SecretFailure
from smtp_profile.pam.aws_secrets import NAME, AwsSecretsProviderType, AwsSecretsSource
from smtp_profile.pam.registry import provider_type
from tests.pam.checks import assert_failure, failure_of, run_clean, service_log
from tests.pam.conftest import REGION, AwsKey, Moto

CANARY = "canary-aws-2c91e7"
TYPE = AwsSecretsProviderType()
THREADS = "pam-aws"


@pytest.fixture
def secret_name(moto: Moto) -> Iterator[str]:
    """A fresh secret `{"password": ..., "username": ...}` for each test."""
    name = f"smtp/relay-{uuid.uuid4().hex[:8]}"
    client = moto.secretsmanager()
    client.create_secret(Name=name, SecretString=json.dumps(
        {"password": f"{CANARY}-1", "username": "relay@example.com"}))
    yield name
    client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def open_source(url: str, key: AwsKey | None, *, timeout: float = 5) -> AwsSecretsSource:
    settings = {"Region": REGION, "EndpointUrl": url}
    if key is not None:
        settings |= {"AccessKeyId": key.access_key_id,
                     "SecretAccessKey": key.secret_access_key}
    return TYPE.open(settings, timeout=timeout)


def test_the_type_is_registered_under_its_wire_name() -> None:
    assert provider_type(NAME).name == "AWS-SecretsManager"
    assert {s.name for s in TYPE.parameters if s.secret} == {"SecretAccessKey",
                                                             "SessionToken"}


@pytest.mark.parametrize(("values", "words"), [
    ({}, "Region (AWS Region"),
    ({"Region": "Ireland"}, "not an AWS region name"),
    ({"Region": "eu-west-1", "AccessKeyId": "AKIA"}, "together"),
    ({"Region": "eu-west-1", "SessionToken": "t"}, "goes with AccessKeyId"),
    ({"Region": "eu-west-1", "EndpointUrl": "http://vpce.example.com"}, "must use https"),
    ({"Region": "eu-west-1", "EndpointUrl": "https://u:p@vpce.example.com"}, "user"),
    ({"Region": "eu-west-1", "SecretId": "x"}, "parameter of each reference"),
])
def test_settings_that_cannot_work_are_refused_with_the_field_named(
        values: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TYPE.validate(values)
    assert words in caught.value.message


def test_a_json_key_or_the_whole_value_and_a_rotation_is_seen_at_once(
        moto: Moto, secret_name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = moto.secretsmanager()
    source = open_source(moto.url, moto.reader)
    assert moto.reader.secret_access_key not in repr(source)

    async def body() -> None:
        try:
            reference = {"SecretId": secret_name, "Key": "password"}
            assert await source.fetch(reference) == f"{CANARY}-1"
            admin.put_secret_value(SecretId=secret_name,
                                   SecretString=json.dumps({"password": f"{CANARY}-2"}))
            assert await source.fetch(reference) == f"{CANARY}-2"
            admin.put_secret_value(SecretId=secret_name, SecretString=f"{CANARY}-plain")
            assert await source.fetch({"SecretId": secret_name}) == f"{CANARY}-plain"
            arn = admin.describe_secret(SecretId=secret_name)["ARN"]
            assert await source.fetch({"SecretId": arn}) == f"{CANARY}-plain"
        finally:
            await source.aclose()

    run_clean(body, thread_prefix=THREADS)
    assert CANARY not in service_log(caplog)
    assert moto.reader.secret_access_key not in service_log(caplog)


def test_each_failure_is_explained_then_the_same_source_works(
        moto: Moto, secret_name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = moto.secretsmanager()
    source = open_source(moto.url, moto.reader)
    good = {"SecretId": secret_name, "Key": "password"}

    def put(value: str) -> None:
        admin.put_secret_value(SecretId=secret_name, SecretString=value)

    async def expect(failure: SecretFailure, words: str, reference: dict[str, str]) -> None:
        problem = await failure_of(source.fetch(reference))
        assert_failure(problem, failure, words)
        assert CANARY not in problem.detail
        assert await source.fetch(good) == f"{CANARY}-1"

    async def body() -> None:
        try:
            await expect(SecretFailure.NOT_FOUND, "has no secret smtp/nothing",
                         {"SecretId": "smtp/nothing"})
            await expect(SecretFailure.NOT_FOUND, "has no JSON key 'pass'",
                         {"SecretId": secret_name, "Key": "pass"})
            await expect(SecretFailure.MISCONFIGURED, "has no SecretId", {"Key": "password"})

            put(json.dumps({"password": ""}))
            problem = await failure_of(source.fetch(good))
            assert_failure(problem, SecretFailure.EMPTY, "'password'", "is empty")
            put(json.dumps({"password": 587}))
            problem = await failure_of(source.fetch(good))
            assert_failure(problem, SecretFailure.NOT_FOUND, "holds no text")
            put("not json")
            problem = await failure_of(source.fetch(good))
            assert_failure(problem, SecretFailure.MISCONFIGURED, "not a JSON object")
            put(json.dumps({"password": f"{CANARY}-1"}))
            assert await source.fetch(good) == f"{CANARY}-1"

            admin.delete_secret(SecretId=secret_name, RecoveryWindowInDays=7)
            problem = await failure_of(source.fetch(good))
            assert_failure(problem, SecretFailure.NOT_FOUND, "scheduled for deletion")
            admin.restore_secret(SecretId=secret_name)
            assert await source.fetch(good) == f"{CANARY}-1"
        finally:
            await source.aclose()

    run_clean(body, thread_prefix=THREADS)
    assert CANARY not in service_log(caplog)


def test_credentials_refused_or_not_allowed_then_the_same_source_works(
        moto: Moto, secret_name: str) -> None:
    iam = moto.iam()
    nobody = open_source(moto.url, moto.nobody)
    wrong = open_source(moto.url, AwsKey(moto.reader.access_key_id, "not-the-secret"))
    unknown = open_source(moto.url, AwsKey("AKIAUNKNOWN000000000", "x"))
    reference = {"SecretId": secret_name, "Key": "password"}

    async def body() -> None:
        try:
            problem = await failure_of(nobody.fetch(reference))
            assert_failure(problem, SecretFailure.FORBIDDEN, f"not allow reading {secret_name}",
                           "AccessDenied")
            iam.put_user_policy(UserName="nobody", PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                     "Resource": "*"}]}))
            try:
                assert await nobody.fetch(reference) == f"{CANARY}-1"
            finally:
                iam.delete_user_policy(UserName="nobody", PolicyName="p")

            problem = await failure_of(wrong.fetch(reference))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "SignatureDoesNotMatch")
            assert "not-the-secret" not in problem.detail
            problem = await failure_of(unknown.fetch(reference))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "InvalidClientTokenId")
        finally:
            for source in (nobody, wrong, unknown):
                await source.aclose()

    run_clean(body, thread_prefix=THREADS)


def test_down_then_stalled_then_up_on_the_same_source(moto: Moto, secret_name: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Long enough that a refused connection is told apart from a stall even when the
    # first call also builds boto3's client on a loaded machine (0.5 s once was not).
    source = open_source(f"http://127.0.0.1:{port}", moto.reader, timeout=2.0)
    reference = {"SecretId": secret_name, "Key": "password"}
    from moto.server import ThreadedMotoServer

    servers: list[ThreadedMotoServer] = []

    async def body() -> None:
        try:
            problem = await failure_of(source.fetch(reference))
            assert_failure(problem, SecretFailure.UNREACHABLE, "cannot be reached")
            with socket.socket() as silent:  # accepts connections, never answers
                silent.bind(("127.0.0.1", port))
                silent.listen()
                problem = await failure_of(source.fetch(reference))
                assert_failure(problem, SecretFailure.TIMED_OUT, "did not answer")
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()  # moto's backends are process-wide: the same secrets
            servers.append(server)
            assert await source.fetch(reference) == f"{CANARY}-1"
        finally:
            await source.aclose()

    try:
        run_clean(body, thread_prefix=THREADS)
    finally:
        for server in servers:
            server.stop()


def test_the_hosts_default_credential_chain_when_the_provider_has_no_key(
        moto: Moto, secret_name: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    source = open_source(moto.url, None)
    reference = {"SecretId": secret_name, "Key": "password"}

    async def body() -> None:
        try:
            problem = await failure_of(source.fetch(reference))
            assert_failure(problem, SecretFailure.SIGNED_OUT, "default credential chain")
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.reader.access_key_id)
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.reader.secret_access_key)
            assert await source.fetch(reference) == f"{CANARY}-1"
        finally:
            await source.aclose()

    run_clean(body, thread_prefix=THREADS)


def test_boto3_is_loaded_only_when_an_aws_secret_is_first_fetched() -> None:
    """Neither the registry nor opening a source imports boto3 (start-up time)."""
    code = ("import sys, smtp_profile.pam.registry as r\n"
            "assert 'AWS-SecretsManager' in r.PROVIDER_TYPES\n"
            "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
            "r.provider_type('AWS-SecretsManager').open({'Region': 'eu-west-1'}, timeout=1)\n"
            "print('boto3' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.split() == ["False", "False", "False"]
