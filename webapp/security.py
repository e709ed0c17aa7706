"""Request guards: the optional access token and protection against cross-site requests.

* ``REKO_AUTH_TOKEN`` set → every request (pages, API, media) must carry it: header
  ``Authorization: Bearer <token>`` or the ``reko_token`` cookie (``HttpOnly``,
  ``SameSite=Strict``) that ``POST /api/login`` sets; compared in constant time.
* State-changing requests (POST, PUT, PATCH, DELETE) must send the header
  ``X-Reko-Request: 1``. A cross-site page cannot add a custom header without a CORS preflight,
  which reko never grants, so forms and ``fetch`` from other origins are refused (OWASP CSRF
  cheat sheet, "custom request headers"). ``Sec-Fetch-Site: cross-site`` is refused outright.
"""

from __future__ import annotations

import hmac

from flask import Flask, jsonify, request

from ..settings import Settings

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_COOKIE = "reko_token"


def install_security(app: Flask, settings: Settings) -> None:
    """Register the guards and security headers on ``app``."""

    @app.before_request
    def guard():
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
            supplied = header[7:]
        if not hmac.compare_digest(supplied.encode(), settings.auth_token.encode()):
            return jsonify(error="Unauthorized", message="this reko server needs an access token"), 401
        return None

    @app.post("/api/login")
    def login():
        body = request.get_json(silent=True) or {}
        token = str(body.get("token", ""))
        if not settings.auth_token or not hmac.compare_digest(token.encode(), settings.auth_token.encode()):
            return jsonify(error="Unauthorized", message="wrong access token"), 401
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
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        return response
