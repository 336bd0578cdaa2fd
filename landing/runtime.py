"""What every view needs: settings, the store and the journal; and ROOT."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from flask import current_app

from landing.config import Settings
from landing.journal import Journal
from landing.store import Store

# The project's top folder: templates/, static/, gunicorn.conf.py, instance/.
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Runtime:
    """What every view needs: settings, the store and the journal."""

    settings: Settings
    store: Store
    journal: Journal


def runtime() -> Runtime:
    """The running app's Runtime (create_app puts it there)."""
    return cast(Runtime, current_app.extensions["landing"])
