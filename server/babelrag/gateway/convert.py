"""Conversions between ``babelrag.v1`` messages and the domain types, in one place."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2

from babelrag.gateway.errors import InvalidRequest
from babelrag.rag.passages import Passage
from babelrag.store.filters import SearchFilter, TimeRange
from babelrag.store.types import Modality, SearchHit, SearchMode
from babelrag.v1 import ask_pb2, common_pb2

FILTER_FIELDS = {"document_id": "document_ids", "language": "languages", "tag": "tags_any", "modality": "modalities"}
SNIPPET_CHARS = 300

_MODES = {
    common_pb2.SEARCH_MODE_UNSPECIFIED: SearchMode.HYBRID,
    common_pb2.SEARCH_MODE_HYBRID: SearchMode.HYBRID,
    common_pb2.SEARCH_MODE_VECTOR: SearchMode.VECTOR,
    common_pb2.SEARCH_MODE_KEYWORD: SearchMode.KEYWORD,
}
_MODALITIES = {Modality.TEXT: common_pb2.MODALITY_TEXT, Modality.IMAGE: common_pb2.MODALITY_IMAGE}


def search_mode(value: int) -> SearchMode:
    try:
        return _MODES[value]
    except KeyError:
        raise InvalidRequest(f"unknown search mode {value}") from None


def modality(value: Modality | str) -> int:
    return _MODALITIES.get(Modality(value), common_pb2.MODALITY_UNSPECIFIED)


def timestamp_to_datetime(ts) -> datetime:  # noqa: ANN001 - google.protobuf.Timestamp
    return ts.ToDatetime(tzinfo=timezone.utc)


def datetime_to_timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return ts


def _time_range(message: common_pb2.Filters, name: str) -> TimeRange | None:
    if not message.HasField(name):
        return None
    span = getattr(message, name)
    start = timestamp_to_datetime(span.start) if span.HasField("start") else None
    end = timestamp_to_datetime(span.end) if span.HasField("end") else None
    if start is None and end is None:
        return None
    return TimeRange(start=start, end=end)


def filters(message: common_pb2.Filters | None) -> SearchFilter | None:
    """Validated filters; unknown fields and bad values are INVALID_ARGUMENT."""
    if message is None:
        return None
    values: dict[str, tuple[str, ...]] = {}
    for clause in message.match:
        field = clause.field.strip().lower()
        if field not in FILTER_FIELDS:
            raise InvalidRequest(f"unknown filter field {clause.field!r}; allowed: {', '.join(FILTER_FIELDS)}")
        if not clause.any_of:
            raise InvalidRequest(f"filter on {field!r} lists no values")
        key = FILTER_FIELDS[field]
        if key in values:
            raise InvalidRequest(f"filter field {field!r} given twice; list its values in one clause")
        values[key] = tuple(v.lower() if field in ("language", "modality") else v for v in clause.any_of)
    valid_at, created_at = _time_range(message, "valid_at"), _time_range(message, "created_at")
    if not values and valid_at is None and created_at is None:
        return None
    return SearchFilter(**values, valid_at=valid_at, created_at=created_at)


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def source(title: str, uri: str, mime_type: str) -> common_pb2.Source:
    return common_pb2.Source(title=title, uri=uri, mime_type=mime_type)


def hit(item: SearchHit, rerank_score: float | None = None) -> common_pb2.Hit:
    chunk = item.chunk
    message = common_pb2.Hit(
        chunk_id=item.id,
        document_id=chunk.document_id,
        chunk_index=chunk.chunk_index,
        source=source(chunk.source.title, chunk.source.uri, chunk.source.mime_type),
        modality=modality(chunk.modality),
        language=chunk.language,
        snippet=snippet(chunk.text),
        score=float(item.score),
        signal_scores={name: float(signal.normalized) for name, signal in item.signals.items()},
        tags=list(chunk.tags),
    )
    if chunk.valid_at is not None:
        message.valid_at.FromDatetime(chunk.valid_at)
    if rerank_score is not None:
        message.rerank_score = rerank_score
    return message


def citation(number: int, passage: Passage) -> ask_pb2.Citation:
    return ask_pb2.Citation(
        number=number,
        document_id=passage.document_id,
        chunk_id=passage.chunk_id,
        source=source(passage.title, passage.uri, passage.mime_type),
        score=float(passage.rerank_score if passage.rerank_score is not None else passage.score),
        snippet=snippet(passage.text),
        modality=modality(passage.modality),
        language=passage.language,
    )
