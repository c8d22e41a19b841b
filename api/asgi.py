"""The ASGI entry point for uvicorn and other servers: ``api.asgi:app``."""

from api import logs
from api.app import create_app
from api.settings import Settings

settings = Settings.from_env()
logs.configure(settings.log_level, settings.log_format)
app = create_app(settings)
