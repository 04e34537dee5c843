"""Alembic migrations, shipped inside the package so `yotel db upgrade` works when installed."""
