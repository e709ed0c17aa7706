"""``GET /api/openapi.json`` (the OpenAPI 3.1 document, generated from the route declarations
of :mod:`reko.webapp.spec`), ``GET /api/health``, ``GET /api/estimate`` (the AWS cost
ceiling before an upload), and the declaration of ``POST /api/login``
(a route of :mod:`reko.webapp.security`)."""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Flask
from spectree import Response

from .common import reko
from .request_models import EstimateParams, HealthParams, Login, StateChange
from .response_models import AwsEstimate, Error, Health, LoggedIn, OpenApiDocument
from .spec import api

bp = Blueprint("meta", __name__, url_prefix="/api")


@bp.get("/openapi.json")
@api.validate(resp=Response(HTTP_200=OpenApiDocument), tags=["meta"])
def openapi():
    """This document (OpenAPI 3.1)."""
    return api.spec


@bp.get("/health")
@api.validate(resp=Response(HTTP_200=Health, HTTP_503=(Error, "the index is unreachable")), tags=["meta"])
def health(query: HealthParams):
    """Liveness and index statistics.

    ``uploads`` says how the site sends videos: ``server`` (``POST /api/videos``) or
    ``direct`` (S3 storage: ``POST /api/uploads``, the parts straight to S3, then
    ``POST /api/uploads/complete``). With ``estimate_ms`` (a video's duration): also
    ``estimate``, how long analysing such a video should take here (the analysis speed
    measured on this server or archive), asked by the site before an upload starts.
    """
    app = reko()
    body = {**app.health(), "uploads": app.site_uploads()}
    if query.estimate_ms is not None:
        body["estimate"] = app.site_estimate(query.estimate_ms)
    return body


@bp.get("/estimate")
@api.validate(resp=Response(HTTP_200=AwsEstimate, HTTP_500=(Error, "no prices are recorded for REKO_AWS_REGION")),
              tags=["meta"])
def aws_estimate(query: EstimateParams):
    """What analysing a video on AWS costs at most.

    For a video of ``duration_s`` seconds (and ``height`` px), before it is uploaded: every
    frame sampled at REKO_SAMPLE_FPS sent to the Rekognition image API of every REKO_FEATURES
    analysis at REKO_AWS_REGION's published prices, plus MediaConvert's output minutes. A
    ceiling: near-duplicate frames are skipped, which can only lower it; per-face calls
    (SearchUsers, CreateUser, AssociateFaces) and the costs in ``not_counted`` are not
    included. ``reko estimate VIDEO`` counts the calls on the real file.
    """
    return reko().site_aws_estimate(query.duration_s, query.height)


def declare_login(web: Flask) -> None:
    """Declare ``POST /api/login`` (registered by :func:`reko.webapp.security.install_security`)
    in the OpenAPI document. Its body is documented but checked by the route itself, so a
    malformed body counts as a failed attempt for the login backoff, as a wrong token does."""
    view: Callable[..., Any] = web.view_functions["login"]

    def login():
        """Exchange the access token for a cookie.

        When ``REKO_AUTH_TOKEN`` is set, the token sent here sets the ``reko_token`` cookie
        that authenticates the site's later requests. Wrong tokens from one address are slowed
        down exponentially (429 with ``Retry-After``).
        """
        return view()

    web.view_functions["login"] = api.validate(
        json=Login, headers=StateChange, skip_validation=True, security={}, tags=["meta"],
        resp=Response(HTTP_200=(LoggedIn, "the reko_token cookie (HttpOnly, SameSite=Strict) is set"),
                      HTTP_401=(Error, "wrong access token"),
                      HTTP_429=(Error, "too many wrong tokens; retry after Retry-After seconds")),
    )(login)
