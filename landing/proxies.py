"""Which address a request comes from behind the PaaS router (SPEC §2)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


def wrap(wsgi_app: WSGIApplication, hops: int) -> WSGIApplication:
    """Trust X-Forwarded-For and -Proto for `hops` proxies; with none, say so.

    Never trust more hops than there are proxies: the client writes the
    leftmost entries itself.
    """
    if hops > 0:
        return ProxyFix(wsgi_app, x_for=hops, x_proto=hops)
    return WarnOnForwarded(wsgi_app)


class WarnOnForwarded:
    """Pass requests through; log once when a proxy's header shows up untrusted.

    One warning per app, and there is one app per gunicorn worker process.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        self.warned = False
        self._lock = threading.Lock()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if not self.warned and "HTTP_X_FORWARDED_FOR" in environ:
            with self._lock:
                if not self.warned:
                    self.warned = True
                    log.warning(
                        "A request came through a proxy (it has X-Forwarded-For) "
                        "but TRUSTED_PROXY_HOPS is 0, so every customer shares "
                        "the router's address for LANDING_RATE_LIMIT and the "
                        "sign-in throttle: set TRUSTED_PROXY_HOPS to the number "
                        "of proxies in front (1 behind a PaaS router)."
                    )
        return self.wsgi_app(environ, start_response)
