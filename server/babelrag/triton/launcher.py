"""Start and stop a real ``tritonserver`` process on a model repository.

On CPU machines the server binary comes from the ``nvidia-pytriton`` wheel, which ships
``tritonserver`` 2.51, the Python backend and one backend stub per CPython version. What makes it
start (see shared FINDINGS): the running interpreter's ``bin`` first on PATH, a backend directory
``python/`` holding links to ``libtriton_python.so``, ``triton_python_backend_utils.py`` and the stub
built for *this* interpreter's version (a mismatched stub hangs model load), and LD_LIBRARY_PATH
holding the wheel's bundled libraries plus the interpreter's lib dir.

On GPU hosts the NGC ``tritonserver`` image is used instead (see docker/ and README); this module
is only about the local, pip-installed server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

from babelrag.triton.errors import TritonStartError

#: Models served by the project's repository, in load order (ensembles after their steps).
ENCODER_MODELS: tuple[str, ...] = (
    "e5_tokenizer",
    "e5_encoder",
    "text_embedding",
    "clip_image_preprocess",
    "clip_image_encoder",
    "image_embedding",
    "clip_text_tokenizer",
    "clip_text_encoder",
    "clip_text_embedding",
)
#: The cross-encoder reranker (ensemble last), served only by profiles that build one.
RERANKER_MODELS: tuple[str, ...] = ("reranker_tokenizer", "reranker_encoder", "reranker")
#: Every model of the repository: the encoders, the streaming generator (called directly, never
#: inside an ensemble: Triton cannot pass a decoupled model's responses on) and the reranker.
ALL_MODELS: tuple[str, ...] = (*ENCODER_MODELS, "generator", *RERANKER_MODELS)


@dataclasses.dataclass(frozen=True)
class TritonInstall:
    """Where the pip-installed Triton lives."""

    server_binary: Path
    python_backend_dir: Path
    stub: Path
    bundled_libs: Path

    @classmethod
    def locate(cls) -> TritonInstall:
        spec = importlib.util.find_spec("pytriton")  # does not import the package
        if spec is None or not spec.submodule_search_locations:
            raise TritonStartError(
                "nvidia-pytriton is not installed; install the 'serve' extra (pip install 'babelrag[serve]')"
            )
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        root = package_dir / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        install = cls(
            server_binary=root / "bin" / "tritonserver",
            python_backend_dir=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
            bundled_libs=package_dir.parent / "nvidia_pytriton.libs",
        )
        for path in (install.server_binary, install.python_backend_dir, install.stub):
            if not path.exists():
                raise TritonStartError(
                    f"incomplete Triton install: {path} is missing (Python {version} needs its own backend stub)"
                )
        return install

    def prepare_backend_dir(self, runtime_dir: Path) -> Path:
        """Create ``runtime_dir/backends/python`` with the stub matching this interpreter."""
        python_dir = runtime_dir / "backends" / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        links = {
            "libtriton_python.so": self.python_backend_dir / "libtriton_python.so",
            "triton_python_backend_utils.py": self.python_backend_dir / "triton_python_backend_utils.py",
            "triton_python_backend_stub": self.stub,
        }
        for name, target in links.items():
            link = python_dir / name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == target:
                    continue
                link.unlink()
            link.symlink_to(target)
        return runtime_dir / "backends"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        interpreter_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([interpreter_bin, env.get("PATH", "")])
        lib_dirs = [str(self.bundled_libs), sysconfig.get_config_var("LIBDIR") or ""]
        if env.get("LD_LIBRARY_PATH"):
            lib_dirs.append(env["LD_LIBRARY_PATH"])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(d for d in lib_dirs if d)
        # Model code runs inside the stub with this interpreter's site-packages; keep the
        # numerical libraries from grabbing every core of a small machine per instance.
        env.setdefault("OMP_NUM_THREADS", "1")
        return env


def package_root() -> Path:
    """The directory holding the ``babelrag`` package this process runs.

    tritonserver is started there because the python-backend stub runs its interpreter isolated
    (``sys.flags.isolated``: PYTHONPATH is ignored) with the working directory first on
    ``sys.path``: so the models import the same ``babelrag`` as the process that launched them
    (a git worktree or a checkout on PYTHONPATH), not whichever copy the environment installed.
    """
    import babelrag

    return Path(babelrag.__file__).resolve().parent.parent


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``port`` (connections lingering in TIME_WAIT do not count)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclasses.dataclass
class TritonPorts:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002

    @classmethod
    def free(cls) -> TritonPorts:
        return cls(http=free_port(), grpc=free_port(), metrics=free_port())


class TritonServer:
    """A ``tritonserver`` child process serving ``repository``.

    Models are loaded explicitly (``--model-control-mode=explicit``) so a test can load only what
    it needs; :meth:`start` returns once the server and every requested model are ready, or raises
    :class:`TritonStartError` with the tail of the server log.
    """

    def __init__(
        self,
        repository: Path,
        *,
        models: Sequence[str] = ENCODER_MODELS,
        ports: TritonPorts | None = None,
        runtime_dir: Path | None = None,
        log_path: Path | None = None,
        model_config_name: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.repository = Path(repository).resolve()
        self.models = list(models)
        self.ports = ports or TritonPorts()
        self.runtime_dir = Path(runtime_dir or self.repository.parent / "runtime").resolve()
        self.log_path = Path(log_path or self.runtime_dir / "tritonserver.log")
        self.model_config_name = model_config_name
        self.extra_args = list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self, install: TritonInstall) -> list[str]:
        backends = install.prepare_backend_dir(self.runtime_dir)
        args = [
            str(install.server_binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            "--model-control-mode=explicit",
            *[f"--load-model={name}" for name in self.models],
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--pinned-memory-pool-byte-size=0",
            "--cuda-memory-pool-byte-size=0:0",
            "--allow-gpu-metrics=false",
            "--exit-timeout-secs=5",
            "--strict-readiness=true",
        ]
        if self.model_config_name:
            args.append(f"--model-config-name={self.model_config_name}")
        return args + self.extra_args

    def start(self, timeout: float = 180.0) -> TritonServer:
        if not self.repository.is_dir():
            raise TritonStartError(f"model repository {self.repository} does not exist; run 'babelrag-server models build'")
        missing = [m for m in self.models if not (self.repository / m / "config.pbtxt").exists()]
        if missing:
            raise TritonStartError(f"model repository {self.repository} has no model(s) {', '.join(missing)}")
        install = TritonInstall.locate()
        # Another server on our ports would answer our readiness probes: refuse up front.
        busy = [f"{name} {port}" for name, port in dataclasses.asdict(self.ports).items() if not port_is_free(port)]
        if busy:
            raise TritonStartError(f"cannot start tritonserver: port(s) already in use: {', '.join(busy)}")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self._process = subprocess.Popen(
                self.command(install),
                env=install.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=package_root(),
                start_new_session=True,  # our SIGINT (Ctrl-C) must not reach it before we stop it cleanly
            )
        finally:
            log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import tritonclient.grpc as grpcclient  # deferred: heavy import

        deadline = time.monotonic() + timeout
        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    raise TritonStartError(f"tritonserver exited during start-up:\n{self.log_tail()}")
                with contextlib.suppress(Exception):
                    if client.is_server_ready() and all(client.is_model_ready(m) for m in self.models):
                        if self._process.poll() is None:  # the answer came from our process
                            return
                time.sleep(0.25)
        finally:
            client.close()
        raise TritonStartError(f"tritonserver not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """Hard-kill the server and its backend stubs (fault-injection tests)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait for Triton's own clean exit, then kill what is left of the group."""
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stray stubs
        process.wait()

    def wait(self) -> int:
        if self._process is None:
            return 0
        return self._process.wait()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
