"""The REST API edge (FastAPI): `yotel.api.app.create_app(settings)`."""
