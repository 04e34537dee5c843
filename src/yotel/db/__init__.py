"""Storage: SQLAlchemy models, engine configuration, Alembic migrations."""
