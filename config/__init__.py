"""Project wiring: settings, URLs, ASGI/WSGI entry points, Celery and the plumbing every app uses."""

from config.celery import app as celery_app

__all__ = ("celery_app",)
