"""Downloads of http(s) artifacts (spec §13.3): retried, bounded, never left half-written, and
never aimed at the stack's own network.

A job names the URL, so every hop is checked before it is connected to: the scheme must be http
or https, and every address its host resolves to must be public (not loopback, link-local,
private, unique-local, multicast, unspecified or reserved, IPv4-mapped forms included) unless
it is in `PROMINENCE_STAGEIN_ALLOWED_NETWORKS`. The connection then goes to the address that
was checked (the name is sent as `Host` and TLS server name), so a second DNS answer cannot
swap it, and redirects are followed here, each target checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path

import httpx

from prominence.config import get_settings

ATTEMPTS = 3
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """The artifact could not be downloaded: `Artifact download failed`. `final`: retrying
    cannot help (a refused address, a 4xx, too large)."""

    def __init__(self, message: str, *, final: bool = True) -> None:
        super().__init__(message)
        self.final = final


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the seam tests replace with a fake resolver)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it leads."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_allowed(address: str) -> bool:
    """Public addresses, and those an operator allow-listed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in network or _embedded_ipv4(ip) in network for network in get_settings().stagein_networks):
        return True
    target = _embedded_ipv4(ip)
    return target.is_global and not target.is_multicast and not ip.is_multicast


def pinned_request(url: httpx.URL) -> httpx.Request:
    """A GET of `url` sent to the one address of its host that was checked."""
    if url.scheme not in SCHEMES:
        raise FetchError(f"{url}: only http and https URLs are fetched")
    if not url.host:
        raise FetchError(f"{url}: no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = resolve(url.host, port)
    except OSError as exc:
        raise FetchError(f"{url}: {exc}", final=False) from exc
    refused = [address for address in addresses if not address_allowed(address)]
    if refused or not addresses:
        raise FetchError(f"{url}: address {', '.join(refused) or 'none'} is not allowed for stage-in")
    host = url.netloc.decode("ascii").rsplit("@", 1)[-1]
    return httpx.Request(
        "GET",
        url.copy_with(host=addresses[0].split("%", 1)[0]),
        headers={"Host": host},
        extensions={"sni_hostname": url.host},
    )


def download_url(url: str, dest: Path, max_bytes: int, *, attempts: int = ATTEMPTS) -> None:
    """GET `url` into `dest`. Connection errors and 5xx are retried with a linear back-off; a
    refused address, a 4xx or more than `max_bytes` is final. A failed attempt leaves no file."""
    try:
        start = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"{url}: {exc}") from exc
    for attempt in range(1, attempts + 1):
        try:
            _download_once(start, dest, max_bytes)
            return
        except (httpx.HTTPError, OSError, FetchError) as exc:
            dest.unlink(missing_ok=True)
            final = isinstance(exc, FetchError) and exc.final
            if final or attempt == attempts:
                raise exc if isinstance(exc, FetchError) else FetchError(f"{url}: {exc}") from exc
            time.sleep(attempt)


def _download_once(url: httpx.URL, dest: Path, max_bytes: int) -> None:
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    # No proxies from the environment: the address checked must be the one connected to.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            response = client.send(pinned_request(url), stream=True)
            try:
                if response.is_redirect:
                    url = url.join(response.headers["location"])
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"{url}: HTTP {response.status_code}", final=response.status_code < 500)
                _write(response, dest, max_bytes, url)
                return
            finally:
                response.close()
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _write(response: httpx.Response, dest: Path, max_bytes: int, url: httpx.URL) -> None:
    written = 0
    with open(dest, "wb") as out:
        for chunk in response.iter_bytes(1024 * 1024):
            written += len(chunk)
            if written > max_bytes:
                raise FetchError(f"{url}: larger than the job's disk")
            out.write(chunk)
