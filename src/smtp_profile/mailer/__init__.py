"""SMTP adapter: one test conversation, step by step, with TLS policy and a transcript."""
