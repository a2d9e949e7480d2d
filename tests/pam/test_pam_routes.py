"""/PamProviders and PAM references in the profile, through the real service on loopback.

The provider type is `tests/support/pam.py` (secrets in files, failing as a vault does);
every refusal is followed by a success on the same running service.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smtp_profile.domain.pam import type_guid
from tests.api.test_audit import audit
from tests.api.test_smtp_routes import error
from tests.support.pam import TYPE_NAME, FileProviderType, Vault, file_provider_type
from tests.support.service import RunningService, add_user, service_settings, start_service
from tests.support.smtp import Behaviour, SmtpServer

__all__ = ["file_provider_type"]

PROVIDERS = "/KeyfactorAPI/PamProviders"
SMTP = "/KeyfactorAPI/SMTP"
TOKEN = "Canary-PamToken-77c1e0"
FETCHED = "Canary-Fetched-3b9d42"


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    vault = Vault(tmp_path / "vault", TOKEN)
    vault.put("smtp-password", FETCHED)
    vault.put("smtp-user", "svc@corp.local")
    return vault


@pytest.fixture
def pam_service(tmp_path: Path, ca_bundle: Path, resolver: Any,
                file_provider_type: FileProviderType) -> Iterator[RunningService]:
    running = start_service(service_settings(tmp_path / "data", ca_bundle, pam_timeout=0.5),
                            resolver)
    yield running
    running.stop()


def add_provider(client: httpx.Client, vault: Vault, name: str = "files") -> dict[str, Any]:
    response = client.post(PROVIDERS, json=vault.provider_body(name))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reference(provider_id: int, file: str) -> dict[str, Any]:
    return {"SecretValue": None, "Provider": provider_id, "Parameters": {"File": file}}


def basic_v2(port: int, provider_id: int, **changes: Any) -> dict[str, Any]:
    return {"Host": "mail.test", "Port": port, "UseSSL": False, "RelayAuthenticationType": 2,
            "RelayUsername": {"SecretValue": "svc@corp.local"},
            "RelayPassword": reference(provider_id, "smtp-password"),
            "SenderAccount": "svc@corp.local", "SenderName": "KF", **changes}


# -- the provider routes ----------------------------------------------------------------

def test_each_refusal_then_success(pam_service: RunningService, vault: Vault) -> None:
    add_user(pam_service.settings, "reader", "Reader-pw-1", "/system_settings/read/")
    body = vault.provider_body()
    with pam_service.client() as client, \
            pam_service.client("reader", "Reader-pw-1") as reader:
        message = error(reader.post(PROVIDERS, json=body), 403, "0xA0110011")
        assert "/system_settings/modify/" in message
        for change, code, wording in (
                ({"ProviderType": {"Name": "Nope"}}, "0xA0110001", "no PAM provider type"),
                ({"ProviderType": None}, "0xA0110001", "unknown PAM provider type"),
                ({"Remote": True}, "0xA0110001", "Remote: only false"),
                ({"Name": ""}, "0xA0110001", "Name is required"),
                ({"ProviderTypeParamValues": body["ProviderTypeParamValues"][:1]},
                 "0xA0110001", "'Token' (Access token) is required"),
                ({"ProviderTypeParamValues": [
                    {"ProviderTypeParam": {"Name": "Directory"}, "Value": "relative"},
                    {"ProviderTypeParam": {"Id": 2}, "Value": TOKEN}]},
                 "0xA0110001", "Directory must be an absolute path"),
                ({"ProviderTypeParamValues": [
                    *body["ProviderTypeParamValues"],
                    {"ProviderTypeParam": {"Name": "File"}, "Value": "x"}]},
                 "0xA0110001", "instance-level")):
            assert wording in error(client.post(PROVIDERS, json={**body, **change}), 400, code)
        assert client.get(PROVIDERS).json() == []

        created = add_provider(client, vault)
        provider_id = created["Id"]
        assert created["Name"] == "files" and created["Remote"] is False
        assert created["ProviderType"]["Name"] == TYPE_NAME
        assert {v["ProviderTypeParam"]["Name"]: v["Value"]
                for v in created["ProviderTypeParamValues"]} == {
            "Directory": str(vault.directory), "Token": None}
        assert TOKEN not in client.get(PROVIDERS).text
        error(client.post(PROVIDERS, json={**body, "Name": "FILES"}), 409, "0xA0110032")

        assert reader.get(f"{PROVIDERS}/{provider_id}").json() == created
        error(client.get(f"{PROVIDERS}/999"), 404, "0xA0110030")
        for bad in ("x", "0", "2147483648", "99999999999999999999"):
            error(client.get(f"{PROVIDERS}/{bad}"), 400, "0xA0110001")
            error(client.delete(f"{PROVIDERS}/{bad}"), 400, "0xA0110001")
        error(client.put(PROVIDERS, json={**body, "Id": 2**31}), 400, "0xA0110001")

        error(client.put(PROVIDERS, json={"Name": "n"}), 400, "0xA0110001")
        error(client.put(PROVIDERS, json={**body, "Id": 999}), 404, "0xA0110030")
        error(client.put(PROVIDERS, json={**body, "Id": provider_id,
                                          "ProviderType": {"Id": type_guid("other")}}),
              400, "0xA0110001")
        renamed = client.put(PROVIDERS, json={
            "Id": provider_id, "Name": "files-2", "ProviderTypeParamValues": [
                {"ProviderTypeParam": {"Name": "Directory"}, "Value": str(vault.directory)},
                {"ProviderTypeParam": {"Name": "Label"}, "Value": "main"}]})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["Name"] == "files-2"
        assert {v["ProviderTypeParam"]["Name"] for v in renamed.json()[
            "ProviderTypeParamValues"]} == {"Directory", "Token", "Label"}  # Token kept

        error(client.delete(f"{PROVIDERS}/999"), 404, "0xA0110030")
        error(reader.delete(f"{PROVIDERS}/{provider_id}"), 403, "0xA0110011")
        assert client.delete(f"{PROVIDERS}/{provider_id}").status_code == 204
        assert client.get(PROVIDERS).json() == []

    actions = [(r["Action"], r["Success"]) for r in audit(pam_service)
               if r["Action"].startswith("PamProvider")]
    assert ("PamProviderCreate", True) in actions and ("PamProviderCreate", False) in actions
    assert ("PamProviderUpdate", True) in actions and ("PamProviderUpdate", False) in actions
    assert ("PamProviderDelete", True) in actions and ("PamProviderDelete", False) in actions
    created_record = next(r for r in audit(pam_service) if r["Action"] == "PamProviderCreate"
                          and r["Success"])
    changes = {c["Field"]: c for c in created_record["Changes"]}
    assert changes["Directory"]["New"] == str(vault.directory)
    assert changes["Token"]["Secret"] is True and changes["Token"]["New"] is None


# -- references in the profile ------------------------------------------------------------

def test_references_are_stored_and_shown_never_a_value(
        pam_service: RunningService, vault: Vault) -> None:
    with pam_service.client(version=2) as v2, pam_service.client() as v1:
        provider_id = add_provider(v2, vault)["Id"]
        for password, wording in (
                (reference(999, "smtp-password"), "no PAM provider has the Id 999"),
                (reference(2**31, "smtp-password"), "Provider must be the Id"),
                ({"Provider": provider_id, "Parameters": {"Path": "x"}},
                 "'Path' is not an instance-level parameter"),
                ({"Provider": provider_id, "Parameters": {}}, "'File' (Secret file name) is "
                 "required"),
                ({"SecretValue": "pw", "Provider": provider_id,
                  "Parameters": {"File": "a"}}, "not both")):
            message = error(v2.put(SMTP, json=basic_v2(2525, provider_id,
                                                         RelayPassword=password)),
                            400, "0xA0110001")
            assert wording in message
        saved = v2.put(SMTP, json=basic_v2(2525, provider_id))
        assert saved.status_code == 200, saved.text
        assert saved.json()["RelayPassword"] == {
            "SecretValue": None, "Provider": provider_id,
            "Parameters": {"File": "smtp-password"}}
        assert pam_service.stored_profile().password is None

        # version 1 shows what it always showed, and keeps the reference like a password
        shown = v1.get(SMTP).json()
        assert "RelayPassword" not in shown and shown["RelayUsername"] == "svc@corp.local"
        kept = v1.put(SMTP, json={**shown, "SenderName": "KF 2"})
        assert kept.status_code == 200, kept.text
        assert v2.get(SMTP).json()["RelayPassword"]["Provider"] == provider_id

        # the binding rule: a new destination needs the reference sent again
        for change in ({"Host": "localhost"}, {"Port": 2526}, {"UseSSL": True},
                       {"RelayUsername": {"SecretValue": "other@corp.local"}}):
            body = {**basic_v2(2525, provider_id), **change}
            del body["RelayPassword"]
            error(v2.put(SMTP, json=body), 400, "0xA0110007")
        error(v1.put(SMTP, json={**shown, "Port": 2526}), 400, "0xA0110007")
        moved = v2.put(SMTP, json=basic_v2(2526, provider_id))
        assert moved.status_code == 200 and moved.json()["Port"] == 2526

        # in use: the provider cannot go; once the profile stores a password, it can
        message = error(v2.delete(f"{PROVIDERS}/{provider_id}"), 409, "0xA0110031")
        assert "RelayPassword" in message
        literal = v2.put(SMTP, json=basic_v2(2526, provider_id,
                                              RelayPassword={"SecretValue": "pw-1"}))
        assert literal.status_code == 200 and literal.json()["RelayPassword"] is None
        assert v2.delete(f"{PROVIDERS}/{provider_id}").status_code == 204
    changes = [c for r in audit(pam_service) if r["Action"] == "Put" and r["Success"]
               for c in r["Changes"] if c["Field"] == "RelayPassword"]
    assert {"Field": "RelayPassword", "Old": f"PAM provider {provider_id} "
            "(File=smtp-password)", "New": "stored", "Secret": False} in changes


def test_a_referenced_username_shows_as_null_in_version_1_and_is_kept(
        pam_service: RunningService, vault: Vault) -> None:
    with pam_service.client(version=2) as v2, pam_service.client() as v1:
        provider_id = add_provider(v2, vault)["Id"]
        body = basic_v2(2525, provider_id, RelayUsername=reference(provider_id, "smtp-user"))
        assert v2.put(SMTP, json=body).status_code == 200
        shown = v1.get(SMTP).json()
        assert shown["RelayUsername"] is None
        assert v1.put(SMTP, json={**shown, "SenderName": "KF 2"}).status_code == 200
        stored = v2.get(SMTP).json()
        assert stored["RelayUsername"]["Parameters"] == {"File": "smtp-user"}
        assert stored["RelayPassword"]["Parameters"] == {"File": "smtp-password"}
        # a literal username in version 1 replaces the reference: the password must follow
        error(v1.put(SMTP, json={**shown, "RelayUsername": "svc@corp.local"}), 400,
              "0xA0110007")


# -- using references: the secret step -------------------------------------------------------

def diagnose(client: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/KeyfactorAPI/SMTP/Diagnose", json=body or {})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_the_secret_step_fails_with_a_hint_then_succeeds(
        pam_service: RunningService, vault: Vault,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(users={"svc@corp.local": FETCHED}))
    with pam_service.client(version=2) as v2:
        provider_id = add_provider(v2, vault)["Id"]
        assert v2.put(SMTP, json=basic_v2(relay.port, provider_id)).status_code == 200
        token_file = vault.directory / ".token"
        denied = vault.directory / ".denied"
        password = vault.directory / "smtp-password"
        moved = vault.directory.with_name("vault-away")

        def rename_away() -> Callable[[], object]:
            vault.directory.rename(moved)
            return lambda: moved.rename(vault.directory)

        def wrong_token() -> Callable[[], object]:
            token_file.write_text("revoked")
            return lambda: token_file.write_text(TOKEN)

        def deny() -> Callable[[], object]:
            denied.write_text("smtp-password")
            return denied.unlink

        def remove() -> Callable[[], object]:
            password.unlink()
            return lambda: password.write_text(FETCHED)

        def empty() -> Callable[[], object]:
            password.write_text("")
            return lambda: password.write_text(FETCHED)

        def two_lines() -> Callable[[], object]:
            password.write_text(FETCHED + "\nsecond line")
            return lambda: password.write_text(FETCHED)

        def pipe() -> Callable[[], object]:
            password.unlink()
            os.mkfifo(password)

            def undo() -> None:
                password.unlink()
                password.write_text(FETCHED)
            return undo

        for arrange, failure, hint in (
                (rename_away, "unreachable", "could not be reached"),
                (wrong_token, "signed_out", "refused this service's own credential"),
                (deny, "forbidden", "not allowed to read"),
                (remove, "not_found", "No secret"),
                (empty, "empty", "is empty"),
                (two_lines, "misconfigured", "cannot work as they are"),
                (pipe, "timed_out", "took longer than allowed")):
            undo = arrange()
            report = diagnose(v2)
            undo()
            first = report["Steps"][0]
            assert report["Success"] is False, failure
            assert first["Name"] == "secret" and first["Status"] == "failed", first
            assert first["Details"]["Failure"] == failure
            assert hint in first["Hint"]
            assert f"PAM provider {provider_id} ('files', {TYPE_NAME})" in first["Message"]
            assert {s["Status"] for s in report["Steps"][1:]} == {"skipped"}
        assert relay.received == []  # no connection was made with no password

        report = diagnose(v2)
        assert report["Success"] is True, report
        first = report["Steps"][0]
        assert first["Name"] == "secret" and first["Status"] == "ok"
        assert first["Details"]["Credentials"] == {"RelayPassword": {
            "Provider": provider_id, "Parameters": {"File": "smtp-password"},
            "ProviderName": "files", "ProviderType": TYPE_NAME, "Cached": False}}
        assert FETCHED not in str(report)
    (delivered,) = relay.received
    assert delivered.login == "svc@corp.local"


def test_a_test_delivers_with_the_fetched_password_and_follows_a_rotation(
        pam_service: RunningService, vault: Vault,
        smtp_server: Callable[..., SmtpServer]) -> None:
    behaviour = Behaviour(users={"svc@corp.local": FETCHED})
    relay = smtp_server(behaviour=behaviour)
    with pam_service.client(version=2) as v2:
        provider_id = add_provider(v2, vault)["Id"]
        body = {**basic_v2(relay.port, provider_id,
                           RelayUsername=reference(provider_id, "smtp-user")),
                "TestRecipient": "pki-admin@corp.local"}
        first = v2.post("/KeyfactorAPI/SMTP/Test", json=body)
        assert first.status_code == 200, first.text
        assert relay.received[-1].login == "svc@corp.local"
        assert relay.received[-1].rcpt_tos == ["pki-admin@corp.local"]
        fetched = pam_service.runtime.memory.pam_secrets.stats
        assert (fetched.hits, fetched.misses) == (0, 2)
        assert v2.post("/KeyfactorAPI/SMTP/Test", json=body).status_code == 200
        assert (fetched.hits, fetched.misses) == (2, 2)  # the remembered values

        # rotated in the vault: a Test with the remembered value fails to sign in and
        # forgets it; the next Test fetches the new value
        vault.put("smtp-password", "Rotated-pw-2")
        behaviour.users["svc@corp.local"] = "Rotated-pw-2"
        stale = v2.post("/KeyfactorAPI/SMTP/Test", json=body)
        assert stale.status_code == 400 and "failed at step 'AUTH'" in stale.text
        assert v2.post("/KeyfactorAPI/SMTP/Test", json=body).status_code == 200

        # a change of the provider forgets its values at once
        vault.put("smtp-password", "Rotated-pw-3")
        behaviour.users["svc@corp.local"] = "Rotated-pw-3"
        changed = v2.put(PROVIDERS, json={**vault.provider_body(), "Id": provider_id})
        assert changed.status_code == 200
        assert v2.post("/KeyfactorAPI/SMTP/Test", json=body).status_code == 200
    assert len(relay.received) == 4


def test_pam_cache_seconds_zero_never_keeps_a_value(
        tmp_path: Path, ca_bundle: Path, resolver: Any, vault: Vault,
        file_provider_type: FileProviderType,
        smtp_server: Callable[..., SmtpServer]) -> None:
    relay = smtp_server(behaviour=Behaviour(users={"svc@corp.local": FETCHED}))
    running = start_service(service_settings(tmp_path / "data0", ca_bundle,
                                             pam_cache_seconds=0), resolver)
    try:
        with running.client(version=2) as v2:
            provider_id = add_provider(v2, vault)["Id"]
            body = {**basic_v2(relay.port, provider_id), "TestRecipient": "a@corp.local"}
            for _ in range(2):
                assert v2.post("/KeyfactorAPI/SMTP/Test", json=body).status_code == 200
        stats = running.runtime.memory.pam_secrets.stats
        assert (stats.hits, stats.misses) == (0, 2)
    finally:
        running.stop()


def test_types_and_the_openapi_document(pam_service: RunningService) -> None:
    with pam_service.client() as client:
        assert client.get(f"{PROVIDERS}/Types", headers={
            "x-keyfactor-requested-with": ""}).status_code == 400
        types = client.get(f"{PROVIDERS}/Types").json()
    (files,) = [t for t in types if t["Name"] == TYPE_NAME]
    assert files["Id"] == type_guid(TYPE_NAME)
    assert files["Parameters"][:2] == [
        {"Id": 1, "Name": "Directory", "DisplayName": "Directory holding the secrets",
         "DataType": 1, "InstanceLevel": False},
        {"Id": 2, "Name": "Token", "DisplayName": "Access token", "DataType": 2,
         "InstanceLevel": False}]
    assert files["Parameters"][3]["InstanceLevel"] is True
    with pam_service.client() as client:
        document = client.get("/KeyfactorAPI/openapi.json").json()
    paths = document["paths"]
    assert set(paths["/KeyfactorAPI/PamProviders"]) == {"get", "post", "put"}
    assert set(paths["/KeyfactorAPI/PamProviders/{id}"]) == {"get", "delete"}
    assert "409" in paths["/KeyfactorAPI/PamProviders/{id}"]["delete"]["responses"]
    schemas = document["components"]["schemas"]
    assert {"PamProviderIn", "PamProviderOut", "ProviderTypeOut"} <= set(schemas)
    assert "ProviderTypeParamValues" in schemas["PamProviderOut"]["properties"]
    assert "PAM reference" in schemas["ProfileV2In"]["properties"]["RelayPassword"][
        "description"]
    codes = document["info"]["x-error-codes"]
    assert {"0xA0110030", "0xA0110031", "0xA0110032"} <= set(codes)


def test_a_provider_path_matches_case_insensitively_with_its_id_as_sent(
        pam_service: RunningService, vault: Vault) -> None:
    """IIS routes `/keyfactorapi/pamproviders/7` as it routes `/KeyfactorAPI/SMTP`: the
    fixed segments in any case, a trailing slash dropped, the Id as sent."""
    with pam_service.client() as client:
        provider = add_provider(client, vault)
        pid = provider["Id"]
        for path in (f"/keyfactorapi/pamproviders/{pid}", f"/KEYFACTORAPI/PamProviders/{pid}/"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.json() == provider
        missing = client.get(f"/keyfactorapi/pamproviders/{pid + 100}")
        assert missing.status_code == 404
        assert "No PAM provider has the Id" in missing.json()["Message"]  # not "no route"
        assert client.get("/keyfactorapi/pamproviders/types").status_code == 200
        assert client.delete(f"/keyfactorapi/PAMPROVIDERS/{pid}").status_code == 204
        assert client.get(f"{PROVIDERS}/{pid}").status_code == 404
        again = add_provider(client, vault)  # and the service goes on
        assert client.get(f"/keyfactorapi/pamproviders/{again['Id']}").json() == again


def test_an_escaped_or_non_ascii_id_answers_alike_in_any_case(
        pam_service: RunningService, vault: Vault) -> None:
    """The Id is decoded, then matched: `%37` is 7 through either spelling, and an Id
    that is not a number (non-ASCII, an escaped slash) gets the same refusal through the
    lower-case path as through the canonical one (a "no route" message names the path
    as sent), never a 5xx."""
    with pam_service.client() as client:
        provider = add_provider(client, vault)
        pid = provider["Id"]
        escaped = "".join(f"%{ord(c):02X}" for c in str(pid))
        for path in (f"/keyfactorapi/pamproviders/{escaped}", f"{PROVIDERS}/{escaped}"):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.json() == provider
        for sent in ("%C3%A9", "caf%C3%A9", "7%2F1", "%00", "1%20"):
            canonical = client.get(f"{PROVIDERS}/{sent}")
            lower = client.get(f"/keyfactorapi/pamproviders/{sent}")
            assert canonical.status_code < 500, (sent, canonical.text)
            assert lower.status_code == canonical.status_code, sent
            assert lower.json()["ErrorCode"] == canonical.json()["ErrorCode"], sent
        assert client.get(f"/keyfactorapi/pamproviders/{pid}").json() == provider
