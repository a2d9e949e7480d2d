"""References to PAM providers in the profile: the binding rule, version 1, the audit."""

from __future__ import annotations

from typing import Any

import pytest

from smtp_profile.domain.audit import FieldChange, profile_changes
from smtp_profile.domain.errors import DomainError, ErrorKind, ValidationFailed
from smtp_profile.domain.pam import (
    SECRET_HINTS,
    PamProvider,
    ProviderDraft,
    build_provider,
    check_reference_shape,
    reference_problems,
)
from smtp_profile.domain.profile import (
    Profile,
    ProfileDraft,
    build_profile,
    build_replacement,
    secret_trust_changes,
)
from smtp_profile.domain.relay_options import DEFAULT_TRUST, TrustBinding
from smtp_profile.domain.secret_reference import ParameterSpec, SecretFailure, SecretReference
from smtp_profile.domain.secrets import Secret

PASSWORD = SecretReference.of(3, {"File": "smtp-password"})
USER = SecretReference.of(3, {"File": "smtp-user"})
SECRET = SecretReference.of(4, {"Path": "oauth"})
CLIENT = SecretReference.of(4, {"Path": "client-id"})

BASIC: dict[str, Any] = dict(host="mail.test", port=587, auth_type=2, username="svc",
             sender_account="svc@corp.local", sender_name="KF", use_ssl=True)
OAUTH: dict[str, Any] = dict(host="smtp.office365.com", port=587, auth_type=3, use_ssl=True,
             sender_account="svc@corp.local", sender_name="KF",
             token_endpoint="https://login.test/token", client_id="app")

SPECS = (ParameterSpec("Host", "Host"), ParameterSpec("Token", "Token", secret=True),
         ParameterSpec("Label", "Label", required=False),
         ParameterSpec("Path", "Path", instance_level=True),
         ParameterSpec("Key", "Key", instance_level=True, required=False))


def stored_basic() -> Profile:
    return build_profile(ProfileDraft(**BASIC, password_ref=PASSWORD), Profile())


def test_a_reference_is_stored_in_place_of_a_value() -> None:
    profile = stored_basic()
    assert profile.password is None and profile.password_ref == PASSWORD
    assert profile.references == {"RelayPassword": PASSWORD}
    literal = build_profile(ProfileDraft(**BASIC, password=Secret("pw")), profile)
    assert literal.password_ref is None and literal.references == {}


@pytest.mark.parametrize(("change", "named"), [
    ({"host": "other.test"}, "Host"), ({"port": 25}, "Port"), ({"use_ssl": False}, "UseSSL"),
    ({"username": "other"}, "RelayUsername"),
    ({"username": None, "username_ref": USER}, "RelayUsername"),
])
def test_a_kept_reference_is_bound_to_its_destination(change: dict[str, Any],
                                                      named: str) -> None:
    stored = stored_basic()
    assert build_profile(ProfileDraft(**BASIC), stored).password_ref == PASSWORD
    with pytest.raises(DomainError) as caught:
        build_profile(ProfileDraft(**{**BASIC, **change}), stored)
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert named in caught.value.message
    again = build_profile(ProfileDraft(**{**BASIC, **change}, password_ref=PASSWORD), stored)
    assert again.password_ref == PASSWORD


def test_a_referenced_username_binds_the_password_too() -> None:
    stored = build_profile(ProfileDraft(**{**BASIC, "username": None}, username_ref=USER,
                                        password=Secret("pw")), Profile())
    assert stored.username is None and stored.username_ref == USER
    kept = build_profile(ProfileDraft(**{**BASIC, "username": None}, username_ref=USER),
                         stored)
    assert kept.password is not None
    other_user = SecretReference.of(3, {"File": "another-user"})
    with pytest.raises(DomainError) as caught:
        build_profile(ProfileDraft(**{**BASIC, "username": None}, username_ref=other_user),
                      stored)
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    with pytest.raises(ValidationFailed):  # version 2 without a username: none at all
        build_profile(ProfileDraft(**{**BASIC, "username": None}), stored)


def test_version_1_keeps_references_it_cannot_show() -> None:
    stored = build_profile(ProfileDraft(**{**BASIC, "username": None}, username_ref=USER,
                                        password_ref=PASSWORD), Profile())
    v1 = ProfileDraft(**{**BASIC, "username": None}, carries_oauth=False)
    kept = build_replacement(v1, stored)
    assert (kept.username_ref, kept.password_ref) == (USER, PASSWORD)
    replaced = ProfileDraft(**BASIC, carries_oauth=False)  # a literal username
    with pytest.raises(DomainError) as caught:
        build_replacement(replaced, stored)
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED


def test_oauth_references_follow_the_client_secret_rules() -> None:
    stored = build_profile(ProfileDraft(**{**OAUTH, "client_id": None}, client_id_ref=CLIENT,
                                        client_secret_ref=SECRET), Profile())
    assert stored.references == {"ClientId": CLIENT, "ClientSecret": SECRET}
    v1 = ProfileDraft(host=OAUTH["host"], port=587, auth_type=3, use_ssl=True,
                      sender_account="svc@corp.local", sender_name="KF",
                      carries_oauth=False)
    assert build_replacement(v1, stored).references == stored.references
    with pytest.raises(DomainError) as caught:
        build_profile(ProfileDraft(**OAUTH), stored)  # a literal ClientId now
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert "ClientId" in caught.value.message
    with pytest.raises(DomainError):
        build_profile(ProfileDraft(**{**OAUTH, "client_id": None, "token_endpoint":
                                      "https://evil.test/token"}, client_id_ref=CLIENT),
                      stored)


def test_a_reference_is_bound_to_the_trust_it_was_entered_under() -> None:
    stored = stored_basic()
    assert stored.secret_trust == DEFAULT_TRUST
    pinned = TrustBinding(insecure=False, pinned_sha256="ab" * 32, ca_sha256=None)
    assert secret_trust_changes(stored, pinned) == ["PinnedSha256"]
    assert secret_trust_changes(stored, DEFAULT_TRUST) == []
    entered = build_profile(ProfileDraft(**BASIC, password_ref=PASSWORD), stored, pinned)
    assert entered.secret_trust == pinned


def test_audit_names_the_provider_never_a_value() -> None:
    stored = stored_basic()
    literal = build_profile(ProfileDraft(**BASIC, password=Secret("Canary-pw")), stored)
    assert FieldChange("RelayPassword", "PAM provider 3 (File=smtp-password)", "stored") \
        in profile_changes(stored, literal)
    assert FieldChange.secret_changed("RelayPassword") in profile_changes(
        literal, build_profile(ProfileDraft(**BASIC, password=Secret("other")), literal))
    assert "Canary-pw" not in repr(profile_changes(stored, literal))


def test_reference_shapes_and_parameters() -> None:
    assert check_reference_shape("RelayPassword", "7", {"Path": "a", "Key": None}) == \
        SecretReference.of(7, {"Path": "a"})
    for provider in (None, 0, -1, True, "x", "2147483648", 2**31, "\uff11", 1.5):
        with pytest.raises(ValidationFailed):
            check_reference_shape("RelayPassword", provider, {})
    with pytest.raises(ValidationFailed):
        check_reference_shape("RelayPassword", 1, {"Path": "a\nb"})
    assert reference_problems("X", SecretReference.of(1, {"Path": "p"}), SPECS) == []
    problems = reference_problems("X", SecretReference.of(1, {"Token": "t"}), SPECS)
    assert any("'Token' is not an instance-level parameter" in p for p in problems)
    assert any("'Path' (Path) is required" in p for p in problems)


def test_provider_settings_keep_secrets_and_refuse_what_is_not_theirs() -> None:
    created = build_provider(ProviderDraft("v", "T", {"Host": "h", "Token": "t1"}), SPECS)
    assert created.setting_map == {"Host": "h"} and created.secret_names == {"Token"}
    assert "t1" not in repr(created)
    stored = PamProvider(5, created.name, "T", created.settings, created.secrets, version=3)
    kept = build_provider(ProviderDraft("v2", "T", {"Host": "h2", "Token": None}), SPECS,
                          provider_id=5, stored=stored)
    assert kept.opened_settings() == {"Host": "h2", "Token": "t1"} and kept.version == 3
    for values, wording in (({"Host": "h"}, "'Token' (Token) is required"),
                            ({"Host": "h", "Token": "t", "Path": "p"}, "instance-level"),
                            ({"Host": "h", "Token": "t", "Nope": "x"}, "not a parameter"),
                            ({"Host": "h\r\n", "Token": "t"}, "control characters")):
        with pytest.raises(ValidationFailed) as caught:
            build_provider(ProviderDraft("v", "T", values), SPECS)
        assert wording in caught.value.message


def test_every_failure_has_a_hint() -> None:
    assert set(SECRET_HINTS) == set(SecretFailure)
