"""Start Azurite's table service on a free port, in memory, for tests and local runs."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lvmbeat_local.dev.children import stop_child
from lvmbeat_local.dev.ports import ServiceNotReady, free_port, wait_for_port
from lvmbeat_local.repository import RepositoryNotFound, find_repository


# Azurite's documented well-known development account; not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw=="
)

class AzuriteMissing(RuntimeError):
    """The azurite npm package is not installed where we look for it."""


def find_azurite_table() -> str:
    """Path of `azurite-table`: the repository's node_modules first (the version
    package-lock.json pins), then PATH."""
    try:
        local = find_repository() / "node_modules" / ".bin" / "azurite-table"
    except RepositoryNotFound:
        local = None
    if local is not None and local.exists():
        return str(local)
    found = shutil.which("azurite-table")
    if found:
        return found
    where = f"in {local.parent} nor " if local is not None else ""
    raise AzuriteMissing(
        f"azurite-table not found {where}on PATH; "
        "run `npm ci` in the repository root (make test and make run do it)."
    )


@dataclass
class AzuriteTables:
    """A running Azurite table service; stop() ends it and removes its folder."""

    host: str
    port: int
    process: subprocess.Popen
    workdir: Path
    log_path: Path
    _own_workdir: bool = field(default=True, repr=False)
    scheme: str = "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={DEV_ACCOUNT};"
            f"AccountKey={DEV_KEY};TableEndpoint={self.endpoint};"
        )

    def stop(self) -> None:
        # SIGINT, not SIGTERM: Azurite saves its files only on SIGINT, so a
        # persistent instance restarted on the same folder keeps its tables.
        stop_child(self.process, signal.SIGINT, timeout=10)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_azurite_tables(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    workdir: Path | None = None,
    in_memory: bool = True,
    timeout: float = 60.0,
    tls: tuple[Path, Path] | None = None,
    oauth: bool = False,
) -> AzuriteTables:
    """Start `azurite-table` and return once it accepts connections.

    `tls` (certificate and key PEM files) serves HTTPS; `oauth` also accepts bearer
    tokens, which Azurite takes over HTTPS only and checks as its "basic" level does:
    issuer, audience and lifetime, not the signature."""
    launcher = find_azurite_table()
    port = port or free_port(host)
    own = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="lvmbeat-azurite-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "azurite.log"
    args = [
        launcher,
        "--tableHost",
        host,
        "--tablePort",
        str(port),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
    ]
    # Azurite refuses --location together with --inMemoryPersistence.
    args += ["--inMemoryPersistence"] if in_memory else ["--location", str(workdir)]
    if tls is not None:
        args += ["--cert", str(tls[0]), "--key", str(tls[1])]
    if oauth:
        if tls is None:
            raise ValueError("Azurite takes bearer tokens over HTTPS only: pass tls.")
        args += ["--oauth", "basic"]
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child for its lifetime
    process = subprocess.Popen(
        args,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    log.close()
    scheme = "https" if tls is not None else "http"
    service = AzuriteTables(host, port, process, workdir, log_path, own, scheme)
    try:
        wait_for_port(
            host,
            port,
            timeout=timeout,
            what=f"Azurite (log: {log_path})",
            alive=lambda: process.poll() is None,
        )
    except ServiceNotReady as error:
        log_tail = log_path.read_text(errors="replace")[-2000:]
        service.stop()
        raise ServiceNotReady(f"{error}\nAzurite said:\n{log_tail}") from None
    return service
