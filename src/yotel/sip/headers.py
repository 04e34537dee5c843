"""SIP header names and values (RFC 3261 §7.3, §20): canonical and compact names, comma lists,
an ordered multi-value header store, and the Via parameters a transport reads or stamps. No I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "o": "Event", "r": "Refer-To", "u": "Allow-Events", "x": "Session-Expires",
}
_CANONICAL = {n.lower(): n for n in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length",
    "Content-Type", "Route", "Record-Route", "Allow", "Supported", "User-Agent", "Server",
    "WWW-Authenticate", "Authorization", "Proxy-Authenticate", "Proxy-Authorization", "Accept",
    "Expires", "Require", "Unsupported", "Reason", "Subject", "Event", "Retry-After",
)}
_CANONICAL["call-id"] = "Call-ID"
_CANONICAL["cseq"] = "CSeq"
# Headers whose value is a comma-separated list (RFC 3261 §7.3.1). The auth headers are not:
# their parameters are separated by commas too.
LIST_HEADERS = frozenset({"via", "route", "record-route", "contact", "allow", "supported",
                          "require", "accept", "unsupported", "proxy-require"})

def canonical(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT:
        return COMPACT[low]
    return _CANONICAL.get(low) or "-".join(p.capitalize() for p in low.split("-"))


def split_list(value: str) -> list[str]:
    """Split on commas outside quotes and angle brackets."""
    if '"' not in value and "<" not in value:  # the usual Via, Allow, ...: every comma splits
        return [p for p in (part.strip() for part in value.split(",")) if p]
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(depth - 1, 0)
        elif ch == "," and not quoted and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


@dataclass
class Headers:
    """Ordered headers; names stored canonical, one entry per list value."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical(name)
        return next((v for n, v in self.items if n == key), default)

    def get_all(self, name: str) -> list[str]:
        key = canonical(name)
        return [v for n, v in self.items if n == key]

    def add(self, name: str, value: str) -> None:
        self.items.append((canonical(name), value))

    def set(self, name: str, value: str) -> None:
        key = canonical(name)
        self.remove(key)
        self.items.append((key, value))

    def remove(self, name: str) -> None:
        key = canonical(name)
        self.items = [(n, v) for n, v in self.items if n != key]

    def replace_first(self, name: str, value: str) -> None:
        key = canonical(name)
        index = next(i for i, (n, _) in enumerate(self.items) if n == key)
        self.items[index] = (key, value)

    def prepend(self, name: str, value: str) -> None:
        self.items.insert(0, (canonical(name), value))

    def copy(self) -> Headers:
        return Headers(list(self.items))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)


def via_param(via: str, name: str) -> str | None:
    for part in via.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return value.strip() if value else ""
    return None


def stamp_via(via: str, host: str, port: int) -> str:
    """What a server does to the top Via of a request it received from `host:port`: add
    `received` when the sent-by host is not where the packet came from (RFC 3261 §18.2.1),
    and fill an empty `rport` with the source port plus `received` (RFC 3581 §4)."""
    head, *params = via.split(";")
    sent_by = head.split()[-1] if head.split() else ""
    sent_host = sent_by.rsplit("]", 1)[0] + "]" if sent_by.startswith("[") else \
        sent_by.partition(":")[0]
    keys = [p.partition("=")[0].strip().lower() for p in params]
    wants_rport = "rport" in keys and via_param(via, "rport") == ""
    if "received" in keys or (sent_host.strip("[]") == host and not wants_rport):
        return via
    stamped = [f"rport={port}" if key == "rport" and wants_rport else part
               for key, part in zip(keys, params, strict=True)]
    return ";".join([head, *stamped, f"received={host}"])
