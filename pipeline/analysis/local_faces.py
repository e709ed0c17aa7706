"""The face half of reko's local Rekognition engine: boto3-shaped methods.

:class:`LocalFacesMixin` gives a class boto3 Rekognition's face methods — same names, same
keyword parameters, same response shapes — computed offline by :mod:`.faces` (dlib) and stored
by :mod:`.face_store` (SQLite + numpy). It is composed with the other halves::

    class LocalRekognition(LocalTextMixin, LocalFacesMixin, LocalLabelsMixin): ...

and needs only ``self._data_dir`` (a :class:`pathlib.Path`; collections persist in
``<data_dir>/collections``). The face engine is the process's ``faces`` engine
(:data:`.engines.ENGINES`), loaded on first use.

Requests are checked against botocore's input shapes (required members, types, ranges) and
the Rekognition patterns; errors are raised as the Rekognition-named classes of
:mod:`.rekognition_errors` (``ResourceNotFoundException``, ``InvalidParameterException`` …),
also reachable as ``client.exceptions.<Name>`` as with boto3. Only ``Image={"Bytes": ...}`` is
supported (``S3Object`` needs the AWS client). Like the other local mixins, responses carry
no ``ResponseMetadata`` (botocore adds it; it is not part of the operation's output shape).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping, Sequence

from .engines import ENGINES
from .face_store import FaceCollections
from .faces import FaceEngine, check_attributes, face_detail
from .images import request_image
from .protocol import Request
from .rekognition_errors import EXCEPTIONS, InvalidParameterException
from .shapes import check_request


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
    exceptions = EXCEPTIONS

    @property
    def face_engine(self) -> FaceEngine:
        """The process's :class:`~.faces.FaceEngine` for ``face_engine_options`` (loaded on
        first use, shared by every client of the process).

        Raises:
            AnalyzerError: dlib or the face models are missing.
        """
        return ENGINES.get("faces", **dict(self.face_engine_options))

    @cached_property
    def face_collections(self) -> FaceCollections:
        """The :class:`~.face_store.FaceCollections` store under ``self._data_dir``."""
        return FaceCollections(self._data_dir, engine=lambda: self.face_engine)

    # -- DetectFaces ----------------------------------------------------------------------------
    def detect_faces(self, *, Image: Request, Attributes: Sequence[str] | None = None) -> dict[str, Any]:
        """Rekognition ``DetectFaces``: ``{"FaceDetails": [FaceDetail …]}``, highest
        confidence first. ``Attributes`` ``['DEFAULT']`` (default) or ``['ALL']`` (or attribute
        names) all give BoundingBox, Confidence, Landmarks, Pose, Quality; attributes that
        cannot be computed offline (age, gender, emotions, …) are left out.

        Raises:
            InvalidParameterException, InvalidS3ObjectException, ImageTooLargeException,
            InvalidImageFormatException (:func:`.images.request_image`); AnalyzerError when
            dlib or the models are missing.
        """
        image = request_image("DetectFaces", Image=Image, Attributes=Attributes)
        try:
            attrs = check_attributes(Attributes)
        except ValueError as exc:
            raise InvalidParameterException(str(exc)) from None
        faces = self.face_engine.detect(image)
        return {"FaceDetails": [face_detail(f, attrs) for f in faces]}

    # -- collections ----------------------------------------------------------------------------
    def create_collection(self, *, CollectionId: str, Tags: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Rekognition ``CreateCollection``: ``{"StatusCode", "CollectionArn",
        "FaceModelVersion"}``. Raises ResourceAlreadyExistsException."""
        check_request("CreateCollection", CollectionId=CollectionId, Tags=Tags)
        return self.face_collections.create_collection(CollectionId, Tags)

    def delete_collection(self, *, CollectionId: str) -> dict[str, Any]:
        """Rekognition ``DeleteCollection``: ``{"StatusCode": 200}``. Raises
        ResourceNotFoundException."""
        check_request("DeleteCollection", CollectionId=CollectionId)
        return self.face_collections.delete_collection(CollectionId)

    def list_collections(self, *, NextToken: str | None = None,
                         MaxResults: int | None = None) -> dict[str, Any]:
        """Rekognition ``ListCollections``: ``{"CollectionIds", "FaceModelVersions",
        "NextToken"?}``."""
        check_request("ListCollections", NextToken=NextToken, MaxResults=MaxResults)
        return self.face_collections.list_collections(MaxResults, NextToken)

    def describe_collection(self, *, CollectionId: str) -> dict[str, Any]:
        """Rekognition ``DescribeCollection``: ``{"FaceCount", "UserCount",
        "FaceModelVersion", "CollectionARN", "CreationTimestamp"}``. Raises
        ResourceNotFoundException."""
        check_request("DescribeCollection", CollectionId=CollectionId)
        return self.face_collections.describe_collection(CollectionId)

    # -- faces ----------------------------------------------------------------------------------
    def index_faces(self, *, CollectionId: str, Image: Request, ExternalImageId: str | None = None,
                    DetectionAttributes: Sequence[str] | None = None, MaxFaces: int | None = None,
                    QualityFilter: str | None = None) -> dict[str, Any]:
        """Rekognition ``IndexFaces``: ``{"FaceRecords", "FaceModelVersion",
        "UnindexedFaces"}`` (``QualityFilter`` default ``AUTO``). Raises
        ResourceNotFoundException, InvalidParameterException, InvalidImageFormatException."""
        image = request_image("IndexFaces", CollectionId=CollectionId, Image=Image,
                              ExternalImageId=ExternalImageId,
                              DetectionAttributes=DetectionAttributes, MaxFaces=MaxFaces,
                              QualityFilter=QualityFilter)
        return self.face_collections.index_faces(
            CollectionId, image, external_image_id=ExternalImageId, max_faces=MaxFaces,
            quality_filter=QualityFilter, detection_attributes=DetectionAttributes)

    def list_faces(self, *, CollectionId: str, NextToken: str | None = None,
                   MaxResults: int | None = None, UserId: str | None = None,
                   FaceIds: Sequence[str] | None = None) -> dict[str, Any]:
        """Rekognition ``ListFaces``: ``{"Faces", "FaceModelVersion", "NextToken"?}``.
        Raises ResourceNotFoundException."""
        check_request("ListFaces", CollectionId=CollectionId, NextToken=NextToken,
                      MaxResults=MaxResults, UserId=UserId, FaceIds=FaceIds)
        return self.face_collections.list_faces(CollectionId, MaxResults, NextToken, UserId,
                                                FaceIds)

    def delete_faces(self, *, CollectionId: str, FaceIds: Sequence[str]) -> dict[str, Any]:
        """Rekognition ``DeleteFaces``: ``{"DeletedFaces", "UnsuccessfulFaceDeletions"}``.
        Raises ResourceNotFoundException."""
        check_request("DeleteFaces", CollectionId=CollectionId, FaceIds=FaceIds)
        return self.face_collections.delete_faces(CollectionId, FaceIds)

    def search_faces(self, *, CollectionId: str, FaceId: str, MaxFaces: int | None = None,
                     FaceMatchThreshold: float | None = None) -> dict[str, Any]:
        """Rekognition ``SearchFaces``: ``{"SearchedFaceId", "FaceMatches",
        "FaceModelVersion"}`` (threshold default 80). Raises ResourceNotFoundException,
        InvalidParameterException."""
        check_request("SearchFaces", CollectionId=CollectionId, FaceId=FaceId, MaxFaces=MaxFaces,
                      FaceMatchThreshold=FaceMatchThreshold)
        return self.face_collections.search_faces(CollectionId, FaceId, MaxFaces,
                                                  FaceMatchThreshold)

    def search_faces_by_image(self, *, CollectionId: str, Image: Request,
                              MaxFaces: int | None = None, FaceMatchThreshold: float | None = None,
                              QualityFilter: str | None = None) -> dict[str, Any]:
        """Rekognition ``SearchFacesByImage``: ``{"SearchedFaceBoundingBox",
        "SearchedFaceConfidence", "FaceMatches", "FaceModelVersion"}`` for the largest face.
        Raises InvalidParameterException when the image has no face."""
        image = request_image("SearchFacesByImage", CollectionId=CollectionId, Image=Image,
                              MaxFaces=MaxFaces, FaceMatchThreshold=FaceMatchThreshold,
                              QualityFilter=QualityFilter)
        return self.face_collections.search_faces_by_image(
            CollectionId, image, MaxFaces, FaceMatchThreshold, QualityFilter)

    # -- users ----------------------------------------------------------------------------------
    def create_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str | None = None) -> dict[str, Any]:
        """Rekognition ``CreateUser`` (returns ``{}``). Raises ConflictException when the
        user exists, ResourceNotFoundException."""
        check_request("CreateUser", CollectionId=CollectionId, UserId=UserId,
                      ClientRequestToken=ClientRequestToken)
        return self.face_collections.create_user(CollectionId, UserId)

    def delete_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str | None = None) -> dict[str, Any]:
        """Rekognition ``DeleteUser`` (returns ``{}``; the user's faces stay, unassociated).
        Raises ResourceNotFoundException."""
        check_request("DeleteUser", CollectionId=CollectionId, UserId=UserId,
                      ClientRequestToken=ClientRequestToken)
        return self.face_collections.delete_user(CollectionId, UserId)

    def list_users(self, *, CollectionId: str, MaxResults: int | None = None,
                   NextToken: str | None = None) -> dict[str, Any]:
        """Rekognition ``ListUsers``: ``{"Users": [{"UserId", "UserStatus"}], "NextToken"?}``."""
        check_request("ListUsers", CollectionId=CollectionId, MaxResults=MaxResults,
                      NextToken=NextToken)
        return self.face_collections.list_users(CollectionId, MaxResults, NextToken)

    def associate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                        UserMatchThreshold: float | None = None,
                        ClientRequestToken: str | None = None) -> dict[str, Any]:
        """Rekognition ``AssociateFaces``: ``{"AssociatedFaces",
        "UnsuccessfulFaceAssociations", "UserStatus"}`` (threshold default 75)."""
        check_request("AssociateFaces", CollectionId=CollectionId, UserId=UserId, FaceIds=FaceIds,
                      UserMatchThreshold=UserMatchThreshold, ClientRequestToken=ClientRequestToken)
        return self.face_collections.associate_faces(CollectionId, UserId, FaceIds,
                                                     UserMatchThreshold)

    def disassociate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                           ClientRequestToken: str | None = None) -> dict[str, Any]:
        """Rekognition ``DisassociateFaces``: ``{"DisassociatedFaces",
        "UnsuccessfulFaceDisassociations", "UserStatus"}``."""
        check_request("DisassociateFaces", CollectionId=CollectionId, UserId=UserId,
                      FaceIds=FaceIds, ClientRequestToken=ClientRequestToken)
        return self.face_collections.disassociate_faces(CollectionId, UserId, FaceIds)

    def search_users(self, *, CollectionId: str, UserId: str | None = None,
                     FaceId: str | None = None, UserMatchThreshold: float | None = None,
                     MaxUsers: int | None = None) -> dict[str, Any]:
        """Rekognition ``SearchUsers`` by ``UserId`` or ``FaceId``: ``{"UserMatches",
        "FaceModelVersion", "SearchedFace"|"SearchedUser"}`` (threshold default 80)."""
        check_request("SearchUsers", CollectionId=CollectionId, UserId=UserId, FaceId=FaceId,
                      UserMatchThreshold=UserMatchThreshold, MaxUsers=MaxUsers)
        return self.face_collections.search_users(CollectionId, UserId, FaceId, UserMatchThreshold,
                                                  MaxUsers)

    def search_users_by_image(self, *, CollectionId: str, Image: Request,
                              UserMatchThreshold: float | None = None, MaxUsers: int | None = None,
                              QualityFilter: str | None = None) -> dict[str, Any]:
        """Rekognition ``SearchUsersByImage``: ``{"UserMatches", "FaceModelVersion",
        "SearchedFace", "UnsearchedFaces"}`` for the largest face. Raises
        InvalidParameterException when the image has no face."""
        image = request_image("SearchUsersByImage", CollectionId=CollectionId, Image=Image,
                              UserMatchThreshold=UserMatchThreshold, MaxUsers=MaxUsers,
                              QualityFilter=QualityFilter)
        return self.face_collections.search_users_by_image(
            CollectionId, image, UserMatchThreshold, MaxUsers, QualityFilter)
