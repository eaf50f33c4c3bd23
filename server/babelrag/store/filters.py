"""The filter model shared by both backends: typed, validated, closed.

A :class:`SearchFilter` is a conjunction of optional constraints; each
constraint is a fixed field with typed values, so user input can never name a
column or inject an expression. :meth:`SearchFilter.from_dict` accepts a plain
mapping (as decoded from a request) and rejects unknown keys against an
allow-list. Each backend renders the same model:

* LanceDB (``lancedb_store``): a SQL predicate built from constant column names
  and escaped literals of already-validated values;
* Weaviate (``weaviate_store``): ``weaviate.classes.query.Filter`` objects, sent
  as typed gRPC messages.

Semantics (identical on both backends):

===============  ==============================================================
``document_ids`` the chunk's document id is one of these
``languages``    the chunk's language (ISO 639-1) is one of these
``modalities``   the chunk's modality (``text`` / ``image``) is one of these
``tags_any``     the chunk has at least one of these tags
``tags_all``     the chunk has all of these tags
``valid_at``     ``start <= valid_at < end``; chunks without ``valid_at`` never
                 match a valid_at constraint
``created_at``   ``start <= created_at < end``
===============  ==============================================================

An empty value list is rejected (it would match nothing, which is almost always
a caller's bug); ``None`` means "no constraint".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

from babelrag.store.errors import InvalidFilter

__all__ = [
    "TimeRange",
    "SearchFilter",
    "FILTER_KEYS",
    "MAX_FILTER_VALUES",
    "MAX_STRING_CHARS",
    "LANGUAGE_RE",
    "MODALITY_VALUES",
    "to_epoch_us",
    "from_epoch_us",
    "check_text_value",
]

MAX_FILTER_VALUES = 1024
MAX_STRING_CHARS = 512
#: ISO 639-1 code, or ``und`` (undetermined, ISO 639-2) for content of unknown language.
LANGUAGE_RE = re.compile(r"^(?:[a-z]{2}|und)$")
MODALITY_VALUES = frozenset({"text", "image"})
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_epoch_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(us: int) -> datetime:
    """Inverse of :func:`to_epoch_us` (an aware UTC datetime)."""
    return _EPOCH + timedelta(microseconds=int(us))


def check_text_value(value: object, what: str, *, max_chars: int = MAX_STRING_CHARS) -> str:
    """Validate a short identifier-like string (ids, tags): non-empty, bounded, no control chars.

    Raises ValueError with a message naming ``what``.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value or len(value) > max_chars:
        raise ValueError(f"{what} must have 1..{max_chars} characters")
    if _CONTROL_RE.search(value):
        raise ValueError(f"{what} must not contain control characters")
    return value


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open time interval ``[start, end)``; either end may be open (None)."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is None:
                continue
            if not isinstance(v, datetime):
                raise InvalidFilter(f"time range {name} must be a datetime, got {type(v).__name__}")
            if v.tzinfo is None or v.utcoffset() is None:
                raise InvalidFilter(f"time range {name} must be timezone-aware")
        if self.start is None and self.end is None:
            raise InvalidFilter("a time range needs a start or an end")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidFilter("time range start must be before its end")

    @property
    def start_us(self) -> int | None:
        return None if self.start is None else to_epoch_us(self.start)

    @property
    def end_us(self) -> int | None:
        return None if self.end is None else to_epoch_us(self.end)


def _values(name: str, raw: object, check) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        raise InvalidFilter(f"filter {name!r} must be a list of values, not {type(raw).__name__}")
    out: list[str] = []
    for item in raw:
        try:
            out.append(check(item))
        except ValueError as exc:
            raise InvalidFilter(f"filter {name!r}: {exc}") from None
    if not out:
        raise InvalidFilter(f"filter {name!r} is empty; pass None for no constraint")
    if len(out) > MAX_FILTER_VALUES:
        raise InvalidFilter(f"filter {name!r} has more than {MAX_FILTER_VALUES} values")
    return tuple(dict.fromkeys(out))  # de-duplicated, order kept


def _language(v: object) -> str:
    if not isinstance(v, str) or not LANGUAGE_RE.match(v):
        raise ValueError(f"{v!r} is not an ISO 639-1 language code")
    return v


def _modality(v: object) -> str:
    if isinstance(v, enum.Enum):
        v = v.value
    if v not in MODALITY_VALUES:
        raise ValueError(f"{v!r} is not one of {sorted(MODALITY_VALUES)}")
    return str(v)


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Constraints on chunks, all of which must hold (see the module docstring)."""

    document_ids: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    modalities: tuple[str, ...] | None = None
    tags_any: tuple[str, ...] | None = None
    tags_all: tuple[str, ...] | None = None
    valid_at: TimeRange | None = None
    created_at: TimeRange | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "document_ids", _values("document_ids", self.document_ids, lambda v: check_text_value(v, "document id")))
        s(self, "languages", _values("languages", self.languages, _language))
        s(self, "modalities", _values("modalities", self.modalities, _modality))
        s(self, "tags_any", _values("tags_any", self.tags_any, lambda v: check_text_value(v, "tag")))
        s(self, "tags_all", _values("tags_all", self.tags_all, lambda v: check_text_value(v, "tag")))
        for name in ("valid_at", "created_at"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, TimeRange):
                raise InvalidFilter(f"filter {name!r} must be a TimeRange")

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SearchFilter:
        """Build a filter from a plain mapping, e.g. decoded JSON.

        Keys (all optional): ``document_ids``, ``languages``, ``modalities``,
        ``tags_any``, ``tags_all`` (lists of strings) and ``valid_from``,
        ``valid_until``, ``created_from``, ``created_until`` (aware datetimes or
        ISO 8601 strings with an offset). Any other key raises InvalidFilter.
        """
        if not isinstance(data, Mapping):
            raise InvalidFilter("filter must be a mapping")
        unknown = set(data) - FILTER_KEYS
        if unknown:
            raise InvalidFilter(f"unknown filter field(s) {sorted(map(str, unknown))}; allowed: {sorted(FILTER_KEYS)}")

        def when(key: str) -> datetime | None:
            v = data.get(key)
            if v is None:
                return None
            if isinstance(v, str):
                try:
                    v = datetime.fromisoformat(v)
                except ValueError:
                    raise InvalidFilter(f"filter {key!r}: {v!r} is not an ISO 8601 datetime") from None
            if not isinstance(v, datetime):
                raise InvalidFilter(f"filter {key!r} must be a datetime")
            if v.tzinfo is None:
                raise InvalidFilter(f"filter {key!r} must carry a UTC offset")
            return v

        def rng(a: str, b: str) -> TimeRange | None:
            start, end = when(a), when(b)
            return None if start is None and end is None else TimeRange(start, end)

        return cls(
            document_ids=data.get("document_ids"),  # type: ignore[arg-type]
            languages=data.get("languages"),  # type: ignore[arg-type]
            modalities=data.get("modalities"),  # type: ignore[arg-type]
            tags_any=data.get("tags_any"),  # type: ignore[arg-type]
            tags_all=data.get("tags_all"),  # type: ignore[arg-type]
            valid_at=rng("valid_from", "valid_until"),
            created_at=rng("created_from", "created_until"),
        )


FILTER_KEYS = frozenset(
    {
        "document_ids",
        "languages",
        "modalities",
        "tags_any",
        "tags_all",
        "valid_from",
        "valid_until",
        "created_from",
        "created_until",
    }
)
