"""Database adapter: tables, repositories and Alembic migrations (SQLite or PostgreSQL)."""
