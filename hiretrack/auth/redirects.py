"""Keep `next=` and referrer redirects on this site."""

from urllib.parse import urlsplit


def safe_next_url(target: str | None) -> str | None:
    """Return a same-site path for a redirect target, or None when it would leave the site."""
    if not target:
        return None
    target = target.strip()
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        from flask import request

        if parts.netloc != request.host or parts.scheme not in ("http", "https"):
            return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")
