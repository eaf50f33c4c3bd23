"""A multi-tenant SaaS backend on BabelRAG: one tenant and one API key per customer.

The backend holds the admin key (``BABELRAG_ADMIN_KEY``) and uses it only to provision: when a
customer signs up it creates their tenant with the quotas of their plan and keeps the tenant's
API key in a key store (a file here; a secrets manager in production). Every request of the
customer's users - uploads, questions, searches - is forwarded with *that customer's* key, so the
server keeps customers apart: nothing in a request body can reach another tenant's documents.

Run the demo (two customers, each with a private document, each sees only its own)::

    BABELRAG_ADMIN_KEY=... python examples/saas_backend.py --url localhost:50051

It prints a JSON summary and exits 0 when the customers are isolated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from babelrag_client import (
    UNSET,
    AlreadyExistsError,
    AuthenticationError,
    BabelRAGError,
    Client,
    IngestReport,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    Quotas,
    ServiceUnavailableError,
    TenantUnavailableError,
    TextDocument,
)

#: What each plan may use (0 = unlimited).
PLANS: dict[str, Quotas] = {
    "free": Quotas(requests_per_second=2, burst=10, max_chunks=5_000, max_bytes=50 * 1024**2),
    "pro": Quotas(requests_per_second=20, burst=60, max_chunks=500_000, max_bytes=5 * 1024**3),
}


class KeyStore:
    """Customer -> API key, in a JSON file only this user can read (stand-in for a secrets manager)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}
        if path is not None and path.exists():
            self._keys = json.loads(path.read_text())

    def get(self, customer: str) -> str | None:
        with self._lock:
            return self._keys.get(customer)

    def put(self, customer: str, api_key: str) -> None:
        with self._lock:
            self._keys[customer] = api_key
            self._save()

    def forget(self, customer: str) -> None:
        with self._lock:
            self._keys.pop(customer, None)
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._keys, handle)
        tmp.replace(self.path)


def tenant_name(customer: str) -> str:
    """A valid tenant name for a customer id: lower-case, [a-z0-9_-], starts with a letter."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", customer.lower()).strip("-")[:56]
    return f"cust-{slug}" if slug else f"cust-{uuid.uuid4().hex[:12]}"


def http_status_for(error: BabelRAGError) -> int:
    """How the backend's own HTTP API would answer when a BabelRAG call fails."""
    if isinstance(error, InvalidRequestError):
        return 400
    if isinstance(error, AuthenticationError):
        return 502  # our key for the customer is wrong: our fault, not the user's
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, QuotaExceededError):
        return 429
    if isinstance(error, (ServiceUnavailableError, TenantUnavailableError)):
        return 503
    return 500


class SaaSBackend:
    """Provisioning with the admin key; customers' traffic with each customer's own key."""

    def __init__(self, url: str | None = None, *, admin_key: str | None = None, keys: KeyStore | None = None) -> None:
        # url and admin key: the arguments, else BABELRAG_URL and BABELRAG_ADMIN_KEY. No tenant key here.
        self._admin = Client(url or UNSET, admin_key=admin_key or UNSET, api_key=None)
        self._url = self._admin.config.url
        self._keys = keys or KeyStore()
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    # -- provisioning (admin key) ----------------------------------------------------------------
    def onboard(self, customer: str, plan: str = "free") -> str:
        """Create the customer's tenant and key (idempotent); returns the tenant name."""
        name = tenant_name(customer)
        try:
            created = self._admin.admin.create_tenant(name, quotas=PLANS[plan], key_label=f"backend for {customer}")
            self._keys.put(customer, created.api_key)
        except AlreadyExistsError:
            if self._keys.get(customer) is None:  # tenant exists but we lost its key: issue a new one
                self._keys.put(customer, self._admin.admin.issue_key(name, label=f"backend for {customer}").api_key)
        return name

    def change_plan(self, customer: str, plan: str) -> None:
        self._admin.admin.set_quotas(tenant_name(customer), PLANS[plan])

    def offboard(self, customer: str) -> None:
        """Delete the customer's tenant with all its documents and keys."""
        with self._lock:
            client = self._clients.pop(customer, None)
        if client is not None:
            client.close()
        try:
            self._admin.admin.delete_tenant(tenant_name(customer))
        except NotFoundError:
            pass
        self._keys.forget(customer)

    # -- the customer's traffic (the customer's key) -----------------------------------------------
    def client_for(self, customer: str) -> Client:
        with self._lock:
            client = self._clients.get(customer)
            if client is None:
                key = self._keys.get(customer)
                if key is None:
                    raise KeyError(f"customer {customer!r} is not onboarded")
                client = self._clients[customer] = Client(self._url, api_key=key)
            return client

    def upload(self, customer: str, documents: Any, **options: Any) -> IngestReport:
        return self.client_for(customer).ingest(documents, **options)

    def ask(self, customer: str, question: str, *, language: str | None = None) -> dict[str, Any]:
        """What the backend returns to a user's question: the answer and its sources."""
        answer = self.client_for(customer).ask(question, language=language, stream=False)
        sources = answer.citations or answer.context
        return {
            "answer": answer.text,
            "language": answer.answer_language,
            "sources": [{"n": c.number, "document_id": c.document_id, "title": c.source.title} for c in sources],
        }

    def search(self, customer: str, query: str, **options: Any) -> list[str]:
        return [hit.document_id for hit in self.client_for(customer).search(query, **options)]

    def documents(self, customer: str) -> list[str]:
        return [d.document_id for d in self.client_for(customer).documents.iterate()]

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        self._admin.close()

    def __enter__(self) -> SaaSBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def demo(backend: SaaSBackend, *, keep: bool = False) -> dict[str, Any]:
    """Two customers, each with a private document; checks that neither sees the other's."""
    run = uuid.uuid4().hex[:6]
    customers = {
        f"acme-{run}": TextDocument("Acme's secret launch code word is aubergine.", document_id="plan", title="Acme plan"),
        f"globex-{run}": TextDocument("Globex stores its gold under the old lighthouse.", document_id="plan", title="Globex plan"),
    }
    words = {f"acme-{run}": "aubergine", f"globex-{run}": "lighthouse"}
    summary: dict[str, Any] = {"customers": {}, "isolated": True}
    try:
        for customer, document in customers.items():
            backend.onboard(customer, plan="free")
            report = backend.upload(customer, [document], tags=["demo"])
            if not report.ok:
                raise RuntimeError(f"upload for {customer} failed: {report.failed}")
        for customer in customers:
            other = next(c for c in customers if c != customer)
            own = backend.search(customer, words[customer], mode="keyword")
            foreign = backend.search(customer, words[other], mode="keyword")
            reply = backend.ask(customer, f"What do we know about {words[customer]}?")
            summary["customers"][customer] = {
                "tenant": tenant_name(customer),
                "documents": backend.documents(customer),
                "finds_own_document": own[:1] == ["plan"],
                "finds_other_customers_document": bool(foreign),
                "answer_sources": [s["document_id"] for s in reply["sources"]],
            }
            if own[:1] != ["plan"] or foreign:
                summary["isolated"] = False
    finally:
        if not keep:
            for customer in customers:
                backend.offboard(customer)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="BabelRAG server (env BABELRAG_URL, default localhost:50051)")
    parser.add_argument("--admin-key", help="admin key (env BABELRAG_ADMIN_KEY)")
    parser.add_argument("--keys-file", type=Path, help="where to keep customers' API keys (default: in memory)")
    parser.add_argument("--keep", action="store_true", help="keep the demo tenants afterwards")
    args = parser.parse_args(argv)
    try:
        with SaaSBackend(args.url, admin_key=args.admin_key, keys=KeyStore(args.keys_file)) as backend:
            summary = demo(backend, keep=args.keep)
    except BabelRAGError as exc:
        print(f"saas_backend: {type(exc).__name__}: {exc} (HTTP {http_status_for(exc)})", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0 if summary["isolated"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
