# Generated from schemas/babelrag/v1 by `make proto`; do not edit.
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from babelrag.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_STATUS_UNSPECIFIED: _ClassVar[IngestStatus]
    INGEST_STATUS_STORED: _ClassVar[IngestStatus]
    INGEST_STATUS_FAILED: _ClassVar[IngestStatus]
INGEST_STATUS_UNSPECIFIED: IngestStatus
INGEST_STATUS_STORED: IngestStatus
INGEST_STATUS_FAILED: IngestStatus

class ItemHeader(_message.Message):
    __slots__ = ("document_id", "filename", "mime_type", "title", "uri", "language", "tags", "valid_at", "caption", "content", "size_bytes")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VALID_AT_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    filename: str
    mime_type: str
    title: str
    uri: str
    language: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    valid_at: _timestamp_pb2.Timestamp
    caption: str
    content: bytes
    size_bytes: int
    def __init__(self, document_id: _Optional[str] = ..., filename: _Optional[str] = ..., mime_type: _Optional[str] = ..., title: _Optional[str] = ..., uri: _Optional[str] = ..., language: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., valid_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., caption: _Optional[str] = ..., content: _Optional[bytes] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ItemHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ItemHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("index", "document_id", "filename", "status", "chunks", "duplicate_chunks", "modality", "language", "mime_type", "bytes", "error", "timings")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    index: int
    document_id: str
    filename: str
    status: IngestStatus
    chunks: int
    duplicate_chunks: int
    modality: _common_pb2.Modality
    language: str
    mime_type: str
    bytes: int
    error: ItemError
    timings: _common_pb2.StageTimings
    def __init__(self, index: _Optional[int] = ..., document_id: _Optional[str] = ..., filename: _Optional[str] = ..., status: _Optional[_Union[IngestStatus, str]] = ..., chunks: _Optional[int] = ..., duplicate_chunks: _Optional[int] = ..., modality: _Optional[_Union[_common_pb2.Modality, str]] = ..., language: _Optional[str] = ..., mime_type: _Optional[str] = ..., bytes: _Optional[int] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., timings: _Optional[_Union[_common_pb2.StageTimings, _Mapping]] = ...) -> None: ...
