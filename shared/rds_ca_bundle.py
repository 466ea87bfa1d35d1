"""The RDS CA bundle the layer ships, for `DB_SSLMODE=verify-full` against Aurora (no system store
holds the RDS CAs). Run by the layer build (shared/Makefile) and by `make build` before `sam build`:

    python rds_ca_bundle.py [--optional] certs/global-bundle.pem

When the bundle is absent it is fetched from AWS (`RDS_CA_BUNDLE_URL` overrides the address, e.g. a
`file://` URL for an offline build) over verified HTTPS, and refused unless it holds certificates only,
every one an Amazon RDS CA. Its SHA-256 is then checked against the pin next to it
(`global-bundle.pem.sha256`, or `RDS_CA_BUNDLE_SHA256`); AWS publishes no checksum, so the first fetch
writes the pin (commit it) and every later build must match it. A bundle AWS has since extended fails
with the two checksums: look at the new file, then replace the pin. With `--optional` (the builds), a
bundle that cannot be fetched is a warning, and `make deploy` refuses to deploy a layer without one;
a bundle that fails its checks is always an error. Not part of the layer.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import sys
import urllib.request
from pathlib import Path

DEFAULT_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
TIMEOUT_SECONDS = 30
MAX_BYTES = 2 * 1024 * 1024


class BundleError(Exception):
    pass


class Unreachable(BundleError):
    """The bundle could not be fetched (as opposed to fetched and refused)."""


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "file://")):
        raise BundleError(f"RDS_CA_BUNDLE_URL must be https:// or file://, not {url}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked
            data: bytes = response.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Unreachable(
            f"could not fetch the RDS CA bundle from {url}: {exc}. Put AWS's bundle at the path given, "
            "or point RDS_CA_BUNDLE_URL at a copy (https:// or file://)"
        ) from exc
    if len(data) > MAX_BYTES:
        raise BundleError(f"{url} is larger than {MAX_BYTES} bytes: not an RDS CA bundle")
    return data


def check_certificates(data: bytes) -> int:
    """Certificates only, each a CA of Amazon RDS; returns how many."""
    text = data.decode("ascii", errors="strict") if data.isascii() else None
    if not text or "-----BEGIN CERTIFICATE-----" not in text:
        raise BundleError("the RDS CA bundle is not a PEM file of certificates")
    stripped = text
    for block in text.split("-----END CERTIFICATE-----"):
        if "-----BEGIN CERTIFICATE-----" in block:
            stripped = stripped.replace(block + "-----END CERTIFICATE-----", "")
    if stripped.strip():
        raise BundleError("the RDS CA bundle holds something other than certificates")
    try:
        context = ssl.create_default_context(cadata=text)  # parses every certificate, or raises
    except ssl.SSLError as exc:
        raise BundleError(f"the RDS CA bundle does not parse: {exc}") from exc
    certificates = context.get_ca_certs()  # the CAs among them
    if len(certificates) != text.count("-----BEGIN CERTIFICATE-----"):
        raise BundleError("the RDS CA bundle holds certificates that are not CAs")
    for certificate in certificates:
        subject = {key: value for part in certificate["subject"] for key, value in part}
        if subject.get("organizationalUnitName") != "Amazon RDS":
            raise BundleError(f"the RDS CA bundle holds a certificate that is not Amazon RDS's: {subject}")
    return len(certificates)


def ensure(path: Path, *, url: str | None = None, expected: str | None = None) -> str:
    """Make sure `path` holds a checked bundle that matches its pin; returns what was done."""
    pin = path.with_name(path.name + ".sha256")
    fetched = not path.exists()
    data = _fetch(url or os.environ.get("RDS_CA_BUNDLE_URL") or DEFAULT_URL) if fetched else path.read_bytes()
    count = check_certificates(data)
    digest = hashlib.sha256(data).hexdigest()
    wanted = (
        expected
        or os.environ.get("RDS_CA_BUNDLE_SHA256")
        or (pin.read_text().split()[0] if pin.exists() else None)
    )
    if wanted is not None and wanted != digest:
        raise BundleError(
            f"the RDS CA bundle's SHA-256 is {digest}, the pin ({pin.name}) says {wanted}. If AWS has "
            "published a new bundle, check it and replace the pin; else remove the file and build again"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fetched:
        path.write_bytes(data)
    if wanted is None:
        pin.write_text(f"{digest}  {path.name}\n")
        return f"fetched {count} RDS CA certificates; pinned their SHA-256 in {pin} (commit it)"
    return f"{'fetched' if fetched else 'kept'} {count} RDS CA certificates, SHA-256 as pinned"


def main(argv: list[str]) -> int:
    optional = "--optional" in argv
    paths = [a for a in argv if a != "--optional"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(ensure(Path(paths[0])))
    except Unreachable as exc:
        if not optional:
            print(f"RDS CA bundle: {exc}", file=sys.stderr)
            return 1
        print(
            f"WARNING: no RDS CA bundle in this build: {exc}. `make deploy` refuses to deploy it.",
            file=sys.stderr,
        )
    except BundleError as exc:
        print(f"RDS CA bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
