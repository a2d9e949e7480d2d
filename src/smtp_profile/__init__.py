"""smtp-profile: the outgoing-mail profile of a certificate-management platform."""

__version__ = "0.1.0"
