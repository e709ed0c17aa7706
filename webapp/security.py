"""Request guards: the Host allow-list, the optional access token with login backoff, and
protection against cross-site requests.

* Host allow-list (``REKO_ALLOWED_HOSTS``; default localhost, 127.0.0.1, ::1 and the address
  ``reko serve`` binds): a request whose ``Host`` names anything else is refused with 400, so a
  DNS-rebinding page (``attacker.example`` resolving to 127.0.0.1) cannot talk to reko.
* ``REKO_AUTH_TOKEN`` set → every request (pages, API, media) must carry it: header
  ``Authorization: Bearer <token>`` or the ``reko_token`` cookie (``HttpOnly``,
  ``SameSite=Strict``) that ``POST /api/login`` sets; compared in constant time on UTF-8 bytes
  (a non-ASCII token works in the header too). Failed logins from one address are slowed down
  exponentially (:class:`LoginThrottle`).
* State-changing requests (POST, PUT, PATCH, DELETE) must send the header
  ``X-Reko-Request: 1``. A cross-site page cannot add a custom header without a CORS preflight,
  which reko never grants, so forms and ``fetch`` from other origins are refused (OWASP CSRF
  cheat sheet, "custom request headers"). ``Sec-Fetch-Site: cross-site`` is refused outright.
"""

from __future__ import annotations

import hmac
import threading
import time

from flask import Flask, jsonify, request

from ..settings import Settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_COOKIE = "reko_token"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("", "0.0.0.0", "::")


def allowed_hosts(settings: Settings, bound_host: str | None) -> list[str] | None:
    """Host names the app answers to; None means any (``*``, or bound to every interface with
    no explicit list, where the token is what protects the server)."""
    if settings.allowed_hosts.strip():
        hosts = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
        return None if "*" in hosts else hosts
    if bound_host is not None and bound_host in WILDCARD_BINDS:
        return None
    return [*LOOPBACK_HOSTS, *([bound_host] if bound_host else [])]


def host_name(host: str) -> str:
    """The name part of a ``Host`` header value, lower-cased: port and IPv6 brackets removed
    (``[::1]:5000`` → ``::1``, ``Example.org:80`` → ``example.org``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether a ``Host`` header names one of ``allowed`` (an entry ``.example.org`` also
    allows its subdomains, as in Django's ALLOWED_HOSTS)."""
    name = host_name(host)
    for entry in (host_name(a) if not a.startswith(".") else a.lower() for a in allowed):
        if name == entry or (entry.startswith(".") and (name.endswith(entry) or name == entry[1:])):
            return True
    return False


class LoginThrottle:
    """Exponential backoff per client address: after :attr:`free_attempts` failures, each new
    attempt must wait ``2 ** (failures - free_attempts)`` seconds (at most :attr:`max_wait_s`);
    a success clears the address. OWASP Authentication cheat sheet, "login throttling"."""

    free_attempts = 5
    max_wait_s = 300

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> int:
        """Seconds ``address`` must still wait before its next attempt (0: go ahead)."""
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
        if count < self.free_attempts:
            return 0
        delay = min(self.max_wait_s, 2 ** (count - self.free_attempts))
        return max(0, int(last + delay - time.monotonic() + 0.999))

    def failed(self, address: str) -> None:
        """Record a failed attempt."""
        with self._lock:
            count, _ = self._failures.get(address, (0, 0.0))
            self._failures[address] = (count + 1, time.monotonic())
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, address: str) -> None:
        """Forget an address's failures."""
        with self._lock:
            self._failures.pop(address, None)


def _header_token(value: str) -> str:
    """A Bearer token as the client sent it: WSGI gives header bytes as latin-1 text, so a
    UTF-8 token arrives mojibaked and is re-decoded here."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _matches(supplied: str, token: str) -> bool:
    return hmac.compare_digest(supplied.encode("utf-8"), token.encode("utf-8"))


def install_security(app: Flask, settings: Settings, bound_host: str | None = None,
                     media_origin: str = "") -> None:
    """Register the guards, the login route and security headers on ``app``. ``media_origin``
    (remote storage's presigned URLs) is allowed for images and video in the CSP, and for
    ``fetch`` (the site PUTs upload parts straight to S3)."""
    hosts = allowed_hosts(settings, bound_host)
    throttle = LoginThrottle()
    extra = f" {media_origin}" if media_origin else ""

    @app.before_request
    def guard():
        if hosts is not None and not host_allowed(request.host, hosts):
            return jsonify(error="Bad Request", message="this server does not answer to that host "
                           "name; add it to REKO_ALLOWED_HOSTS"), 400
        if request.method in UNSAFE_METHODS:
            if request.headers.get("Sec-Fetch-Site") == "cross-site" or \
                    request.headers.get("X-Reko-Request") != "1":
                return jsonify(error="Forbidden", message="cross-site or scripted request refused: "
                               "send the header X-Reko-Request: 1 from the reko site"), 403
        if not settings.auth_token or request.path in ("/api/login", "/", "/index.html") \
                or request.path.startswith("/static/"):
            return None
        supplied = request.cookies.get(TOKEN_COOKIE, "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            supplied = _header_token(header[7:])
        if not _matches(supplied, settings.auth_token):
            return jsonify(error="Unauthorized", message="this reko server needs an access token"), 401
        return None

    @app.post("/api/login")
    def login():
        address = request.remote_addr or "?"
        wait = throttle.wait_s(address)
        if wait:
            response = jsonify(error="Too Many Requests",
                               message=f"too many wrong tokens; try again in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response, 429
        body = request.get_json(silent=True)
        token = body.get("token") if isinstance(body, dict) else None
        if not settings.auth_token or not isinstance(token, str) or not _matches(token, settings.auth_token):
            throttle.failed(address)
            return jsonify(error="Unauthorized", message="wrong access token"), 401
        throttle.succeeded(address)
        response = jsonify(ok=True)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; "
            f"connect-src 'self'{extra}; "
            "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        return response
