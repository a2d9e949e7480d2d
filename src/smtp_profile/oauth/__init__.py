"""OAuth 2.0 adapter: client-credentials access tokens for XOAUTH2 relays, cached in memory."""
