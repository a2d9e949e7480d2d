"""PAM provider adapters: one module per provider type (Vault, AWS Secrets Manager, an
external command), each implementing `usecases.ports.PamProviderType`; `registry` lists
them. A further type is one module plus one line in the registry."""
