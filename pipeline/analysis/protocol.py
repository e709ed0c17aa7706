"""The analysis interface reko is written against: the part of boto3's Rekognition client it calls.

:class:`RekognitionClient` lists those methods with boto3's names and keyword-only parameters
(the members of each operation's input shape in botocore's Rekognition service model; required
members have no default). Every method returns the operation's response as a dict
(``BoundingBox`` values are ratios 0–1 of the image, ``Confidence`` and ``Similarity`` 0–100)
and raises Rekognition's modelled errors (``e.response["Error"]["Code"]``, e.g.
``InvalidParameterException``). ``boto3.client("rekognition")`` and
:class:`~.local.LocalRekognition` both satisfy it; the tests check the local engine's
signatures against this class and this class against botocore's model.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

Request = Mapping[str, Any]  #: a request structure (``Image``, ``Filters``, ``Settings`` …)


@runtime_checkable
class RekognitionClient(Protocol):
    """boto3 Rekognition's methods that reko calls (``isinstance`` checks their presence)."""

    # -- images ----------------------------------------------------------------------------
    def detect_text(self, *, Image: Request, Filters: Request = ...) -> dict[str, Any]:
        """DetectText: ``{"TextDetections", "TextModelVersion"}`` (LINEs then WORDs)."""

    def detect_faces(self, *, Image: Request, Attributes: Sequence[str] = ...) -> dict[str, Any]:
        """DetectFaces: ``{"FaceDetails"}``."""

    def detect_labels(self, *, Image: Request, MaxLabels: int = ..., MinConfidence: float = ...,
                      Features: Sequence[str] = ..., Settings: Request = ...) -> dict[str, Any]:
        """DetectLabels: ``{"Labels", "LabelModelVersion"}``."""

    def detect_moderation_labels(self, *, Image: Request, MinConfidence: float = ...,
                                 HumanLoopConfig: Request = ...,
                                 ProjectVersion: str = ...) -> dict[str, Any]:
        """DetectModerationLabels: ``{"ModerationLabels", "ModerationModelVersion"}``."""

    # -- collections and faces -------------------------------------------------------------
    def create_collection(self, *, CollectionId: str,
                          Tags: Mapping[str, str] = ...) -> dict[str, Any]:
        """CreateCollection: ``{"StatusCode", "CollectionArn", "FaceModelVersion"}``."""

    def index_faces(self, *, CollectionId: str, Image: Request, ExternalImageId: str = ...,
                    DetectionAttributes: Sequence[str] = ..., MaxFaces: int = ...,
                    QualityFilter: str = ...) -> dict[str, Any]:
        """IndexFaces: ``{"FaceRecords", "FaceModelVersion", "UnindexedFaces"}``."""

    def list_faces(self, *, CollectionId: str, NextToken: str = ..., MaxResults: int = ...,
                   UserId: str = ..., FaceIds: Sequence[str] = ...) -> dict[str, Any]:
        """ListFaces: ``{"Faces", "FaceModelVersion", "NextToken"?}``."""

    def delete_faces(self, *, CollectionId: str, FaceIds: Sequence[str]) -> dict[str, Any]:
        """DeleteFaces: ``{"DeletedFaces", "UnsuccessfulFaceDeletions"}``."""

    def search_faces(self, *, CollectionId: str, FaceId: str, MaxFaces: int = ...,
                     FaceMatchThreshold: float = ...) -> dict[str, Any]:
        """SearchFaces: ``{"SearchedFaceId", "FaceMatches", "FaceModelVersion"}``."""

    def search_faces_by_image(self, *, CollectionId: str, Image: Request, MaxFaces: int = ...,
                              FaceMatchThreshold: float = ...,
                              QualityFilter: str = ...) -> dict[str, Any]:
        """SearchFacesByImage: ``{"SearchedFaceBoundingBox", "SearchedFaceConfidence",
        "FaceMatches", "FaceModelVersion"}``."""

    # -- users -----------------------------------------------------------------------------
    def create_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str = ...) -> dict[str, Any]:
        """CreateUser: ``{}``."""

    def delete_user(self, *, CollectionId: str, UserId: str,
                    ClientRequestToken: str = ...) -> dict[str, Any]:
        """DeleteUser: ``{}``."""

    def associate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                        UserMatchThreshold: float = ...,
                        ClientRequestToken: str = ...) -> dict[str, Any]:
        """AssociateFaces: ``{"AssociatedFaces", "UnsuccessfulFaceAssociations",
        "UserStatus"}``."""

    def disassociate_faces(self, *, CollectionId: str, UserId: str, FaceIds: Sequence[str],
                           ClientRequestToken: str = ...) -> dict[str, Any]:
        """DisassociateFaces: ``{"DisassociatedFaces", "UnsuccessfulFaceDisassociations",
        "UserStatus"}``."""

    def search_users(self, *, CollectionId: str, UserId: str = ..., FaceId: str = ...,
                     UserMatchThreshold: float = ..., MaxUsers: int = ...) -> dict[str, Any]:
        """SearchUsers: ``{"UserMatches", "FaceModelVersion", "SearchedFace"|"SearchedUser"}``."""

    def search_users_by_image(self, *, CollectionId: str, Image: Request,
                              UserMatchThreshold: float = ..., MaxUsers: int = ...,
                              QualityFilter: str = ...) -> dict[str, Any]:
        """SearchUsersByImage: ``{"UserMatches", "FaceModelVersion", "SearchedFace",
        "UnsearchedFaces"}``."""

