"""PII scrub: typed placeholders for emails, phones, IPs, card numbers, credential URLs, API keys.

Rules run in a fixed order (most specific first), so a credential URL is not also counted as an
email and a card number not as a phone. Replacements contain no digits or '@', so later rules
never match a placeholder. What it does NOT catch: names, street addresses, national ids,
dates of birth, secrets without a recognisable shape or key name, phone numbers written without
separators or a '+' prefix, IPs or cards spelled out in words, and PII inside images or code
that obfuscates it. It is a regex scrub, not a NER model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDERS = {
    "url_credentials": "[URL_WITH_CREDENTIALS]",
    "api_key": "[API_KEY]",
    "email": "[EMAIL]",
    "credit_card": "[CREDIT_CARD]",
    "ip": "[IP_ADDRESS]",
    "phone": "[PHONE]",
}
TYPES = tuple(PLACEHOLDERS)

_URL_CRED = re.compile(
    r"\b[a-z][a-z0-9+.-]*://"
    r"(?:[^\s/@:]+:[^\s/@]+@[^\s]+"  # user:password@host
    r"|[^\s?#]+[?#][^\s]*?\b(?:token|access_token|api_key|apikey|key|secret|password|sig|signature|auth)=[^\s&#]+[^\s]*)",
    re.IGNORECASE,
)
_API_KEYS = [
    re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
]
# key=value / key: "value" where the key name says secret; only the value is replaced.
_GENERIC_KEY = re.compile(
    r"(?P<key>\b[\w.-]*(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?key|auth[_-]?token|access[_-]?token|token|password|passwd)\b"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;]{8,})",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\d.]*\d)")
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = re.compile(
    r"(?<![\w:])(?:"
    rf"(?:{_H}:){{7}}{_H}"
    rf"|(?:{_H}:){{1,7}}:"
    rf"|(?:{_H}:){{1,6}}:{_H}"
    rf"|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}"
    rf"|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}"
    rf"|::(?:{_H}:){{0,5}}{_H}"
    r")(?![\w:])"
)
# +CC with separators, or (NNN) NNN-NNNN / NNN-NNN-NNNN / NNN.NNN.NNNN and similar.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r"|\d{3} \d{3} \d{4}"
    r")(?!\w)"
)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string (card numbers)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _sub(pattern: re.Pattern, text: str, placeholder: str, accept=None) -> tuple[str, int]:
    n = 0

    def repl(m: re.Match) -> str:
        nonlocal n
        if accept is not None and not accept(m):
            return m.group(0)
        n += 1
        return placeholder

    return pattern.sub(repl, text), n


def _card_ok(m: re.Match) -> bool:
    d = _digits(m.group(0))
    return 13 <= len(d) <= 19 and luhn_ok(d)


def _phone_ok(m: re.Match) -> bool:
    return 7 <= len(_digits(m.group(0))) <= 15


# Speed: each rule runs only when a cheap necessary condition holds on the text it would see: a
# condition that fails proves the rule's pattern finds nothing to replace, so skipping it leaves the
# output byte-identical (benchmarks/pii.py checks this against the previous one-re.sub-per-pattern
# scrub). Most text carries no PII, so most messages run no pattern at all. For ASCII text the
# conditions read ``_Text.shape``: its bytes with every digit as '0', on which digit layouts are
# substring tests or small byte patterns; for other text (where \d also matches other scripts'
# digits and case folding reaches a few non-ASCII letters) only tests valid for any text are used.
_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_DIGIT = re.compile(r"\d")
_ASCII_DIGIT = re.compile(r"[0-9]")
_CARD_RUN = b"0" * 13  # a card's 13-19 digits in a row once ' ' and '-' are dropped
_IPV4_SHAPE = re.compile(rb"0\.0{1,3}\.0{1,3}\.0")
_PHONE_SHAPE = re.compile(rb"\+0|\(000\)|000[ .-]000[ .-]0000")
# every IPv6 alternative holds '::' except 8 full groups, which hold 'h:hhhh:'
_IPV6_FULL = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:")
# what the key-name rule needs: a key word ending right before an optional quote, spaces, ':' or '='
_KEY_ASSIGN = r"""(?:key|secret|token|passw(?:or)?d)["']?\s*[:=]"""
_KEY_ASSIGN_LOW = re.compile(_KEY_ASSIGN)  # on lower-cased ASCII text
_KEY_ASSIGN_ANY = re.compile(_KEY_ASSIGN, re.IGNORECASE)  # the same case folding as _GENERIC_KEY
# what a credential URL's query needs: one of its key names right before '='
_URL_KEYS = ("token=", "key=", "secret=", "password=", "sig=", "signature=", "auth=")
_URL_KEY_ANY = re.compile(r"(?:token|key|secret|password|sig|signature|auth)=", re.IGNORECASE)


class _Text:
    """The text the rules work on, with the facts their conditions read (computed when first read)."""

    __slots__ = ("text", "_shape", "_digits", "_low")

    def __init__(self, text: str) -> None:
        self.set(text)

    def set(self, text: str) -> None:
        self.text = text
        self._shape: bytes | None = None
        self._digits = -1
        self._low: str | None = None

    @property
    def shape(self) -> bytes | None:
        """ASCII text as bytes with every digit as '0'; None for other text."""
        if self._shape is None and self.text.isascii():
            self._shape = self.text.encode("ascii").translate(_TO_ZERO)
        return self._shape

    @property
    def digits(self) -> int:
        """How many characters ``\\d`` matches (any script's decimal digits)."""
        if self._digits < 0:
            m = self.shape
            self._digits = m.count(b"0") if m is not None else len(_DIGIT.findall(self.text))
        return self._digits

    @property
    def low(self) -> str | None:
        """Lower-cased ASCII text (there, IGNORECASE is plain lower-casing); None for other text."""
        if self._low is None and self.text.isascii():
            self._low = self.text.lower()
        return self._low

    def sub(self, pattern: re.Pattern, placeholder: str, accept=None) -> int:
        out, n = _sub(pattern, self.text, placeholder, accept)
        if n:
            self.set(out)
        return n


def _may_url(s: _Text) -> bool:
    t = s.text
    if "://" not in t:
        return False
    if "@" in t:  # user:password@host
        return True
    if ("?" not in t and "#" not in t) or "=" not in t:
        return False
    low = s.low
    if low is None:
        return _URL_KEY_ANY.search(t) is not None
    return any(k in low for k in _URL_KEYS)


def _may_generic(s: _Text) -> bool:
    t = s.text
    if ":" not in t and "=" not in t:
        return False
    low = s.low
    if low is None:
        return _KEY_ASSIGN_ANY.search(t) is not None
    if "key" not in low and "secret" not in low and "token" not in low and "passw" not in low:
        return False
    return _KEY_ASSIGN_LOW.search(low) is not None


def _may_card(s: _Text) -> bool:
    if s.digits < 13:
        return False
    m = s.shape
    return m is None or _CARD_RUN in m.translate(None, b" -")


def _may_ipv4(s: _Text) -> bool:
    if s.text.count(".") < 3 or s.digits < 4:
        return False
    m = s.shape
    return m is None or _IPV4_SHAPE.search(m) is not None


def _may_ipv6(s: _Text) -> bool:
    # an accepted match holds 2 ':' and an ASCII digit
    t = s.text
    if t.count(":") < 2:
        return False
    m = s.shape
    if (b"0" not in m) if m is not None else _ASCII_DIGIT.search(t) is None:
        return False
    return "::" in t or _IPV6_FULL.search(t) is not None


def _may_phone(s: _Text) -> bool:
    if s.digits < 7:
        return False
    m = s.shape
    return m is None or _PHONE_SHAPE.search(m) is not None


def _may_key_shape(t: str) -> bool:
    """Whether any of _API_KEYS (all case-sensitive) can match: each starts with one of these."""
    return (
        "sk-" in t
        or "AKIA" in t
        or "ASIA" in t
        or "xox" in t
        or "AIza" in t
        or ("_" in t and ("gh" in t or "github_pat_" in t or "hf_" in t))
    )


# per pattern of _API_KEYS, the literal it starts with
_API_KEY_MAY = (
    lambda t: "sk-" in t,
    lambda t: "AKIA" in t or "ASIA" in t,
    lambda t: "ghp_" in t or "gho_" in t or "ghu_" in t or "ghs_" in t or "ghr_" in t,
    lambda t: "github_pat_" in t,
    lambda t: "xox" in t,
    lambda t: "AIza" in t,
    lambda t: "hf_" in t,
)


def _generic_sub(s: _Text) -> int:
    k = 0

    def repl(m: re.Match) -> str:
        nonlocal k
        if m.group("value").startswith("["):
            return m.group(0)
        k += 1
        return m.group("key") + PLACEHOLDERS["api_key"]

    out = _GENERIC_KEY.sub(repl, s.text)
    if k:
        s.set(out)
    return k


def _ipv6_ok(m: re.Match) -> bool:
    return m.group(0).count(":") >= 2 and any(c.isdigit() for c in m.group(0))


def _rule_url(s: _Text) -> int:
    return s.sub(_URL_CRED, PLACEHOLDERS["url_credentials"]) if _may_url(s) else 0


def _rule_api_key(s: _Text) -> int:
    n = 0
    if _may_key_shape(s.text):
        for pat, may in zip(_API_KEYS, _API_KEY_MAY, strict=True):
            if may(s.text):
                n += s.sub(pat, PLACEHOLDERS["api_key"])
    if _may_generic(s):
        n += _generic_sub(s)
    return n


def _rule_email(s: _Text) -> int:
    return s.sub(_EMAIL, PLACEHOLDERS["email"]) if "@" in s.text else 0


def _rule_card(s: _Text) -> int:
    return s.sub(_CARD, PLACEHOLDERS["credit_card"], _card_ok) if _may_card(s) else 0


def _rule_ip(s: _Text) -> int:
    n = s.sub(_IPV4, PLACEHOLDERS["ip"]) if _may_ipv4(s) else 0
    if _may_ipv6(s):
        n += s.sub(_IPV6, PLACEHOLDERS["ip"], _ipv6_ok)
    return n


def _rule_phone(s: _Text) -> int:
    return s.sub(_PHONE, PLACEHOLDERS["phone"], _phone_ok) if _may_phone(s) else 0


_RULES = (
    ("url_credentials", _rule_url),
    ("api_key", _rule_api_key),
    ("email", _rule_email),
    ("credit_card", _rule_card),
    ("ip", _rule_ip),
    ("phone", _rule_phone),
)
assert tuple(k for k, _ in _RULES) == TYPES


def scrub(text: str | None, types: Iterable[str] = TYPES) -> tuple[str | None, dict[str, int]]:
    """``text`` with PII replaced by typed placeholders, and the number replaced per type.

    Rules apply in ``TYPES`` order, each to the text the previous ones left.
    """
    counts: dict[str, int] = {}
    if not text:
        return text, counts
    enabled = types if isinstance(types, (frozenset, set)) else set(types)
    s = _Text(text)
    for kind, rule in _RULES:
        if kind in enabled:
            n = rule(s)
            if n:
                counts[kind] = n
    return s.text, counts


def scrub_messages(
    messages: list[dict], types: Iterable[str] = TYPES
) -> tuple[list[dict], dict[str, int]]:
    """Scrub every message's content; returns new messages and summed counts per type."""
    types = frozenset(types)
    out, total = [], {}
    for m in messages:
        content, counts = scrub(m.get("content"), types)
        out.append({"role": m.get("role"), "content": content})
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return out, total
