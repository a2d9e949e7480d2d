"""The trust binding of stored secrets: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smtp_profile.domain.errors import DomainError, ErrorKind
from smtp_profile.domain.profile import (
    AuthType,
    Profile,
    ProfileDraft,
    build_profile,
    check_secret_trust,
)
from smtp_profile.domain.relay_options import (
    DEFAULT_TRUST,
    RelayOptions,
    TrustBinding,
)
from smtp_profile.domain.secrets import Secret

DRAFT = ProfileDraft(host="mail.test", port=587, auth_type=2, username="svc",
                     password=Secret("pw-1"), sender_account="svc@corp.local",
                     sender_name="KF", use_ssl=True)
PINNED = TrustBinding.of(RelayOptions(pinned_sha256="ab" * 32))
INSECURE = TrustBinding.of(RelayOptions(insecure=True))


def test_a_secret_entered_is_bound_to_the_checks_in_force() -> None:
    profile = build_profile(DRAFT, Profile(), PINNED)
    assert profile.secret_trust == PINNED
    check_secret_trust(profile, PINNED)


def test_a_reused_secret_keeps_its_binding() -> None:
    stored = build_profile(DRAFT, Profile(), DEFAULT_TRUST)
    reused = build_profile(replace(DRAFT, password=None, sender_name="Other"), stored,
                           INSECURE)
    assert reused.password == Secret("pw-1") and reused.secret_trust == DEFAULT_TRUST
    with pytest.raises(DomainError) as caught:
        check_secret_trust(reused, INSECURE)
    assert caught.value.kind is ErrorKind.SECRET_REENTRY_REQUIRED
    assert "RelayPassword must be re-entered because the relay options' Insecure changed" \
        in caught.value.message


@pytest.mark.parametrize(("before", "after", "named"), [
    (RelayOptions(), RelayOptions(insecure=True), "Insecure"),
    (RelayOptions(), RelayOptions(pinned_sha256="ab" * 32), "PinnedSha256"),
    (RelayOptions(pinned_sha256="ab" * 32), RelayOptions(pinned_sha256="cd" * 32),
     "PinnedSha256"),
    (RelayOptions(ca_pem="A"), RelayOptions(ca_pem="B"), "CaBundle"),
    (RelayOptions(insecure=True), RelayOptions(), "Insecure"),
])
def test_every_change_of_the_checks_is_named(before: RelayOptions, after: RelayOptions,
                                              named: str) -> None:
    assert TrustBinding.of(before).changed_settings(TrustBinding.of(after)) == [named]


def test_the_mechanism_is_not_part_of_the_checks() -> None:
    from smtp_profile.domain.relay_options import Mechanism
    assert TrustBinding.of(RelayOptions(mechanism=Mechanism.LOGIN)) == DEFAULT_TRUST


def test_no_secret_nothing_to_check() -> None:
    anonymous = build_profile(replace(DRAFT, auth_type=0, password=None), Profile(), PINNED)
    assert anonymous.secret_trust is None
    check_secret_trust(anonymous, INSECURE)


def test_an_unbound_stored_secret_counts_as_bound_to_the_default_checks() -> None:
    legacy = Profile(host="mail.test", auth_type=AuthType.BASIC, username="svc",
                     password=Secret("pw"))
    check_secret_trust(legacy, DEFAULT_TRUST)
    with pytest.raises(DomainError):
        check_secret_trust(legacy, PINNED)


def test_the_binding_round_trips_through_its_stored_form() -> None:
    binding = TrustBinding.of(RelayOptions(ca_pem="PEM", pinned_sha256="ab" * 32,
                                           insecure=True))
    assert TrustBinding.from_json(binding.to_json()) == binding
    assert TrustBinding.from_json(None) is None
    assert binding.ca_sha256 is not None and "PEM" not in str(binding.to_json())
