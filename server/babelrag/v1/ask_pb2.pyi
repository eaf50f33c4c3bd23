# Generated from schemas/babelrag/v1 by `make proto`; do not edit.
from babelrag.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AskOptions(_message.Message):
    __slots__ = ("top_k", "alpha", "filters", "max_tokens", "temperature", "mode")
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    top_k: int
    alpha: float
    filters: _common_pb2.Filters
    max_tokens: int
    temperature: float
    mode: _common_pb2.SearchMode
    def __init__(self, top_k: _Optional[int] = ..., alpha: _Optional[float] = ..., filters: _Optional[_Union[_common_pb2.Filters, _Mapping]] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., mode: _Optional[_Union[_common_pb2.SearchMode, str]] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("question", "images", "answer_language", "options")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    ANSWER_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    question: str
    images: _containers.RepeatedScalarFieldContainer[bytes]
    answer_language: str
    options: AskOptions
    def __init__(self, question: _Optional[str] = ..., images: _Optional[_Iterable[bytes]] = ..., answer_language: _Optional[str] = ..., options: _Optional[_Union[AskOptions, _Mapping]] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("number", "document_id", "chunk_id", "source", "score", "snippet", "modality", "language")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    number: int
    document_id: str
    chunk_id: str
    source: _common_pb2.Source
    score: float
    snippet: str
    modality: _common_pb2.Modality
    language: str
    def __init__(self, number: _Optional[int] = ..., document_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.Source, _Mapping]] = ..., score: _Optional[float] = ..., snippet: _Optional[str] = ..., modality: _Optional[_Union[_common_pb2.Modality, str]] = ..., language: _Optional[str] = ...) -> None: ...

class AnswerDelta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class AnswerFinal(_message.Message):
    __slots__ = ("answer", "citations", "context", "question_language", "question_language_confidence", "answer_language", "detected_answer_language", "answer_language_ok", "timings", "prompt_tokens", "completion_tokens", "finish_reason", "no_answer_in_sources", "model", "images_seen")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    QUESTION_LANGUAGE_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    DETECTED_ANSWER_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ANSWER_LANGUAGE_OK_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    NO_ANSWER_IN_SOURCES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_SEEN_FIELD_NUMBER: _ClassVar[int]
    answer: str
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    context: _containers.RepeatedCompositeFieldContainer[Citation]
    question_language: str
    question_language_confidence: float
    answer_language: str
    detected_answer_language: str
    answer_language_ok: bool
    timings: _common_pb2.StageTimings
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    no_answer_in_sources: bool
    model: str
    images_seen: int
    def __init__(self, answer: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., context: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., question_language: _Optional[str] = ..., question_language_confidence: _Optional[float] = ..., answer_language: _Optional[str] = ..., detected_answer_language: _Optional[str] = ..., answer_language_ok: bool = ..., timings: _Optional[_Union[_common_pb2.StageTimings, _Mapping]] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., finish_reason: _Optional[str] = ..., no_answer_in_sources: bool = ..., model: _Optional[str] = ..., images_seen: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("delta", "final")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    delta: AnswerDelta
    final: AnswerFinal
    def __init__(self, delta: _Optional[_Union[AnswerDelta, _Mapping]] = ..., final: _Optional[_Union[AnswerFinal, _Mapping]] = ...) -> None: ...
