"""The pure core: the profile, its rules, secrets and test steps. No I/O lives here."""
