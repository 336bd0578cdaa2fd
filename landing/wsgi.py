"""The WSGI entry point: `gunicorn --config gunicorn.conf.py landing.wsgi:app`."""

from landing import create_app

app = create_app()
