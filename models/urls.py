"""URLs cityeye fetches or posts to (camera streams, webhooks): one outbound policy, and secrets kept out of reads.

`check_outbound(url, schemes, security)` refuses, unless the host is listed in `security.allow_hosts`:
- a scheme not allowed for that use (cameras: rtsp, rtsps, http, https; webhooks: http, https), and the
  `file:` and `device:` camera schemes (they read this machine: `file:///…/cityeye.db` is the database);
- loopback (127.0.0.0/8, ::1, `localhost`, `*.localhost`), link-local (169.254.0.0/16, fe80::/10, where cloud
  metadata lives), unspecified (0.0.0.0, ::), multicast and the metadata names (`metadata.google.internal`, …);
- IP literals that are not written the usual way (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`): libc and
  FFmpeg read them as addresses, so they would slip past a check of the dotted form.
Private networks (10/8, 172.16/12, 192.168/16) are allowed: that is where cameras live. Names are checked as
written, not resolved.

`redact(url)` replaces the whole userinfo and secret-looking query values (`pwd`, `password`, `token`, `key`, …)
with `***`; `restore(new, old)` puts the stored secrets back where a client sends a redacted URL back (the
console's camera editor PUTs what it read), and refuses `***` it cannot restore.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pydantic import Field

from models.config import StrictModel

REDACTED = "***"
SECRET_QUERY = re.compile(r"(pass|pwd|secret|token|key|auth|sig|cred|user|login|session)", re.IGNORECASE)
CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https")
LOCAL_SCHEMES = ("file", "device")  # camera sources on this machine
WEBHOOK_SCHEMES = ("http", "https")
LOCAL_ALLOW = "local-files"  # the allow_hosts entry that allows file:// and device:// camera URLs
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_DOTTED = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}$", re.IGNORECASE)


class SecuritySettings(StrictModel):
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts (names, IP addresses or networks such as 127.0.0.0/8) that camera and webhook URLs may "
        "reach although they are loopback, link-local or metadata addresses; 'local-files' also allows file:// "
        "and device:// camera URLs. Empty (the default): only other hosts. Tests and the demo list 127.0.0.1",
    )


class UrlRefused(ValueError):
    """An outbound URL the policy refuses; the message names the rule."""


def _allowed(host: str, allow: Collection[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allow:
        entry = entry.lower().strip()
        if host == entry:
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _why_refused(host: str) -> str | None:
    host = host.lower().rstrip(".")
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        return "is loopback"
    if host in METADATA_NAMES:
        return "is a cloud metadata service"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_HOST.match(host) and not _DOTTED.match(host):
            return "is an IP address in an unusual form (hex, octal or short)"
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address) and not _DOTTED.match(host) and ":" not in host:
        return "is an IP address in an unusual form (hex, octal or short)"
    if addr.is_loopback:
        return "is loopback"
    if addr.is_link_local:
        return "is link-local (cloud metadata lives there)"
    if addr.is_unspecified:
        return "is the unspecified address"
    if addr.is_multicast:
        return "is multicast"
    if str(addr) in {"100.100.100.200", "fd00:ec2::254"}:
        return "is a cloud metadata service"
    return None


def check_outbound(url: str, schemes: Collection[str], allow_hosts: Collection[str], what: str = "url") -> None:
    """Raise `UrlRefused` when cityeye must not fetch or post to `url` (see the module doc)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in LOCAL_SCHEMES and scheme not in schemes:
        if LOCAL_ALLOW in {a.lower() for a in allow_hosts}:
            return
        raise UrlRefused(
            f"{what}: {scheme}:// reads this machine; list '{LOCAL_ALLOW}' in security.allow_hosts to allow it"
        )
    if scheme not in schemes:
        raise UrlRefused(f"{what}: scheme must be one of {', '.join(schemes)}; got {scheme or '(none)'!r}")
    host = parts.hostname
    if not host:
        raise UrlRefused(f"{what}: {scheme} url needs a host")
    why = _why_refused(host)
    if why is not None and not _allowed(host, allow_hosts):
        raise UrlRefused(f"{what}: host {host!r} {why}; list it in security.allow_hosts to allow it")


def _pairs(query: str) -> list[tuple[str, str, str]]:
    """(raw pair, decoded key, raw value) for each `&`-separated part of a query, raw text kept."""
    out = []
    for raw in query.split("&"):
        key, _, value = raw.partition("=")
        out.append((raw, unquote_plus(key), value))
    return out


def redact(url: str) -> str:
    """`url` with the whole userinfo and every secret-looking query value replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{raw.partition('=')[0]}={REDACTED}" if SECRET_QUERY.search(key) and "=" in raw else raw
        for raw, key, _ in _pairs(parts.query)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "", parts.fragment))


def restore(new: str, old: str) -> str:
    """`new` with each `***` that `redact` put in it replaced by the secret of `old`, when `new` still names the
    same scheme, host and port; ValueError when `new` holds `***` that cannot be restored."""
    if REDACTED not in new:
        return new
    n, o = urlsplit(new), urlsplit(old)
    same_place = (n.scheme.lower(), n.hostname, n.port) == (o.scheme.lower(), o.hostname, o.port)
    netloc = n.netloc
    if netloc.startswith(f"{REDACTED}@"):
        if not same_place or "@" not in o.netloc:
            raise ValueError("url: its credentials are '***' (a redacted URL) and cannot be restored; send them")
        netloc = f"{o.netloc.rpartition('@')[0]}@{netloc.partition('@')[2]}"
    stored = {key: value for _, key, value in _pairs(o.query)} if same_place and o.query else {}
    parts = []
    for raw, key, value in _pairs(n.query) if n.query else []:
        if value == REDACTED:
            if key not in stored:
                raise ValueError(f"url: query value {key!r} is '***' (redacted) and cannot be restored; send it")
            raw = f"{raw.partition('=')[0]}={stored[key]}"
        parts.append(raw)
    return urlunsplit((n.scheme, netloc, n.path, "&".join(parts), n.fragment))
