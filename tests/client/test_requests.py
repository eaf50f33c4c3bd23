"""Request building and validation in the shared core (no server involved)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from PIL import Image

from babelrag.v1 import admin_pb2, common_pb2
from babelrag_client import Filters, InvalidRequestError, Quotas, TimeRange
from babelrag_client import _core
from babelrag_client._files import load_image, load_images

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def search(query: str = "q", **kwargs):
    defaults = dict(images=[], top_k=None, offset=None, mode=None, alpha=None, filters=None, rerank=None)
    defaults.update(kwargs)
    return _core.SearchQuery.build(query, **defaults)


def ask(question: str = "q?", **kwargs):
    defaults = dict(images=[], language=None, top_k=None, filters=None, mode=None, alpha=None, max_tokens=None, temperature=None)
    defaults.update(kwargs)
    return _core.AskQuery.build(question, **defaults)


def test_search_request() -> None:
    request = search("Eiffel", top_k=5, offset=10, mode="keyword", alpha=0.3, rerank=False).request([PNG])
    assert request.query == "Eiffel" and request.top_k == 5 and request.offset == 10
    assert request.mode == common_pb2.SEARCH_MODE_KEYWORD
    assert request.alpha == pytest.approx(0.3) and request.HasField("rerank") and not request.rerank
    assert list(request.images) == [PNG]


def test_search_defaults_leave_optional_fields_unset() -> None:
    request = search("x").request([])
    assert not request.HasField("alpha") and not request.HasField("rerank") and not request.HasField("filters")
    assert request.top_k == 0 and request.mode == common_pb2.SEARCH_MODE_UNSPECIFIED


@pytest.mark.parametrize(
    "kwargs",
    [{"top_k": 0}, {"top_k": -1}, {"top_k": 2.5}, {"top_k": True}, {"offset": -1}, {"alpha": 1.5}, {"mode": "fuzzy"}, {"rerank": "yes"}],
)
def test_search_validation(kwargs: dict) -> None:
    with pytest.raises(InvalidRequestError):
        search("x", **kwargs)


def test_search_needs_text_or_image() -> None:
    with pytest.raises(InvalidRequestError, match="query text, an image"):
        search("  ")
    assert search("", images=[PNG]).images == (PNG,)


def test_ask_request() -> None:
    filters = {"language": "de", "tag": ["a", "b"]}
    request = ask("Wo?", language=" DE ", top_k=4, max_tokens=64, temperature=0.5, mode="vector", filters=filters).request([])
    assert request.question == "Wo?" and request.answer_language == "de"
    options = request.options
    assert (options.top_k, options.max_tokens, options.mode) == (4, 64, common_pb2.SEARCH_MODE_VECTOR)
    assert options.temperature == pytest.approx(0.5) and not options.HasField("alpha")
    assert [(m.field, list(m.any_of)) for m in options.filters.match] == [("language", ["de"]), ("tag", ["a", "b"])]


@pytest.mark.parametrize("kwargs", [{"temperature": 3}, {"max_tokens": 0}, {"top_k": "5"}])
def test_ask_validation(kwargs: dict) -> None:
    with pytest.raises(InvalidRequestError):
        ask("q", **kwargs)


@pytest.mark.parametrize("question", ["", "   ", None, 42])
def test_ask_needs_a_question(question: object) -> None:
    with pytest.raises(InvalidRequestError):
        ask(question)  # type: ignore[arg-type]


def test_filters_from_dataclass() -> None:
    start, end = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, tzinfo=timezone.utc)
    message = _core.build_filters(
        Filters(document_ids=["d1"], languages=["de", "fr"], modalities=["image"], valid_at=TimeRange(start, end))
    )
    assert [(m.field, list(m.any_of)) for m in message.match] == [
        ("document_id", ["d1"]),
        ("language", ["de", "fr"]),
        ("modality", ["image"]),
    ]
    assert message.valid_at.start.ToDatetime(tzinfo=timezone.utc) == start
    assert message.valid_at.end.ToDatetime(tzinfo=timezone.utc) == end
    assert not message.HasField("created_at")


def test_filters_from_mapping() -> None:
    naive = datetime(2024, 6, 1)  # taken as UTC
    message = _core.build_filters({"tag": "news", "created_at": (naive, None)})
    assert [(m.field, list(m.any_of)) for m in message.match] == [("tag", ["news"])]
    assert message.created_at.start.ToDatetime(tzinfo=timezone.utc) == naive.replace(tzinfo=timezone.utc)
    assert not message.created_at.HasField("end")


def test_unknown_filter_fields_are_left_to_the_server() -> None:
    message = _core.build_filters({"colour": "red"})
    assert message.match[0].field == "colour"


@pytest.mark.parametrize(
    "value",
    [
        {"tag": []},
        {"tag": [1]},
        {"valid_at": "2024"},
        {"valid_at": (datetime(2025, 1, 1), datetime(2024, 1, 1))},
        "language=de",
    ],
)
def test_bad_filters(value: object) -> None:
    with pytest.raises(InvalidRequestError):
        _core.build_filters(value)  # type: ignore[arg-type]


def test_empty_filters_are_none() -> None:
    assert _core.build_filters(None) is None
    assert _core.build_filters(Filters()) is None
    assert _core.build_filters({}) is None


def test_images_from_path_bytes_file_and_pil(tmp_path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 4), "red").save(path)
    data = path.read_bytes()
    assert load_image(path) == data
    assert load_image(str(path)) == data
    assert load_image(data) == data
    assert load_image(io.BytesIO(data)) == data
    pil = load_image(Image.new("CMYK", (3, 3)))  # converted: PNG cannot hold CMYK
    assert pil.startswith(b"\x89PNG")
    assert load_images([data, bytearray(data)]) == [data, data]


@pytest.mark.parametrize("value", [b"not an image", b"", 123, io.StringIO("text")])
def test_bad_images(value: object) -> None:
    with pytest.raises(InvalidRequestError):
        load_image(value)


def test_missing_image_file(tmp_path) -> None:
    with pytest.raises(InvalidRequestError, match="cannot read"):
        load_image(tmp_path / "nope.jpg")


def test_image_and_images_combine() -> None:
    assert _core.collect_images("a.png", ["b.png"]) == ["a.png", "b.png"]
    with pytest.raises(InvalidRequestError, match="takes a list"):
        _core.collect_images(None, "a.png")


def test_admin_requests() -> None:
    request = _core.create_tenant_request("acme", Quotas(requests_per_second=5, burst=10), "first")
    assert request.quotas.burst == 10 and request.key_label == "first"
    assert not _core.create_tenant_request("acme", None, "").HasField("quotas")
    assert _core.tenant_state_request("acme", "OFFLOADED").state == admin_pb2.TENANT_STATE_OFFLOADED
    assert _core.set_quotas_request("acme", {"max_chunks": 5}).quotas.max_chunks == 5
    for bad in (lambda: _core.tenant_state_request("acme", "frozen"),
                lambda: _core.set_quotas_request("acme", Quotas(burst=-1)),
                lambda: _core.set_quotas_request("acme", {"nope": 1}),
                lambda: _core.revoke_key_request(""),
                lambda: _core.delete_document_request("  "),
                lambda: _core.list_documents_request(0, None)):  # fmt: skip
        with pytest.raises(InvalidRequestError):
            bad()


def test_ask_stream_protocol() -> None:
    from babelrag.v1 import ask_pb2
    from babelrag_client import Answer, AnswerDelta, ServerError

    acc = _core.AskAccumulator()
    assert not acc.started
    delta = acc.feed(ask_pb2.AskResponse(delta=ask_pb2.AnswerDelta(text="Hi")))
    assert delta == AnswerDelta("Hi") and str(delta) == "Hi" and not delta.is_final and acc.started
    assert acc.feed(ask_pb2.AskResponse()) is None  # unknown event kinds are skipped
    final = acc.feed(ask_pb2.AskResponse(final=ask_pb2.AnswerFinal(answer="Hi", finish_reason="stop")))
    assert isinstance(final, Answer) and final.is_final and final.text == "Hi"
    assert acc.finish() is final
    with pytest.raises(ServerError, match="after its final"):
        acc.feed(ask_pb2.AskResponse(delta=ask_pb2.AnswerDelta(text="more")))
    with pytest.raises(ServerError, match="without its final"):
        _core.AskAccumulator().finish()
