"""The answer to a GET or PUT of /SMTP: the profile in the call's API version, with its
ETag. The routes (smtp_routes.py) and the fast read path (fast_read.py) both send it, so
the two can only send the same bytes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from smtp_profile.domain.profile import Profile
from smtp_profile.domain.stored import StoredProfile
from smtp_profile.server.responses import KeyfactorJSON
from smtp_profile.wire import v1, v2


def etag(version: int) -> str:
    return f'"{version}"'


def _encode(profile: Profile, version: int) -> dict[str, Any]:
    return v1.encode_profile(profile) if version == 1 else v2.encode_profile(profile)


def profile_response(stored: StoredProfile, version: int) -> Response:
    """The GET/PUT answer for `stored` in API `version`."""
    return KeyfactorJSON(_encode(stored.profile, version),
                         headers={"ETag": etag(stored.version),
                                  "Vary": "x-keyfactor-api-version"})
