"""Everything the sync and the async client share, written once: no network I/O here.

* configuration: :class:`ClientConfig` merges arguments, environment and defaults (in that order
  of precedence; :data:`UNSET` tells "not given" from an explicit None), with :class:`Timeouts`,
  :class:`RetryPolicy` and :class:`Keepalive`, and yields the channel's options and credentials;
* the RPC table (:data:`METHODS`): per method its stub, default timeout group, whether it is
  idempotent (may be retried) and which credential it needs;
* :class:`Call`: one logical call: credential check, metadata, request id, deadline across
  attempts and the retry decision (:func:`retry_delay`, exponential backoff with jitter, only for
  UNAVAILABLE on idempotent calls that have not yet streamed anything to the caller);
* request building and validation (search, ask, documents, admin) and response conversion into
  :mod:`babelrag_client.types`;
* :class:`AskAccumulator` (the Ask stream's protocol) and :class:`IngestSession` /
  :class:`IngestBatch` (the Ingest stream's bookkeeping: which item a result belongs to, local read
  failures, progress, what a broken stream means for the items it carried).

The send loops in :mod:`babelrag_client.aio` (and the generated :mod:`babelrag_client.client`) do
the network calls and nothing else. Reading local files (folders, images) is in
:mod:`babelrag_client._files`; ``IngestBatch`` only calls the readers it is handed.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import IO, Any, Final, TypeVar
from urllib.parse import urlsplit

import grpc
from google.protobuf import timestamp_pb2

from babelrag.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    ask_pb2,
    ask_pb2_grpc,
    common_pb2,
    documents_pb2,
    documents_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)
from babelrag_client import errors
from babelrag_client.errors import (
    AuthenticationError,
    BabelRAGError,
    ConfigurationError,
    InvalidRequestError,
    ServerError,
)
from babelrag_client.types import (
    Answer,
    AnswerDelta,
    ApiKey,
    Citation,
    CreatedTenant,
    DeletedTenant,
    Document,
    DocumentPage,
    Filters,
    Hit,
    IngestProgress,
    IngestReport,
    IngestResult,
    IngestStatus,
    IssuedKey,
    ItemError,
    Modality,
    Quotas,
    SearchMode,
    SearchResult,
    SkippedItem,
    Source,
    Tenant,
    TenantState,
    TimeRange,
    Usage,
)

log = logging.getLogger("babelrag_client")

ENV_URL: Final = "BABELRAG_URL"
ENV_API_KEY: Final = "BABELRAG_API_KEY"
ENV_ADMIN_KEY: Final = "BABELRAG_ADMIN_KEY"
ENV_CA_FILE: Final = "BABELRAG_CA_FILE"
DEFAULT_URL: Final = "localhost:50051"
DEFAULT_PORT: Final = 50051
#: Ingest content is sent in pieces of this size: a file is never held in memory whole.
PIECE_SIZE: Final = 1024 * 1024
#: Items per Ingest stream (the server accepts up to 1000); a big upload becomes several streams.
DEFAULT_BATCH_SIZE: Final = 256
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("babelrag")
    except Exception:  # noqa: BLE001 - not installed as a distribution (e.g. a source checkout)
        return "0.0.0"


__version__ = _version()
USER_AGENT: Final = f"babelrag-python/{__version__}"


class _Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: "Not given": take the value from the environment or the default. Distinct from None, which
#: means "explicitly none" (``api_key=None``: send no key; ``timeout=None``: no deadline).
UNSET: Final = _Unset.UNSET
Unset = _Unset
T = TypeVar("T")


# ==================================================================================================
# Configuration
@dataclasses.dataclass(frozen=True)
class Timeouts:
    """Default deadline of each kind of call, in seconds; None means no deadline.

    A number given as ``timeout=`` to the client sets all of them; every method also takes its own
    ``timeout=`` for one call. A deadline covers all the attempts of a call, retries included.
    """

    search: float | None = 30.0
    ask: float | None = 120.0
    ingest: float | None = None  # uploads of big folders take as long as they take
    documents: float | None = 30.0
    admin: float | None = 30.0

    @classmethod
    def uniform(cls, seconds: float | None) -> Timeouts:
        return cls(**{f.name: seconds for f in dataclasses.fields(cls)})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_timeout(getattr(self, f.name), f"Timeouts.{f.name}")


def check_timeout(value: object, name: str = "timeout") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds or None, not {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of idempotent calls that failed with UNAVAILABLE (server restarting, not reachable).

    The n-th retry waits ``min(max_backoff, initial_backoff * multiplier ** (n - 1))``, scaled by a
    random factor in ``[1 - jitter, 1]`` so that many clients do not retry in lock step. Only
    Search, Documents.list, Ask before its first event, and the admin reads and idempotent writes
    (set state, set quotas) are retried; never Ingest, never a delete or create, never an Ask
    stream that has produced output. ``RetryPolicy(max_attempts=1)`` (or ``retry=None``) disables it.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be an integer >= 1, not {self.max_attempts!r}")
        if not (0 <= self.initial_backoff <= self.max_backoff) or self.multiplier < 1 or not 0 <= self.jitter <= 1:
            raise ConfigurationError(
                "retry policy needs 0 <= initial_backoff <= max_backoff, multiplier >= 1 and 0 <= jitter <= 1"
            )

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before the ``retry``-th retry (1 = the first)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** max(0, retry - 1))
        return base * (1.0 - self.jitter * rand())


NO_RETRY: Final = RetryPolicy(max_attempts=1)


@dataclasses.dataclass(frozen=True)
class Keepalive:
    """HTTP/2 keepalive pings, so that a dead connection is noticed (and NATs keep it open).

    The gateway allows a ping every 10 s at most, also without calls in flight; more often makes
    it close the connection (GOAWAY "too_many_pings").
    """

    time: float = 60.0  # seconds between pings
    timeout: float = 20.0  # seconds to wait for the ping's answer before the connection is dropped
    permit_without_calls: bool = True

    def __post_init__(self) -> None:
        if self.time < 10 or self.timeout <= 0:
            raise ConfigurationError("Keepalive.time must be >= 10 s (the server's limit) and timeout > 0")


_SCHEMES_TLS = {"https": True, "grpcs": True, "http": False, "grpc": False}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A parsed server URL: the gRPC target, whether TLS is on, and the host (for messages)."""

    target: str
    tls: bool
    host: str


def parse_url(url: str, *, insecure: bool | None = None) -> Endpoint:
    """``host:port``, ``http(s)://host[:port]``, ``grpc(s)://host[:port]`` or ``unix:/path``.

    TLS: ``insecure`` decides when given; otherwise the scheme (https/grpcs: TLS, http/grpc:
    plain); a bare ``host:port`` is plain only for a loopback host (localhost, 127.0.0.1, ::1) and
    TLS for everything else, so a key is never sent unencrypted over a network by default.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("the server URL is empty")
    url = url.strip()
    if url.startswith("unix:"):
        if insecure is False:
            raise ConfigurationError("TLS over a unix socket is not supported; leave insecure unset")
        return Endpoint(target=url, tls=False, host="localhost")
    scheme = ""
    rest = url
    if "://" in url:
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        if scheme not in _SCHEMES_TLS:
            raise ConfigurationError(f"unsupported URL scheme {scheme!r} in {url!r}: use https://, http:// or host:port")
    try:
        parts = urlsplit("//" + rest)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigurationError(f"invalid server URL {url!r}: {exc}") from None
    if not host or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigurationError(f"invalid server URL {url!r}: expected host:port or https://host[:port]")
    if scheme:
        tls_by_scheme = _SCHEMES_TLS[scheme]
        if insecure is not None and insecure == tls_by_scheme:
            raise ConfigurationError(f"insecure={insecure} contradicts the scheme of {url!r}")
        tls = tls_by_scheme
        port = port or (443 if tls and scheme == "https" else DEFAULT_PORT)
    else:
        tls = not is_loopback(host) if insecure is None else not insecure
        port = port or DEFAULT_PORT
    shown_host = f"[{host}]" if ":" in host else host
    return Endpoint(target=f"{shown_host}:{port}", tls=tls, host=host)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clean_key(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string")
    value = value.strip()
    if not value:
        return None
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ConfigurationError(f"{name} contains spaces or characters that cannot be sent in a header")
    return value


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """The resolved settings of a client (see :meth:`resolve`). Keys are left out of ``repr``."""

    url: str
    endpoint: Endpoint
    api_key: str | None = dataclasses.field(default=None, repr=False)
    admin_key: str | None = dataclasses.field(default=None, repr=False)
    root_certificates: bytes | None = dataclasses.field(default=None, repr=False)
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    keepalive: Keepalive | None = Keepalive()
    channel_options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def resolve(
        cls,
        url: str | Unset = UNSET,
        *,
        api_key: str | None | Unset = UNSET,
        admin_key: str | None | Unset = UNSET,
        insecure: bool | None = None,
        ca_file: str | os.PathLike[str] | None | Unset = UNSET,
        timeout: float | Timeouts | None | Unset = UNSET,
        retry: RetryPolicy | None | Unset = UNSET,
        keepalive: Keepalive | None | Unset = UNSET,
        channel_options: Iterable[tuple[str, Any]] = (),
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Arguments win over the environment (``BABELRAG_URL``, ``BABELRAG_API_KEY``,
        ``BABELRAG_ADMIN_KEY``, ``BABELRAG_CA_FILE``), which wins over the defaults. The CA file
        is read here, once."""
        env = os.environ if environ is None else environ
        chosen_url = _pick(url, env.get(ENV_URL) or None, DEFAULT_URL)
        endpoint = parse_url(chosen_url, insecure=insecure)
        ca_path = _pick(ca_file, env.get(ENV_CA_FILE) or None, None)
        root_certificates = None
        if ca_path is not None:
            if not endpoint.tls:
                raise ConfigurationError(f"a CA file was given but {chosen_url!r} is a plain-text (insecure) URL")
            try:
                with open(ca_path, "rb") as handle:
                    root_certificates = handle.read()
            except OSError as exc:
                raise ConfigurationError(f"cannot read the CA file {os.fspath(ca_path)!r}: {exc.strerror or exc}") from None
            if b"-----BEGIN CERTIFICATE-----" not in root_certificates:
                raise ConfigurationError(f"the CA file {os.fspath(ca_path)!r} holds no PEM certificate")
        if timeout is UNSET:
            timeouts = Timeouts()
        elif isinstance(timeout, Timeouts):
            timeouts = timeout
        else:
            timeouts = Timeouts.uniform(check_timeout(timeout))
        if retry is UNSET:
            retry_policy = RetryPolicy()
        elif retry is None:
            retry_policy = NO_RETRY
        elif isinstance(retry, RetryPolicy):
            retry_policy = retry
        else:
            raise ConfigurationError("retry must be a RetryPolicy or None")
        keepalive_value = Keepalive() if keepalive is UNSET else keepalive
        if keepalive_value is not None and not isinstance(keepalive_value, Keepalive):
            raise ConfigurationError("keepalive must be a Keepalive or None")
        return cls(
            url=chosen_url,
            endpoint=endpoint,
            api_key=_clean_key(_pick(api_key, env.get(ENV_API_KEY), None), "api_key"),
            admin_key=_clean_key(_pick(admin_key, env.get(ENV_ADMIN_KEY), None), "admin_key"),
            root_certificates=root_certificates,
            timeouts=timeouts,
            retry=retry_policy,
            keepalive=keepalive_value,
            channel_options=tuple(channel_options),
        )

    def grpc_options(self) -> list[tuple[str, Any]]:
        """Channel arguments: message sizes, reconnect backoff, keepalive, user agent, extras."""
        options: dict[str, Any] = {
            "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
            "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
            "grpc.primary_user_agent": USER_AGENT,
            # Reconnect quickly after a server restart (gRPC's default backoff grows to 120 s).
            "grpc.initial_reconnect_backoff_ms": 500,
            "grpc.max_reconnect_backoff_ms": 5_000,
            # Retries are ours (RetryPolicy), where idempotency is known; not gRPC's built-in ones.
            "grpc.enable_retries": 0,
        }
        if self.keepalive is not None:
            options.update(
                {
                    "grpc.keepalive_time_ms": int(self.keepalive.time * 1000),
                    "grpc.keepalive_timeout_ms": int(self.keepalive.timeout * 1000),
                    "grpc.keepalive_permit_without_calls": int(self.keepalive.permit_without_calls),
                    "grpc.http2.max_pings_without_data": 0,
                }
            )
        options.update(dict(self.channel_options))
        return list(options.items())

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials (system roots, or the CA file's), None for a plain channel."""
        if not self.endpoint.tls:
            return None
        return grpc.ssl_channel_credentials(root_certificates=self.root_certificates)


def _pick(argument: Any, from_env: Any, default: Any) -> Any:
    if argument is not UNSET:
        return argument
    if from_env is not None:
        return from_env
    return default


# ==================================================================================================
# RPC table and one logical call
@dataclasses.dataclass(frozen=True)
class MethodSpec:
    stub: str  # which stub of :class:`Stubs`
    name: str  # the RPC's name on it
    timeout_group: str  # field of :class:`Timeouts`
    idempotent: bool  # may be retried after UNAVAILABLE
    admin: bool = False  # needs the admin credential instead of the tenant's API key


SEARCH = MethodSpec("search", "Search", "search", idempotent=True)
ASK = MethodSpec("ask", "Ask", "ask", idempotent=True)  # only until its first event
INGEST = MethodSpec("ingest", "Ingest", "ingest", idempotent=False)
LIST_DOCUMENTS = MethodSpec("documents", "ListDocuments", "documents", idempotent=True)
DELETE_DOCUMENT = MethodSpec("documents", "DeleteDocument", "documents", idempotent=False)
CREATE_TENANT = MethodSpec("admin", "CreateTenant", "admin", idempotent=False, admin=True)
LIST_TENANTS = MethodSpec("admin", "ListTenants", "admin", idempotent=True, admin=True)
GET_TENANT = MethodSpec("admin", "GetTenant", "admin", idempotent=True, admin=True)
DELETE_TENANT = MethodSpec("admin", "DeleteTenant", "admin", idempotent=False, admin=True)
# "Set to X" is idempotent: repeating it after a lost answer leaves the same state.
SET_TENANT_STATE = MethodSpec("admin", "SetTenantState", "admin", idempotent=True, admin=True)
SET_QUOTAS = MethodSpec("admin", "SetQuotas", "admin", idempotent=True, admin=True)
ISSUE_KEY = MethodSpec("admin", "IssueApiKey", "admin", idempotent=False, admin=True)
LIST_KEYS = MethodSpec("admin", "ListApiKeys", "admin", idempotent=True, admin=True)
REVOKE_KEY = MethodSpec("admin", "RevokeApiKey", "admin", idempotent=False, admin=True)
METHODS: Final = (
    SEARCH, ASK, INGEST, LIST_DOCUMENTS, DELETE_DOCUMENT, CREATE_TENANT, LIST_TENANTS, GET_TENANT,
    DELETE_TENANT, SET_TENANT_STATE, SET_QUOTAS, ISSUE_KEY, LIST_KEYS, REVOKE_KEY,
)  # fmt: skip


class Stubs:
    """The generated stubs on one channel (sync or asyncio: the stub classes take either)."""

    def __init__(self, channel: Any) -> None:
        self._stubs = {
            "search": search_pb2_grpc.SearchServiceStub(channel),
            "ask": ask_pb2_grpc.AskServiceStub(channel),
            "ingest": ingest_pb2_grpc.IngestServiceStub(channel),
            "documents": documents_pb2_grpc.DocumentServiceStub(channel),
            "admin": admin_pb2_grpc.AdminServiceStub(channel),
        }

    def method(self, spec: MethodSpec) -> Any:
        return getattr(self._stubs[spec.stub], spec.name)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def retry_delay(
    policy: RetryPolicy,
    code: grpc.StatusCode | None,
    *,
    idempotent: bool,
    replayable: bool,
    attempt: int,
    remaining: float | None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retrying after attempt number ``attempt`` failed with ``code``, or
    None when the call must not be retried.

    Retried: UNAVAILABLE only, on idempotent calls, while the call is ``replayable`` (nothing was
    streamed to the caller yet), attempts are left, and the wait ends before the deadline.
    (:meth:`Call.retry_delay` passes a CANCELLED the server sent as UNAVAILABLE.)
    """
    if code is not grpc.StatusCode.UNAVAILABLE or not idempotent or not replayable:
        return None
    if attempt >= policy.max_attempts:
        return None
    delay = policy.backoff(attempt, rand)
    if remaining is not None and delay >= remaining:
        return None
    return delay


#: What gRPC reports for a call the application cancelled itself (sync stubs; an asyncio task
#: cancelled raises CancelledError instead of an RpcError).
_LOCAL_CANCEL_DETAILS = "Locally cancelled by application!"


def cancelled_by_server(error: grpc.RpcError) -> bool:
    """Whether a CANCELLED ``error`` came from the other side rather than from this process."""
    details = error.details() if hasattr(error, "details") else None
    return details != _LOCAL_CANCEL_DETAILS


class Call:
    """One logical call of a method: its credential, metadata, deadline and attempts.

    Raises :class:`AuthenticationError` at once when the credential the method needs is not
    configured (no round trip to learn that).
    """

    def __init__(
        self,
        spec: MethodSpec,
        config: ClientConfig,
        timeout: float | None | Unset = UNSET,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.spec = spec
        self.policy = config.retry
        self.target = config.endpoint.target
        self.request_id = new_request_id()
        key = config.admin_key if spec.admin else config.api_key
        if key is None:
            if spec.admin:
                raise AuthenticationError(
                    f"no admin key: pass admin_key= or set {ENV_ADMIN_KEY}", method=spec.name
                )
            raise AuthenticationError(f"no API key: pass api_key= or set {ENV_API_KEY}", method=spec.name)
        self.metadata: tuple[tuple[str, str], ...] = (
            ("authorization", f"Bearer {key}"),
            ("x-request-id", self.request_id),
        )
        seconds = getattr(config.timeouts, spec.timeout_group) if timeout is UNSET else check_timeout(timeout)
        self._clock = clock
        self._rand = rand
        self.deadline = None if seconds is None else clock() + seconds
        self.attempts = 0

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self._clock())

    def timeout(self) -> float | None:
        """The timeout for the next attempt (what is left of the deadline); counts the attempt."""
        self.attempts += 1
        return self.remaining()

    def retry_delay(self, error: grpc.RpcError, *, replayable: bool = True) -> float:
        """How long to wait before the next attempt; raises the SDK error when there is none.

        A CANCELLED that this client did not cause counts as UNAVAILABLE: a server shutting down
        cancels the calls it received but had not started (seen when a search raced a gateway
        restart), and such a call is as safe to send again as one that found no server.
        """
        code = error.code() if hasattr(error, "code") else None
        if code is grpc.StatusCode.CANCELLED and cancelled_by_server(error):
            code = grpc.StatusCode.UNAVAILABLE
        delay = retry_delay(
            self.policy,
            code,
            idempotent=self.spec.idempotent,
            replayable=replayable,
            attempt=self.attempts,
            remaining=self.remaining(),
            rand=self._rand,
        )
        if delay is None:
            raise self.error(error) from error
        log.info(
            "%s failed with %s (request %s); retry %d/%d in %.2f s",
            self.spec.name, getattr(code, "name", code), self.request_id, self.attempts, self.policy.max_attempts - 1, delay,
        )  # fmt: skip
        return delay

    def error(self, error: grpc.RpcError) -> BabelRAGError:
        return errors.from_rpc_error(
            error, request_id=self.request_id, method=self.spec.name, attempts=self.attempts, target=self.target
        )


# ==================================================================================================
# Requests: validation and building
def _require_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string, not {type(value).__name__}")
    return value


def _positive_int(value: object, name: str, *, allow_zero: bool = False) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise InvalidRequestError(f"{name} must be a{' non-negative' if allow_zero else ' positive'} integer, not {value!r}")
    return value


def _fraction(value: object, name: str, low: float = 0.0, high: float = 1.0) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequestError(f"{name} must be a number between {low:g} and {high:g}, not {value!r}")
    return float(value)


def _language(value: object, name: str = "language") -> str:
    if value is None:
        return ""
    return _require_str(value, name).strip().lower()


def _strings(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise InvalidRequestError(f"{name} must be a string or a list of strings")


def merge_tags(*groups: Iterable[str]) -> list[str]:
    """Tags of all groups, in order, without duplicates or blanks."""
    seen: dict[str, None] = {}
    for group in groups:
        for tag in _strings(group, "tags"):
            tag = tag.strip()
            if tag:
                seen.setdefault(tag, None)
    return list(seen)


def search_mode(value: SearchMode | str | None) -> int:
    if value is None or value == "":
        return common_pb2.SEARCH_MODE_UNSPECIFIED
    try:
        mode = SearchMode(value.lower() if isinstance(value, str) else value)
    except ValueError:
        raise InvalidRequestError(f"unknown search mode {value!r}: use hybrid, vector or keyword") from None
    return {
        SearchMode.HYBRID: common_pb2.SEARCH_MODE_HYBRID,
        SearchMode.VECTOR: common_pb2.SEARCH_MODE_VECTOR,
        SearchMode.KEYWORD: common_pb2.SEARCH_MODE_KEYWORD,
    }[mode]


def to_timestamp(value: datetime, name: str) -> timestamp_pb2.Timestamp:
    if not isinstance(value, datetime):
        raise InvalidRequestError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _time_range(value: object, name: str) -> common_pb2.TimeRange | None:
    if value is None:
        return None
    if isinstance(value, TimeRange):
        start, end = value.start, value.end
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        start, end = value
    else:
        raise InvalidRequestError(f"{name} must be a TimeRange or a (start, end) pair of datetimes/None")
    if start is None and end is None:
        return None
    if start is not None and end is not None and isinstance(start, datetime) and isinstance(end, datetime):
        if _aware(start) >= _aware(end):
            raise InvalidRequestError(f"{name}: start must be before end")
    message = common_pb2.TimeRange()
    if start is not None:
        message.start.CopyFrom(to_timestamp(start, f"{name} start"))
    if end is not None:
        message.end.CopyFrom(to_timestamp(end, f"{name} end"))
    return message


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


_FILTER_FIELDS = {"document_ids": "document_id", "languages": "language", "tags": "tag", "modalities": "modality"}


def build_filters(value: Filters | Mapping[str, Any] | None) -> common_pb2.Filters | None:
    """Filters from a :class:`Filters` or a mapping of API field names to a value or a list.

    Field names other than the known ones are passed on as they are: the server decides (and
    answers INVALID_ARGUMENT for a field it does not know).
    """
    if value is None:
        return None
    if isinstance(value, Filters):  # an empty field of the dataclass means "no restriction"
        clauses: dict[str, Any] = {api: getattr(value, attr) for attr, api in _FILTER_FIELDS.items() if getattr(value, attr)}
        valid_at, created_at = value.valid_at, value.created_at
    elif isinstance(value, Mapping):
        clauses = {}
        valid_at = created_at = None
        for key, raw in value.items():
            key = _require_str(key, "filter field").strip()
            if key == "valid_at":
                valid_at = raw
            elif key == "created_at":
                created_at = raw
            else:
                clauses[key] = raw
    else:
        raise InvalidRequestError("filters must be a Filters value or a mapping such as {'language': 'de'}")
    message = common_pb2.Filters()
    for field, raw in clauses.items():
        if raw is None:
            continue
        values = [v.value if isinstance(v, enum.Enum) else v for v in (raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw])]
        values = _strings(values, f"filter {field!r}")
        if not values:
            raise InvalidRequestError(f"filter {field!r} lists no values")
        message.match.append(common_pb2.FieldFilter(field=field, any_of=values))
    for name, span in (("valid_at", valid_at), ("created_at", created_at)):
        built = _time_range(span, name)
        if built is not None:
            getattr(message, name).CopyFrom(built)
    if not message.match and not message.HasField("valid_at") and not message.HasField("created_at"):
        return None
    return message


def collect_images(image: object, images: object) -> list[Any]:
    """``image=`` and ``images=`` as one list (their contents are read later, in :mod:`_files`)."""
    found: list[Any] = []
    if image is not None:
        found.append(image)
    if images is not None:
        if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)) or hasattr(images, "read"):
            raise InvalidRequestError("images= takes a list; pass a single image as image=")
        found.extend(images)  # type: ignore[arg-type]
    return found


@dataclasses.dataclass(frozen=True)
class SearchQuery:
    """A validated search; :meth:`request` makes the message once the images are loaded."""

    query: str
    images: tuple[Any, ...]
    top_k: int
    offset: int
    mode: int
    alpha: float | None
    filters: common_pb2.Filters | None
    rerank: bool | None

    @classmethod
    def build(
        cls,
        query: str | None,
        *,
        images: Sequence[Any],
        top_k: int | None,
        offset: int | None,
        mode: SearchMode | str | None,
        alpha: float | None,
        filters: Filters | Mapping[str, Any] | None,
        rerank: bool | None,
    ) -> SearchQuery:
        text = _require_str(query or "", "query")
        if not text.strip() and not images:
            raise InvalidRequestError("give a query text, an image, or both")
        if rerank is not None and not isinstance(rerank, bool):
            raise InvalidRequestError("rerank must be True, False or None")
        return cls(
            query=text,
            images=tuple(images),
            top_k=_positive_int(top_k, "top_k"),
            offset=_positive_int(offset, "offset", allow_zero=True),
            mode=search_mode(mode),
            alpha=_fraction(alpha, "alpha"),
            filters=build_filters(filters),
            rerank=rerank,
        )

    def request(self, encoded_images: Sequence[bytes]) -> search_pb2.SearchRequest:
        message = search_pb2.SearchRequest(
            query=self.query, images=list(encoded_images), top_k=self.top_k, offset=self.offset, mode=self.mode
        )
        if self.alpha is not None:
            message.alpha = self.alpha
        if self.filters is not None:
            message.filters.CopyFrom(self.filters)
        if self.rerank is not None:
            message.rerank = self.rerank
        return message


@dataclasses.dataclass(frozen=True)
class AskQuery:
    """A validated question; :meth:`request` makes the message once the images are loaded."""

    question: str
    images: tuple[Any, ...]
    language: str
    options: ask_pb2.AskOptions

    @classmethod
    def build(
        cls,
        question: str,
        *,
        images: Sequence[Any],
        language: str | None,
        top_k: int | None,
        filters: Filters | Mapping[str, Any] | None,
        mode: SearchMode | str | None,
        alpha: float | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> AskQuery:
        text = _require_str(question, "question")
        if not text.strip():
            raise InvalidRequestError("the question is empty")
        options = ask_pb2.AskOptions(
            top_k=_positive_int(top_k, "top_k"),
            max_tokens=_positive_int(max_tokens, "max_tokens"),
            mode=search_mode(mode),
        )
        if (value := _fraction(alpha, "alpha")) is not None:
            options.alpha = value
        if (value := _fraction(temperature, "temperature", 0.0, 2.0)) is not None:
            options.temperature = value
        if (built := build_filters(filters)) is not None:
            options.filters.CopyFrom(built)
        return cls(question=text, images=tuple(images), language=_language(language), options=options)

    def request(self, encoded_images: Sequence[bytes]) -> ask_pb2.AskRequest:
        return ask_pb2.AskRequest(
            question=self.question, images=list(encoded_images), answer_language=self.language, options=self.options
        )


def list_documents_request(page_size: int | None, page_token: str | None) -> documents_pb2.ListDocumentsRequest:
    return documents_pb2.ListDocumentsRequest(
        page_size=_positive_int(page_size, "page_size"), page_token=_require_str(page_token or "", "page_token")
    )


def delete_document_request(document_id: str) -> documents_pb2.DeleteDocumentRequest:
    if not _require_str(document_id, "document_id").strip():
        raise InvalidRequestError("document_id is empty")
    return documents_pb2.DeleteDocumentRequest(document_id=document_id)


def _name(value: object, what: str) -> str:
    if not _require_str(value, what).strip():
        raise InvalidRequestError(f"{what} is empty")
    return value  # type: ignore[return-value]


def quotas_message(quotas: Quotas | Mapping[str, Any]) -> admin_pb2.Quotas:
    if isinstance(quotas, Mapping):
        unknown = set(quotas) - {f.name for f in dataclasses.fields(Quotas)}
        if unknown:
            raise InvalidRequestError(f"unknown quota field(s): {', '.join(sorted(unknown))}")
        quotas = Quotas(**quotas)
    if not isinstance(quotas, Quotas):
        raise InvalidRequestError("quotas must be a Quotas value")
    for field in dataclasses.fields(Quotas):
        value = getattr(quotas, field.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
            raise InvalidRequestError(f"quota {field.name} must be a non-negative number (0 = unlimited)")
    return admin_pb2.Quotas(
        requests_per_second=float(quotas.requests_per_second),
        burst=int(quotas.burst),
        max_chunks=int(quotas.max_chunks),
        max_bytes=int(quotas.max_bytes),
    )


def create_tenant_request(name: str, quotas: Quotas | Mapping[str, Any] | None, key_label: str) -> admin_pb2.CreateTenantRequest:
    message = admin_pb2.CreateTenantRequest(name=_name(name, "tenant name"), key_label=_require_str(key_label or "", "key_label"))
    if quotas is not None:
        message.quotas.CopyFrom(quotas_message(quotas))
    return message


_STATES = {TenantState.ACTIVE: admin_pb2.TENANT_STATE_ACTIVE, TenantState.OFFLOADED: admin_pb2.TENANT_STATE_OFFLOADED}


def tenant_state_request(name: str, state: TenantState | str) -> admin_pb2.SetTenantStateRequest:
    try:
        parsed = TenantState(state.lower() if isinstance(state, str) else state)
    except ValueError:
        parsed = None
    if parsed not in _STATES:
        raise InvalidRequestError(f"unknown tenant state {state!r}: use 'active' or 'offloaded'")
    return admin_pb2.SetTenantStateRequest(name=_name(name, "tenant name"), state=_STATES[parsed])


def set_quotas_request(name: str, quotas: Quotas | Mapping[str, Any]) -> admin_pb2.SetQuotasRequest:
    return admin_pb2.SetQuotasRequest(name=_name(name, "tenant name"), quotas=quotas_message(quotas))


def tenant_name_request(cls: type[T], name: str) -> T:
    return cls(name=_name(name, "tenant name"))  # type: ignore[call-arg]


def issue_key_request(tenant: str, label: str) -> admin_pb2.IssueApiKeyRequest:
    return admin_pb2.IssueApiKeyRequest(tenant=_name(tenant, "tenant name"), label=_require_str(label or "", "label"))


def list_keys_request(tenant: str) -> admin_pb2.ListApiKeysRequest:
    return admin_pb2.ListApiKeysRequest(tenant=_name(tenant, "tenant name"))


def revoke_key_request(key_id: str) -> admin_pb2.RevokeApiKeyRequest:
    return admin_pb2.RevokeApiKeyRequest(key_id=_name(key_id, "key_id"))


# ==================================================================================================
# Responses -> types
_MODALITY = {common_pb2.MODALITY_TEXT: Modality.TEXT, common_pb2.MODALITY_IMAGE: Modality.IMAGE}
_STATE_FROM_PB = {pb: state for state, pb in _STATES.items()}


def _time(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(tzinfo=timezone.utc)


def source(message: common_pb2.Source) -> Source:
    return Source(title=message.title, uri=message.uri, mime_type=message.mime_type)


def hit(message: common_pb2.Hit) -> Hit:
    return Hit(
        chunk_id=message.chunk_id,
        document_id=message.document_id,
        chunk_index=message.chunk_index,
        source=source(message.source),
        modality=_MODALITY.get(message.modality, Modality.UNSPECIFIED),
        language=message.language,
        snippet=message.snippet,
        score=message.score,
        signal_scores=dict(message.signal_scores),
        tags=tuple(message.tags),
        valid_at=_time(message, "valid_at"),
        rerank_score=message.rerank_score if message.HasField("rerank_score") else None,
    )


def search_result(message: search_pb2.SearchResponse) -> SearchResult:
    return SearchResult(
        hits=tuple(hit(h) for h in message.hits),
        query_language=message.query_language,
        timings=dict(message.timings.ms),
        cached=message.cached,
    )


def citation(message: ask_pb2.Citation) -> Citation:
    return Citation(
        number=message.number,
        document_id=message.document_id,
        chunk_id=message.chunk_id,
        source=source(message.source),
        score=message.score,
        snippet=message.snippet,
        modality=_MODALITY.get(message.modality, Modality.UNSPECIFIED),
        language=message.language,
    )


def answer(message: ask_pb2.AnswerFinal) -> Answer:
    return Answer(
        text=message.answer,
        citations=tuple(citation(c) for c in message.citations),
        context=tuple(citation(c) for c in message.context),
        question_language=message.question_language,
        question_language_confidence=message.question_language_confidence,
        answer_language=message.answer_language,
        detected_answer_language=message.detected_answer_language,
        answer_language_ok=message.answer_language_ok,
        timings=dict(message.timings.ms),
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        finish_reason=message.finish_reason,
        no_answer_in_sources=message.no_answer_in_sources,
        model=message.model,
        images_seen=message.images_seen,
    )


def document(message: documents_pb2.DocumentInfo) -> Document:
    return Document(
        document_id=message.document_id,
        source=source(message.source),
        modality=_MODALITY.get(message.modality, Modality.UNSPECIFIED),
        language=message.language,
        chunks=message.chunks,
        tags=tuple(message.tags),
        created_at=_time(message, "created_at"),
        bytes=message.bytes,
    )


def document_page(message: documents_pb2.ListDocumentsResponse) -> DocumentPage:
    return DocumentPage(
        documents=tuple(document(d) for d in message.documents),
        next_page_token=message.next_page_token,
        total=message.total,
    )


def tenant(message: admin_pb2.Tenant) -> Tenant:
    return Tenant(
        name=message.name,
        state=_STATE_FROM_PB.get(message.state, TenantState.UNSPECIFIED),
        quotas=Quotas(
            requests_per_second=message.quotas.requests_per_second,
            burst=message.quotas.burst,
            max_chunks=message.quotas.max_chunks,
            max_bytes=message.quotas.max_bytes,
        ),
        usage=Usage(chunks=message.usage.chunks, bytes=message.usage.bytes, documents=message.usage.documents),
        created_at=_time(message, "created_at"),
    )


def api_key(message: admin_pb2.ApiKey) -> ApiKey:
    return ApiKey(
        key_id=message.key_id,
        tenant=message.tenant,
        label=message.label,
        created_at=_time(message, "created_at"),
        revoked_at=_time(message, "revoked_at"),
        revoked=message.revoked,
    )


def created_tenant(message: admin_pb2.CreateTenantResponse) -> CreatedTenant:
    return CreatedTenant(tenant=tenant(message.tenant), key=api_key(message.key), api_key=message.api_key)


def issued_key(message: admin_pb2.IssueApiKeyResponse) -> IssuedKey:
    return IssuedKey(key=api_key(message.key), api_key=message.api_key)


def deleted_tenant(message: admin_pb2.DeleteTenantResponse) -> DeletedTenant:
    return DeletedTenant(chunks_deleted=message.chunks_deleted, keys_revoked=message.keys_revoked)


# ==================================================================================================
# Ask: the stream's protocol
class AskAccumulator:
    """Turns AskResponse messages into :class:`AnswerDelta` events and the final :class:`Answer`.

    ``started`` becomes True with the first event: from then on the call is not retried (the
    caller has seen output).
    """

    def __init__(self) -> None:
        self.started = False
        self.final: Answer | None = None

    def feed(self, response: ask_pb2.AskResponse) -> AnswerDelta | Answer | None:
        kind = response.WhichOneof("event")
        if self.final is not None and kind is not None:
            raise ServerError("the answer stream went on after its final event", method=ASK.name)
        if kind == "delta":
            self.started = True
            return AnswerDelta(text=response.delta.text)
        if kind == "final":
            self.started = True
            self.final = answer(response.final)
            return self.final
        return None  # an event kind this client does not know: newer server; skip it

    def finish(self) -> Answer:
        return require_answer(self.final)


def require_answer(final: Answer | None) -> Answer:
    if final is None:
        raise ServerError("the answer stream ended without its final event", method=ASK.name)
    return final


# ==================================================================================================
# Ingest: the stream's bookkeeping
@dataclasses.dataclass
class UploadItem:
    """One item to send: its header, and how to open its content (a readable binary stream)."""

    position: int  # place in the caller's input order (results are reported in this order)
    source: str  # what the caller gave, for messages and results: a path, a document id ...
    header: ingest_pb2.ItemHeader
    open: Callable[[], IO[bytes]]
    size: int | None = None  # bytes, when known before reading
    close_after: bool = True  # False for a stream the caller handed in (it is the caller's to close)


@dataclasses.dataclass
class IngestPlan:
    """What :func:`babelrag_client._files.plan_ingest` found: items, failures, skipped paths."""

    items: list[UploadItem] = dataclasses.field(default_factory=list)
    failures: list[IngestResult] = dataclasses.field(default_factory=list)
    failure_positions: list[int] = dataclasses.field(default_factory=list)
    skipped: list[SkippedItem] = dataclasses.field(default_factory=list)
    count: int = 0  # positions handed out (items + failures)

    def next_position(self) -> int:
        self.count += 1
        return self.count - 1

    def fail(self, source: str, code: str, message: str, *, filename: str = "") -> None:
        self.failure_positions.append(self.next_position())
        self.failures.append(
            IngestResult(source=source, status=IngestStatus.FAILED, filename=filename, error=ItemError(code, message))
        )


#: Status codes of a failed Ingest call after which later batches are not even sent: they would
#: fail the same way (the credential, the tenant, the connection or the deadline is the problem).
_STOP_CODES = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    }
)

ProgressCallback = Callable[[IngestProgress], Any]


class IngestSession:
    """The results of one ``ingest`` call across its streams (batches), and its progress.

    Rules for failures, in one place:

    * an item's own failure (server result FAILED, unreadable file) is recorded in its result;
    * when a stream fails, its items without a result are recorded as failed with the stream's
      status (they may or may not have been stored), and, if the failure would repeat
      (:data:`_STOP_CODES`), the items of later batches are recorded as NOT_SENT;
    * but when no item of this ingest has got a result from the server yet, the stream's error is
      raised instead: nothing was ingested, so nothing is cut off half-way (wrong key, server down).

    Thread-safe: the sync client reads files in gRPC's request thread and results in the
    caller's; the progress callback is called under a lock, so never twice at once.
    """

    def __init__(self, plan: IngestPlan, *, progress: ProgressCallback | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 1000:
            raise InvalidRequestError("batch_size must be an integer between 1 and 1000")
        if progress is not None and not callable(progress):
            raise InvalidRequestError("progress must be a callable taking an IngestProgress")
        self.plan = plan
        self.batch_size = batch_size
        self._progress = progress
        self._lock = threading.RLock()
        self.results: dict[int, IngestResult] = dict(zip(plan.failure_positions, plan.failures))
        self.server_results = 0
        self.bytes_sent = 0
        self.bytes_total = sum(item.size or 0 for item in plan.items)
        self.stopped = False

    @property
    def items_total(self) -> int:
        return self.plan.count

    def batches(self) -> Iterator[IngestBatch]:
        items = self.plan.items
        for start in range(0, len(items), self.batch_size):
            if self.stopped:
                return
            yield IngestBatch(self, items[start : start + self.batch_size])

    def record(self, item: UploadItem, result: IngestResult) -> None:
        with self._lock:
            self.results[item.position] = result
            self._emit(current=None, result=result)

    def _emit(self, *, current: str | None, result: IngestResult | None) -> None:
        if self._progress is None:
            return
        with self._lock:
            event = IngestProgress(
                items_total=self.items_total,
                items_done=len(self.results),
                items_failed=sum(1 for r in self.results.values() if not r.ok),
                bytes_sent=self.bytes_sent,
                bytes_total=self.bytes_total,
                current=current,
                result=result,
            )
            self._progress(event)

    def sent(self, item: UploadItem, size: int) -> None:
        with self._lock:
            self.bytes_sent += size
            self._emit(current=item.source, result=None)

    def stop(self, error: ItemError) -> None:
        """Record every item not yet sent as NOT_SENT and send no further batch."""
        with self._lock:
            self.stopped = True
            for item in self.plan.items:
                if item.position not in self.results:
                    self.record(item, _failed(item, ItemError("NOT_SENT", error.message)))

    def report(self) -> IngestReport:
        for item in self.plan.items:  # cannot happen unless a send loop is broken; never lose an item
            if item.position not in self.results:
                self.results[item.position] = _failed(item, ItemError("NO_RESULT", "no result was received"))
        ordered = tuple(self.results[p] for p in sorted(self.results))
        return IngestReport(results=ordered, skipped=tuple(self.plan.skipped))


def _failed(item: UploadItem, error: ItemError, **extra: Any) -> IngestResult:
    return IngestResult(
        source=item.source,
        status=IngestStatus.FAILED,
        document_id=item.header.document_id,
        filename=item.header.filename,
        error=error,
        **extra,
    )


class IngestBatch:
    """The items of one Ingest stream and what happened to each.

    The send loop asks :meth:`open`, :meth:`header` and :meth:`read` for the request messages (the
    last two count bytes for progress; the first and last turn read errors into the item's
    result) and hands each response to :meth:`received` and the stream's end to :meth:`finished`.
    """

    def __init__(self, session: IngestSession, items: list[UploadItem]) -> None:
        self.session = session
        self.items = items
        self._by_index: dict[int, UploadItem] = {}
        self._local_errors: dict[int, ItemError] = {}  # by position: read failed after the header
        self._sent: set[int] = set()  # positions whose header went out
        self._lock = threading.Lock()
        self.crash: BaseException | None = None  # an unexpected exception in the request iterator

    def open(self, item: UploadItem) -> IO[bytes] | None:
        """The item's content stream, or None (recorded as IO_ERROR) when it cannot be opened."""
        try:
            return item.open()
        except OSError as exc:
            self.session.record(item, _failed(item, ItemError("IO_ERROR", f"cannot read {item.source}: {_os_error(exc)}")))
        except BabelRAGError as exc:  # e.g. an image that cannot be encoded
            self.session.record(item, _failed(item, ItemError("INVALID_ARGUMENT", str(exc))))
        return None

    def header(self, item: UploadItem, reader: IO[bytes]) -> ingest_pb2.IngestRequest:
        header = ingest_pb2.ItemHeader()
        header.CopyFrom(item.header)
        size = item.size
        if item.close_after:  # a file we opened at its start: its size now, not when the folder was walked
            try:
                size = os.fstat(reader.fileno()).st_size
            except (AttributeError, OSError, ValueError):  # not a file (io.UnsupportedOperation is both)
                pass
        if size:
            header.size_bytes = size
        with self._lock:
            self._by_index[len(self._by_index)] = item
            self._sent.add(item.position)
        self.session.sent(item, 0)
        return ingest_pb2.IngestRequest(header=header)

    def read(self, item: UploadItem, reader: IO[bytes], piece_size: int = PIECE_SIZE) -> ingest_pb2.IngestRequest | None:
        """The next data piece, or None at the end (or when reading failed: recorded)."""
        try:
            piece = reader.read(piece_size)
        except OSError as exc:
            self._local_errors[item.position] = ItemError(
                "IO_ERROR", f"reading {item.source} failed part-way: {_os_error(exc)}"
            )
            return None
        if not piece:
            return None
        if not isinstance(piece, bytes):
            piece = bytes(piece) if isinstance(piece, (bytearray, memoryview)) else None
            if piece is None:
                self._local_errors[item.position] = ItemError("IO_ERROR", f"{item.source} is not a binary stream")
                return None
        self.session.sent(item, len(piece))
        return ingest_pb2.IngestRequest(data=piece)

    def close(self, item: UploadItem, reader: IO[bytes]) -> None:
        if item.close_after:
            try:
                reader.close()
            except OSError:  # closing a file we only read cannot lose data
                pass

    def received(self, response: ingest_pb2.IngestResponse) -> None:
        with self._lock:
            item = self._by_index.get(response.index)
        if item is None:
            log.warning("ignoring an ingest result for unknown item index %d", response.index)
            return
        self.session.server_results += 1
        result = IngestResult(
            source=item.source,
            status=IngestStatus.STORED if response.status == ingest_pb2.INGEST_STATUS_STORED else IngestStatus.FAILED,
            document_id=response.document_id or item.header.document_id,
            filename=response.filename or item.header.filename,
            chunks=response.chunks,
            duplicate_chunks=response.duplicate_chunks,
            modality=_MODALITY.get(response.modality, Modality.UNSPECIFIED),
            language=response.language,
            mime_type=response.mime_type,
            bytes=response.bytes,
            error=ItemError(response.error.code, response.error.message) if response.HasField("error") else None,
            timings=dict(response.timings.ms),
        )
        if result.status is IngestStatus.FAILED and result.error is None:
            result = dataclasses.replace(result, error=ItemError("UNKNOWN", "the server reported a failure without a reason"))
        local = self._local_errors.get(item.position)
        if local is not None:
            note = (
                f"; the server stored the {response.bytes} bytes it got as document {result.document_id!r}: re-ingest or delete it"
                if result.ok
                else ""
            )
            result = dataclasses.replace(result, status=IngestStatus.FAILED, error=ItemError(local.code, local.message + note))
        self.session.record(item, result)

    def raise_crash(self) -> None:
        """Raise the exception that stopped the request iterator, if one did."""
        if self.crash is not None:
            raise self.crash

    def finished(self, error: grpc.RpcError | None, call: Call) -> None:
        """The stream ended (``error`` None: normally). Raises when nothing was ingested yet."""
        self.raise_crash()
        session = self.session
        if error is None:
            for item in self.items:
                if item.position not in session.results:
                    local = self._local_errors.get(item.position)
                    session.record(item, _failed(item, local or ItemError("NO_RESULT", "the server sent no result for this item")))
            return
        mapped = call.error(error)
        if session.server_results == 0:
            raise mapped from error
        code = mapped.code.name if mapped.code is not None else "UNKNOWN"
        for item in self.items:
            if item.position in session.results:
                continue
            if item.position in self._local_errors:  # its own read failure explains it best
                session.record(item, _failed(item, self._local_errors[item.position]))
            elif self._was_sent(item):
                message = f"the upload stream failed before this item's result arrived (it may have been stored): {mapped}"
                session.record(item, _failed(item, ItemError(code, message)))
            else:
                session.record(item, _failed(item, ItemError("NOT_SENT", f"not sent: the upload stream failed: {mapped}")))
        if mapped.code in _STOP_CODES:
            session.stop(ItemError("NOT_SENT", f"not sent: an earlier upload stream failed: {mapped}"))

    def _was_sent(self, item: UploadItem) -> bool:
        with self._lock:
            return item.position in self._sent


def _os_error(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__

