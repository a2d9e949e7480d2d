"""The JSON shapes of the web session routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SignInIn(BaseModel):
    """Body of POST /web/session."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

    user_name: str = Field(alias="UserName", min_length=1, max_length=300)
    password: str = Field(alias="Password", min_length=1, max_length=1024, repr=False)


class SessionOut(BaseModel):
    """Who is signed in, what they may do, and until when."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    user_name: str = Field(alias="UserName")
    permissions: list[str] = Field(alias="Permissions")
    expires_at: str | None = Field(alias="ExpiresAt",
                                   description="ISO 8601 UTC; null for Basic auth. Each use "
                                   "of the session moves it later, up to MaxExpiresAt.")
    expires_in: int | None = Field(alias="ExpiresInSeconds",
                                   description="Seconds until ExpiresAt by the server's clock "
                                   "(the page counts down from this, so a wrong clock in the "
                                   "browser does not matter); null for Basic auth.")
    max_expires_at: str | None = Field(alias="MaxExpiresAt",
                                       description="ISO 8601 UTC: the latest the session "
                                       "can last, however active; null for Basic auth.")
    email: str | None = Field(alias="Email",
                              description="The user's e-mail address where one is known "
                              "(the page's default test recipient).")
