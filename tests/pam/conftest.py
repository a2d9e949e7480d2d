"""The PAM provider types are tested without the service or a database: each test talks to
a real provider (moto, a command, the Vault stand-in) through the type's own source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest


@pytest.fixture(autouse=True)
def database_url() -> None:
    """No schema per test: these tests touch no database (see tests/conftest.py)."""
    return None


@dataclass(frozen=True)
class AwsKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)


@dataclass(frozen=True)
class Moto:
    """moto's server on loopback, with IAM sign-in checks on: `reader` may read every
    secret, `nobody` nothing (until a test allows it), `admin` everything."""

    url: str
    port: int
    admin: AwsKey
    reader: AwsKey
    nobody: AwsKey

    def _arguments(self, key: AwsKey | None) -> dict[str, Any]:
        key = key or self.admin
        return {"region_name": REGION, "endpoint_url": self.url,
                "aws_access_key_id": key.access_key_id,
                "aws_secret_access_key": key.secret_access_key}

    def secretsmanager(self, key: AwsKey | None = None) -> Any:
        import boto3.session  # boto3 and moto load only when AWS is tested

        return boto3.session.Session().client("secretsmanager", **self._arguments(key))

    def iam(self, key: AwsKey | None = None) -> Any:
        import boto3.session

        return boto3.session.Session().client("iam", **self._arguments(key))


REGION = "eu-west-1"


def _reset_auth(url: str, count: str) -> None:
    """moto's own switch for its IAM checks (`/moto-api/reset-auth`)."""
    answer = httpx.post(f"{url}/moto-api/reset-auth", content=count.encode(),
                        headers={"Content-Type": "text/plain"}, timeout=10)
    answer.raise_for_status()


def _policy(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": "*"}]})


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """One moto server for the session (its backends are process-wide anyway)."""
    from moto.server import ThreadedMotoServer  # heavy: AWS tests only

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    bootstrap = AwsKey("AKIABOOTSTRAP0000000", "bootstrap")
    iam = Moto(url, port, bootstrap, bootstrap, bootstrap).iam()
    keys = {}
    for user, action in (("admin", "*"), ("reader", "secretsmanager:GetSecretValue"),
                         ("nobody", None)):
        iam.create_user(UserName=user)
        if action:
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=_policy(action))
        created = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = AwsKey(created["AccessKeyId"], created["SecretAccessKey"])
    _reset_auth(url, "0")  # from now on every request is signed and checked
    try:
        yield Moto(url, port, keys["admin"], keys["reader"], keys["nobody"])
    finally:
        _reset_auth(url, "inf")
        server.stop()
