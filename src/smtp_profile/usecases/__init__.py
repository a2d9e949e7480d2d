"""Use cases: what the service does (read, replace and test the profile, sign in, audit),
written against the small ports in `ports.py`; the adapters are wired in `runtime.py`."""
