"""Small helpers for talking to the real gateway over gRPC in tests."""

from __future__ import annotations

import io

import grpc
from PIL import Image, ImageDraw

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


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


class Api:
    """Stubs for one caller (API key) of a gateway."""

    def __init__(self, address: str, key: str | None) -> None:
        self.channel = grpc.insecure_channel(
            address, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        )
        self.metadata = bearer(key) if key else ()
        self.ingest_stub = ingest_pb2_grpc.IngestServiceStub(self.channel)
        self.search_stub = search_pb2_grpc.SearchServiceStub(self.channel)
        self.ask_stub = ask_pb2_grpc.AskServiceStub(self.channel)
        self.docs = documents_pb2_grpc.DocumentServiceStub(self.channel)
        self.admin_stub = admin_pb2_grpc.AdminServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def ingest(self, *items: dict, timeout: float = 120) -> list[ingest_pb2.IngestResponse]:
        def requests():
            for item in items:
                item = dict(item)
                data = item.pop("data", None)
                yield ingest_pb2.IngestRequest(header=ingest_pb2.ItemHeader(**item))
                if data is not None:
                    for start in range(0, len(data), 1 << 20):
                        yield ingest_pb2.IngestRequest(data=data[start : start + (1 << 20)])

        return list(self.ingest_stub.Ingest(requests(), metadata=self.metadata, timeout=timeout))

    def search(self, query: str = "", timeout: float = 60, **fields) -> search_pb2.SearchResponse:
        return self.search_stub.Search(search_pb2.SearchRequest(query=query, **fields), metadata=self.metadata, timeout=timeout)

    def ask(self, question: str, timeout: float = 120, **fields) -> list[ask_pb2.AskResponse]:
        return list(self.ask_stub.Ask(ask_pb2.AskRequest(question=question, **fields), metadata=self.metadata, timeout=timeout))

    def list_documents(self, **fields) -> documents_pb2.ListDocumentsResponse:
        return self.docs.ListDocuments(documents_pb2.ListDocumentsRequest(**fields), metadata=self.metadata, timeout=30)

    def delete_document(self, document_id: str) -> documents_pb2.DeleteDocumentResponse:
        return self.docs.DeleteDocument(documents_pb2.DeleteDocumentRequest(document_id=document_id), metadata=self.metadata, timeout=30)

    def admin(self, method: str, request, timeout: float = 30):  # noqa: ANN001, ANN201
        return getattr(self.admin_stub, method)(request, metadata=self.metadata, timeout=timeout)


def text_item(document_id: str, text: str, **fields) -> dict:
    return {"document_id": document_id, "filename": f"{document_id}.txt", "content": text.encode("utf-8"), **fields}


def image_bytes(color: str = "red", label: str = "", size: tuple[int, int] = (200, 160), fmt: str = "PNG") -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse([20, 20, size[0] - 20, size[1] - 20], fill=color)
    if label:
        draw.text((10, 5), label, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def field_filter(field: str, *values: str) -> common_pb2.Filters:
    return common_pb2.Filters(match=[common_pb2.FieldFilter(field=field, any_of=list(values))])


__all__ = ["Api", "admin_pb2", "ask_pb2", "bearer", "field_filter", "image_bytes", "text_item"]
