import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
os.environ.setdefault("DATABASE_POOL", "1")  # see DATABASE_POOL in studio/settings.py
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402 — configured by the line above

from runs.protocol import MAX_REQUEST_BYTES  # noqa: E402
from studio.body_limits import BodyLimits  # noqa: E402

application = BodyLimits(
    django_application, max_bytes=MAX_REQUEST_BYTES, timeout=settings.REQUEST_BODY_TIMEOUT_SECONDS
)
