# Generated from schemas/babelrag/v1 by `make proto`; do not edit.
from babelrag.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("query", "images", "top_k", "offset", "mode", "alpha", "filters", "rerank")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    query: str
    images: _containers.RepeatedScalarFieldContainer[bytes]
    top_k: int
    offset: int
    mode: _common_pb2.SearchMode
    alpha: float
    filters: _common_pb2.Filters
    rerank: bool
    def __init__(self, query: _Optional[str] = ..., images: _Optional[_Iterable[bytes]] = ..., top_k: _Optional[int] = ..., offset: _Optional[int] = ..., mode: _Optional[_Union[_common_pb2.SearchMode, str]] = ..., alpha: _Optional[float] = ..., filters: _Optional[_Union[_common_pb2.Filters, _Mapping]] = ..., rerank: bool = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "query_language", "timings", "cached")
    HITS_FIELD_NUMBER: _ClassVar[int]
    QUERY_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_common_pb2.Hit]
    query_language: str
    timings: _common_pb2.StageTimings
    cached: bool
    def __init__(self, hits: _Optional[_Iterable[_Union[_common_pb2.Hit, _Mapping]]] = ..., query_language: _Optional[str] = ..., timings: _Optional[_Union[_common_pb2.StageTimings, _Mapping]] = ..., cached: bool = ...) -> None: ...
