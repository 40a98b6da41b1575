"""Throwaway TLS material for tests: a CA, a server certificate it signed for 127.0.0.1, and
an unrelated CA (a client trusting that one must refuse the server). Made with the openssl
command line in a directory the caller owns and removes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ferrite_tui.demo.cluster import TlsFiles

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls_files(directory: Path) -> tuple[TlsFiles, str]:
    """(the server's files, the path of another CA's certificate). Raises RuntimeError
    when the openssl command is missing."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is not installed")
    d = directory
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                 "-days", "1", "-subj", f"/CN=ferrite-tui test {name}", cwd=d)
    _openssl("req", *_EC, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "1",
             "-extfile", "server.ext", cwd=d)
    return (TlsFiles(str(d / "ca.crt"), str(d / "server.crt"), str(d / "server.key")),
            str(d / "other-ca.crt"))
