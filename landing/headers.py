"""The headers every response carries (SPEC §7); the app's after_request adds them."""

from __future__ import annotations

from flask import Response

# Only our own files, never framed, no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(secure: bool) -> list[tuple[str, str]]:
    """What every response gets; HSTS only over HTTPS."""
    headers = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if secure:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


class PreparedResponse(Response):
    """A response made with its full header set already: the hook skips it."""
