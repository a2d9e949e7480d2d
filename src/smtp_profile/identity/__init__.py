"""The identity provider adapter: an OpenID Connect provider's published signing keys,
fetched over HTTPS, and bearer tokens checked against them."""
