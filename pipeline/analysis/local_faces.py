"""The face half of reko's local Rekognition engine: boto3-shaped methods.

:class:`LocalFacesMixin` gives a class boto3 Rekognition's face methods — same names, same
keyword parameters, same response shapes — computed offline by :mod:`.faces` (dlib) and stored
by :mod:`.collections` (SQLite + numpy). It is composed with the text half::

    class LocalRekognition(LocalTextMixin, LocalFacesMixin): ...

and needs only ``self._data_dir`` (a :class:`pathlib.Path`; collections persist in
``<data_dir>/collections``). Engines are built lazily on first use.

Requests are checked against botocore's input shapes (required members, types, ranges) and
the Rekognition patterns; errors are raised as the Rekognition-named classes of
:mod:`.collections` (``ResourceNotFoundException``, ``InvalidParameterException`` …), also
reachable as ``client.exceptions.<Name>`` as with boto3. Only ``Image={"Bytes": ...}`` is
supported (``S3Object`` needs the AWS client). Like the other local mixins, responses carry
no ``ResponseMetadata`` (botocore adds it; it is not part of the operation's output shape).
"""

from __future__ import annotations

import types
from typing import Any, Sequence

import numpy as np

from ...errors import MediaError
from . import collections as _col
from .collections import FaceCollections, InvalidImageFormatException, InvalidParameterException
from .faces import FaceEngine, check_attributes, face_detail

#: The Rekognition-named error classes, as ``client.exceptions`` exposes them in boto3.
FACE_EXCEPTIONS = types.SimpleNamespace(
    ResourceNotFoundException=_col.ResourceNotFoundException,
    InvalidParameterException=_col.InvalidParameterException,
    InvalidPaginationTokenException=_col.InvalidPaginationTokenException,
    InvalidImageFormatException=_col.InvalidImageFormatException,
    ResourceAlreadyExistsException=_col.ResourceAlreadyExistsException,
    ConflictException=_col.ConflictException,
)


def _params(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


class LocalFacesMixin:
    """boto3 Rekognition face methods, computed locally.

    Requires ``self._data_dir: pathlib.Path``. Optional class/instance attribute
    ``face_engine_options`` (dict) is passed to :class:`~.faces.FaceEngine` (``upsample``,
    ``min_score``, ``max_side_px``, ``num_jitters``).

    Methods (all keyword-only, boto3 names): ``detect_faces``, ``create_collection``,
    ``delete_collection``, ``list_collections``, ``describe_collection``, ``index_faces``,
    ``list_faces``, ``delete_faces``, ``search_faces``, ``search_faces_by_image``,
    ``create_user``, ``delete_user``, ``list_users``, ``associate_faces``,
    ``disassociate_faces``, ``search_users``, ``search_users_by_image``.
    """

    _data_dir: Any
    face_engine_options: dict[str, Any] = {}
    exceptions = FACE_EXCEPTIONS

    # -- lazily built engines -----------------------------------------------------------------
    @property
    def face_engine(self) -> FaceEngine:
        """The :class:`~.faces.FaceEngine` (models load on its first detection)."""
        engine = self.__dict__.get("_reko_face_engine")
        if engine is None:
            engine = FaceEngine(**dict(self.face_engine_options))
            self.__dict__["_reko_face_engine"] = engine
        return engine

    @property
    def face_collections(self) -> FaceCollections:
        """The :class:`~.collections.FaceCollections` store under ``self._data_dir``."""
        store = self.__dict__.get("_reko_face_collections")
        if store is None:
            store = FaceCollections(self._data_dir, engine=lambda: self.face_engine)
            self.__dict__["_reko_face_collections"] = store
        return store

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _faces_request(operation: str, params: dict[str, Any]) -> None:
        """Check a request against botocore's input shape for ``operation``.

        Raises:
            InvalidParameterException: missing/unknown member, wrong type or out of range.
        """
        from .shapes import validation_errors

        errors = validation_errors(operation, params, request=True)
        if errors:
            raise InvalidParameterException(f"{operation}: {errors}")

    @staticmethod
    def _faces_image(image: Any) -> np.ndarray:
        """Decode ``Image={"Bytes": ...}`` into RGB uint8 H×W×3.

        Raises:
            InvalidParameterException: no ``Bytes`` (e.g. ``S3Object``, AWS only).
            InvalidImageFormatException: the bytes are not a JPEG/PNG.
        """
        from ..media import decode_image

        if not isinstance(image, dict) or not isinstance(image.get("Bytes"), (bytes, bytearray)):
            raise InvalidParameterException(
                "the local engine reads Image={'Bytes': <JPEG or PNG bytes>}; Image.S3Object "
                "needs the AWS Rekognition client (REKO analysis engine 'rekognition')")
        try:
            return decode_image(bytes(image["Bytes"]))
        except MediaError as exc:
            raise InvalidImageFormatException(
                f"Request has invalid image format: {exc}; send JPEG or PNG bytes") from None

    @staticmethod
    def _faces_response(body: dict[str, Any]) -> dict[str, Any]:
        """The response body as returned to callers (one place to add envelope fields)."""
        return body

    # -- DetectFaces ----------------------------------------------------------------------------
    def detect_faces(self, *, Image: dict, Attributes: Sequence[str] | None = None) -> dict:
        """Rekognition ``DetectFaces``: ``{"FaceDetails": [FaceDetail …]}``, highest
        confidence first. ``Attributes`` ``['DEFAULT']`` (default) or ``['ALL']`` (or attribute
        names) all give BoundingBox, Confidence, Landmarks, Pose, Quality; attributes that
        cannot be computed offline (age, gender, emotions, …) are left out.

        Raises:
            InvalidParameterException, InvalidImageFormatException; AnalyzerError when dlib or
            the models are missing.
        """
        self._faces_request("DetectFaces", _params(Image=Image, Attributes=Attributes))
        try:
            attrs = check_attributes(Attributes)
        except ValueError as exc:
            raise InvalidParameterException(str(exc)) from None
        faces = self.face_engine.detect(self._faces_image(Image))
        return self._faces_response({"FaceDetails": [face_detail(f, attrs) for f in faces]})

    # -- collections ----------------------------------------------------------------------------
    def create_collection(self, *, CollectionId: str, Tags: dict | None = None) -> dict:
        """Rekognition ``CreateCollection``: ``{"StatusCode", "CollectionArn",
        "FaceModelVersion"}``. Raises ResourceAlreadyExistsException."""
        self._faces_request("CreateCollection", _params(CollectionId=CollectionId, Tags=Tags))
        return self._faces_response(self.face_collections.create_collection(CollectionId, Tags))

    def delete_collection(self, *, CollectionId: str) -> dict:
        """Rekognition ``DeleteCollection``: ``{"StatusCode": 200}``. Raises
        ResourceNotFoundException."""
        self._faces_request("DeleteCollection", _params(CollectionId=CollectionId))
        return self._faces_response(self.face_collections.delete_collection(CollectionId))

    def list_collections(self, *, NextToken: str | None = None,
                         MaxResults: int | None = None) -> dict:
        """Rekognition ``ListCollections``: ``{"CollectionIds", "FaceModelVersions",
        "NextToken"?}``."""
        self._faces_request("ListCollections", _params(NextToken=NextToken, MaxResults=MaxResults))
        return self._faces_response(self.face_collections.list_collections(MaxResults, NextToken))

    def describe_collection(self, *, CollectionId: str) -> dict:
        """Rekognition ``DescribeCollection``: ``{"FaceCount", "UserCount",
        "FaceModelVersion", "CollectionARN", "CreationTimestamp"}``. Raises
        ResourceNotFoundException."""
        self._faces_request("DescribeCollection", _params(CollectionId=CollectionId))
        return self._faces_response(self.face_collections.describe_collection(CollectionId))

    # -- faces ----------------------------------------------------------------------------------
    def index_faces(self, *, CollectionId: str, Image: dict, ExternalImageId: str | None = None,
                    DetectionAttributes: Sequence[str] | None = None, MaxFaces: int | None = None,
                    QualityFilter: str | None = None) -> dict:
        """Rekognition ``IndexFaces``: ``{"FaceRecords", "FaceModelVersion",
        "UnindexedFaces"}`` (``QualityFilter`` default ``AUTO``). Raises
        ResourceNotFoundException, InvalidParameterException, InvalidImageFormatException."""
        self._faces_request("IndexFaces", _params(
            CollectionId=CollectionId, Image=Image, ExternalImageId=ExternalImageId,
            DetectionAttributes=DetectionAttributes, MaxFaces=MaxFaces, QualityFilter=QualityFilter))
        store = self.face_collections
        store.path(CollectionId)                    # validate the id before decoding
        image = self._faces_image(Image)
        return self._faces_response(store.index_faces(
            CollectionId, image, external_image_id=ExternalImageId, max_faces=MaxFaces,
            quality_filter=QualityFilter, detection_attributes=DetectionAttributes))

    def list_faces(self, *, CollectionId: str, NextToken: str | None = None,
                   MaxResults: int | None = None, UserId: str | None = None,
                   FaceIds: Sequence[str] | None = None) -> dict:
        """Rekognition ``ListFaces``: ``{"Faces", "FaceModelVersion", "NextToken"?}``.
        Raises ResourceNotFoundException."""
        self._faces_request("ListFaces", _params(CollectionId=CollectionId, NextToken=NextToken,
                                                 MaxResults=MaxResults, UserId=UserId,
                                                 FaceIds=FaceIds))
        return self._faces_response(self.face_collections.list_faces(
            CollectionId, MaxResults, NextToken, UserId, FaceIds))

    def delete_faces(self, *, CollectionId: str, FaceIds: Sequence[str]) -> dict:
        """Rekognition ``DeleteFaces``: ``{"DeletedFaces", "UnsuccessfulFaceDeletions"}``.
        Raises ResourceNotFoundException."""
        self._faces_request("DeleteFaces", _params(CollectionId=CollectionId, FaceIds=FaceIds))
        return self._faces_response(self.face_collections.delete_faces(CollectionId, FaceIds))

    def search_faces(self, *, CollectionId: str, FaceId: str, MaxFaces: int | None = None,
                     FaceMatchThreshold: float | None = None) -> dict:
        """Rekognition ``SearchFaces``: ``{"SearchedFaceId", "FaceMatches",
        "FaceModelVersion"}`` (threshold default 80). Raises ResourceNotFoundException,
        InvalidParameterException."""
        self._faces_request("SearchFaces", _params(CollectionId=CollectionId, FaceId=FaceId,
                                                   MaxFaces=MaxFaces,
                                                   FaceMatchThreshold=FaceMatchThreshold))
        return self._faces_response(self.face_collections.search_faces(
            CollectionId, FaceId, MaxFaces, FaceMatchThreshold))

    def search_faces_by_image(self, *, CollectionId: str, Image: dict,
                              MaxFaces: int | None = None, FaceMatchThreshold: float | None = None,
                              QualityFilter: str | None = None) -> dict:
        """Rekognition ``SearchFacesByImage``: ``{"SearchedFaceBoundingBox",
        "SearchedFaceConfidence", "FaceMatches", "FaceModelVersion"}`` for the largest face.
        Raises InvalidParameterException when the image has no face."""
        self._faces_request("SearchFacesByImage", _params(
            CollectionId=CollectionId, Image=Image, MaxFaces=MaxFaces,
            FaceMatchThreshold=FaceMatchThreshold, QualityFilter=QualityFilter))
        store = self.face_collections
        store.path(CollectionId)
        image = self._faces_image(Image)
        return self._faces_response(store.search_faces_by_image(
            CollectionId, image, MaxFaces, FaceMatchThreshold, QualityFilter))

    # -- users ----------------------------------------------------------------------------------
    def create_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str | None = None) -> dict:
        """Rekognition ``CreateUser`` (returns ``{}``). Raises ConflictException when the
        user exists, ResourceNotFoundException."""
        self._faces_request("CreateUser", _params(CollectionId=CollectionId, UserId=UserId,
                                                  ClientRequestToken=ClientRequestToken))
        return self._faces_response(self.face_collections.create_user(CollectionId, UserId))

    def delete_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str | None = None) -> dict:
        """Rekognition ``DeleteUser`` (returns ``{}``; the user's faces stay, unassociated).
        Raises ResourceNotFoundException."""
        self._faces_request("DeleteUser", _params(CollectionId=CollectionId, UserId=UserId,
                                                  ClientRequestToken=ClientRequestToken))
        return self._faces_response(self.face_collections.delete_user(CollectionId, UserId))

    def list_users(self, *, CollectionId: str, MaxResults: int | None = None,
                   NextToken: str | None = None) -> dict:
        """Rekognition ``ListUsers``: ``{"Users": [{"UserId", "UserStatus"}], "NextToken"?}``."""
        self._faces_request("ListUsers", _params(CollectionId=CollectionId, MaxResults=MaxResults,
                                                 NextToken=NextToken))
        return self._faces_response(self.face_collections.list_users(CollectionId, MaxResults,
                                                                     NextToken))

    def associate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                        UserMatchThreshold: float | None = None,
                        ClientRequestToken: str | None = None) -> dict:
        """Rekognition ``AssociateFaces``: ``{"AssociatedFaces",
        "UnsuccessfulFaceAssociations", "UserStatus"}`` (threshold default 75)."""
        self._faces_request("AssociateFaces", _params(
            CollectionId=CollectionId, UserId=UserId, FaceIds=FaceIds,
            UserMatchThreshold=UserMatchThreshold, ClientRequestToken=ClientRequestToken))
        return self._faces_response(self.face_collections.associate_faces(
            CollectionId, UserId, FaceIds, UserMatchThreshold))

    def disassociate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                           ClientRequestToken: str | None = None) -> dict:
        """Rekognition ``DisassociateFaces``: ``{"DisassociatedFaces",
        "UnsuccessfulFaceDisassociations", "UserStatus"}``."""
        self._faces_request("DisassociateFaces", _params(
            CollectionId=CollectionId, UserId=UserId, FaceIds=FaceIds,
            ClientRequestToken=ClientRequestToken))
        return self._faces_response(self.face_collections.disassociate_faces(
            CollectionId, UserId, FaceIds))

    def search_users(self, *, CollectionId: str, UserId: str | None = None,
                     FaceId: str | None = None, UserMatchThreshold: float | None = None,
                     MaxUsers: int | None = None) -> dict:
        """Rekognition ``SearchUsers`` by ``UserId`` or ``FaceId``: ``{"UserMatches",
        "FaceModelVersion", "SearchedFace"|"SearchedUser"}`` (threshold default 80)."""
        self._faces_request("SearchUsers", _params(
            CollectionId=CollectionId, UserId=UserId, FaceId=FaceId,
            UserMatchThreshold=UserMatchThreshold, MaxUsers=MaxUsers))
        return self._faces_response(self.face_collections.search_users(
            CollectionId, UserId, FaceId, UserMatchThreshold, MaxUsers))

    def search_users_by_image(self, *, CollectionId: str, Image: dict,
                              UserMatchThreshold: float | None = None, MaxUsers: int | None = None,
                              QualityFilter: str | None = None) -> dict:
        """Rekognition ``SearchUsersByImage``: ``{"UserMatches", "FaceModelVersion",
        "SearchedFace", "UnsearchedFaces"}`` for the largest face. Raises
        InvalidParameterException when the image has no face."""
        self._faces_request("SearchUsersByImage", _params(
            CollectionId=CollectionId, Image=Image, UserMatchThreshold=UserMatchThreshold,
            MaxUsers=MaxUsers, QualityFilter=QualityFilter))
        store = self.face_collections
        store.path(CollectionId)
        image = self._faces_image(Image)
        return self._faces_response(store.search_users_by_image(
            CollectionId, image, UserMatchThreshold, MaxUsers, QualityFilter))
