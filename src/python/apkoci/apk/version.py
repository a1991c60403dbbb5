"""APK version strings: validity, ordering and the constraint operators, as apk-tools 2.14 has them.

An Alpine version reads ``1.2.3b_rc4_p5-r6``: numbers separated by dots, at most one lower-case
letter, any number of ``_suffix[N]`` (pre-release ``_alpha _beta _pre _rc`` sort *before* the bare
version, post-release ``_cvs _svn _git _hg _p`` sort *after* it) and a ``-rN`` package revision.

apk-tools 2.x compares two versions by walking them token by token (``src/version.c``: ``get_token``
reads the value of the current token and classifies the one that follows it). The first difference
in a value, or in the kind of the token that comes next, decides. When the values agree but one
version goes on where the other ends (or turns invalid), a pre-release suffix makes its version the
smaller one; otherwise the version whose next token kind comes *later* in the grammar (end of string
being the latest) is the smaller one: ``1.0 < 1.0.1``, ``1.0 < 1.0-r0`` and ``1.0-r1 < 1.0.1``.

Rules worth knowing:

- After a dot, all zeros but the last of a leading run form a token worth minus their count, and the
  last zero starts an ordinary number: ``1.05`` reads (1, 0, 5), ``1.005`` reads (1, -1, 5), so
  ``1.005 < 1.05 < 1.5`` and ``1.00 < 1.0``. (Older 2.x counted every zero, and so got
  ``6.0_pre1 < 6.0`` wrong; the v2.14 vectors check that case, and pass.)
- Invalid versions are compared all the same, up to the point where they stop making sense (the
  vectors' ``1.0 < 1.0bc``). :func:`is_valid_version` says whether apk 2.14 accepts one; it is lax:
  an empty run of digits is accepted anywhere, so ``""``, ``a``, ``.1``, ``_pre1`` and ``1-r`` are
  valid, as are ``0.1a1`` (digits after the letter) and ``1-r2-r3``.
- Suffix words match as prefixes, ``_pre`` before ``_p``: ``_post1`` reads as ``_p`` + invalid
  ``ost1``.
- The fuzzy operator ``~`` (also spelled ``=~``) matches when the versions agree on every token that
  both have: once either ends or turns invalid, the rest is ignored. That works in both directions:
  ``3.6.1`` matches ``~3.6`` and ``3.6`` matches ``~3.6.1``. ``>~`` and ``<~`` are "greater than, or
  fuzzy equal" and "less than, or fuzzy equal".
- Numbers are Python integers. apk keeps them in a C ``int``, which wraps around past ten digits.

The v2.14 rules here follow the apk-tools 2.x ``version.c`` lineage (``get_token``/``next_token``)
as reconstructed to pass every line of apk-tools 2.14's own ``version.data``. apk-tools 3 rewrote
the file; where its ``version.data`` disagrees we keep 2.14's answer, because the agreed interface
of this engine is 2.14 (the apk of every released Alpine). The disagreements, each asserted by the
tests:

- ``8.2.0 < 8.2.001`` and ``8.2.0015 < 8.2.002``: apk 3 sorts zero-led numbers as strings; by the
  zero rule above 2.14 says ``>`` for both.
- ``1.0~1234 < 1.0~2345``, ``1.0~1234-r1 < 1.0~2345-r0``, ``1.0~1234-r1 > 1.0~1234-r0``: ``~hash``
  is new in apk 3. To 2.14 the ``~`` turns both sides invalid at the same place, so they are equal,
  and ``0.1_pre2~1234abcd`` is not a valid version.
- ``3.8 !~ 3.8.1``: apk 3 made ``~`` a one-way prefix match; 2.14's is symmetric, so it matches.
- Versions apk 3 rejects but 2.14 accepts: ``""``, ``0.1a1``, ``0.1-r``, ``0.1-r2-r3``, ``.1``,
  ``a``, ``_pre1``, ``-r1`` and ``0.1_`` (see "lax" above).
"""

from __future__ import annotations

import functools
import re
from typing import Tuple

from apkoci.errors import ApkociError


class VersionError(ApkociError):
    """A version operator that apk does not know."""


# --- Tokens ---------------------------------------------------------------------------------------
# The kinds of token, in apk-tools' order. The order is the grammar: a token's kind may not come
# before the previous token's, save for the three steps back in _ALLOWED_STEPS_BACK; and when two
# versions part ways, the one whose next token has the *later* kind is the smaller one.
_INVALID = -1
_DIGIT_OR_ZERO = 0  # a number after a dot, where leading zeros count specially
_DIGIT = 1  # the first number, or the digits after a letter or after a run of zeros
_LETTER = 2
_SUFFIX = 3
_SUFFIX_NO = 4
_REVISION_NO = 5
_END = 6

_ALLOWED_STEPS_BACK = frozenset(
    {
        (_DIGIT_OR_ZERO, _DIGIT),  # 1.2 -> .3
        (_SUFFIX, _SUFFIX_NO),  # _rc1 -> _p
        (_DIGIT, _LETTER),  # 1a -> 1 (apk 2.14 lets digits follow a letter)
    }
)

_DIGITS = frozenset("0123456789")
_LOWER_CASE = frozenset("abcdefghijklmnopqrstuvwxyz")

# Pre-release suffixes are worth -4..-1 and post-release ones 0..4, so a bare version (no suffix
# token at all) sits between them. apk tries the words in this order, each as a *prefix* of the
# text.
_PRE_RELEASE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_RELEASE_SUFFIXES = ("cvs", "svn", "git", "hg", "p")


def _kind_of_next_token(text: str, pos: int, previous: int) -> Tuple[int, int]:
    """apk-tools' ``next_token``: the kind of the token at ``pos``, and where its value starts.

    Separators (``.``, ``_``, ``-r``) are consumed here; a letter or a digit run is not.
    """
    char = text[pos]
    if previous in (_DIGIT, _DIGIT_OR_ZERO) and char in _LOWER_CASE:
        kind = _LETTER
    elif previous == _LETTER and char in _DIGITS:
        kind = _DIGIT
    elif previous == _SUFFIX and char in _DIGITS:
        kind = _SUFFIX_NO
    else:
        if char == ".":
            kind = _DIGIT_OR_ZERO
        elif char == "_":
            kind = _SUFFIX
        elif char == "-" and text.startswith("r", pos + 1):
            kind = _REVISION_NO
            pos += 1
        else:
            kind = _INVALID
        pos += 1
    if kind < previous and (kind, previous) not in _ALLOWED_STEPS_BACK:
        kind = _INVALID
    return kind, pos


def _read_suffix(text: str, pos: int) -> Tuple[int, int]:
    """The value of the suffix word at ``pos`` and its length; ``(-1, 0)`` when no word matches."""
    for value, word in enumerate(_PRE_RELEASE_SUFFIXES, start=-len(_PRE_RELEASE_SUFFIXES)):
        if text.startswith(word, pos):
            return value, len(word)
    for value, word in enumerate(_POST_RELEASE_SUFFIXES):
        if text.startswith(word, pos):
            return value, len(word)
    return -1, 0


def _read_token(text: str, pos: int, kind: int) -> Tuple[int, int, int]:
    """apk-tools' ``get_token``: value of the ``kind`` token at ``pos``, next kind and position."""
    length = len(text)
    if pos >= length:
        return 0, _END, pos
    start = pos
    forced_next_kind = _INVALID
    if kind == _DIGIT_OR_ZERO and text[pos] == "0":
        while pos + 1 < length and text[pos + 1] == "0":
            pos += 1
        value = start - pos  # minus the number of zeros before the last one
        forced_next_kind = _DIGIT  # the last zero and the digits after it are a token of their own
    elif kind in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION_NO):
        while pos < length and text[pos] in _DIGITS:
            pos += 1
        value = int(text[start:pos]) if pos > start else 0
    elif kind == _LETTER:
        value = ord(text[pos])
        pos += 1
    elif kind == _SUFFIX:
        value, word_length = _read_suffix(text, pos)
        if word_length == 0:
            return -1, _INVALID, pos
        pos += word_length
    else:
        return -1, _INVALID, pos
    if pos >= length:
        return value, _END, pos
    if forced_next_kind != _INVALID:
        return value, forced_next_kind, pos
    next_kind, pos = _kind_of_next_token(text, pos, kind)
    return value, next_kind, pos


@functools.lru_cache(maxsize=16384)
def _tokens(version: str) -> Tuple[Tuple[int, int], ...]:
    """Every ``(value, kind of the following token)`` pair apk reads from ``version``, in order.

    The last pair's kind is ``_END`` or ``_INVALID``. Cached: the resolver compares the same few
    thousand versions over and over.
    """
    pairs = []
    kind, pos = _DIGIT, 0
    while kind not in (_END, _INVALID):
        value, kind, pos = _read_token(version, pos, kind)
        pairs.append((value, kind))
    return tuple(pairs)


def _compare(a: str, b: str, fuzzy: bool) -> int:
    """apk-tools' ``apk_version_compare_blob_fuzzy`` as -1, 0 or 1."""
    a_tokens, b_tokens = _tokens(a), _tokens(b)
    index = 0
    while True:
        a_value, a_next = a_tokens[index]
        b_value, b_next = b_tokens[index]
        if a_value != b_value or a_next != b_next or a_next in (_END, _INVALID):
            break
        index += 1
    if a_value != b_value:
        return -1 if a_value < b_value else 1
    if a_next == b_next or fuzzy:
        return 0
    # Equal so far and one goes on: a pre-release suffix (or a suffix word apk does not know, whose
    # value is negative too) makes its version the smaller one.
    if a_next == _SUFFIX and a_tokens[index + 1][0] < 0:
        return -1
    if b_next == _SUFFIX and b_tokens[index + 1][0] < 0:
        return 1
    if a_next > b_next:
        return -1
    if b_next > a_next:
        return 1
    return 0


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` (apk 2.14 rules; invalid ones too)."""
    return _compare(a, b, fuzzy=False)


PLAIN_VERSION_PATTERN = (
    r"[0-9]+(?:\.[0-9]+)*[a-z]?(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(?:-r[0-9]+)?"
)
"""A regular expression for the well-formed versions that make up nearly every real index.

Everything it matches is valid; it is a quick yes (parsing an index checks thousands of versions).
What it refuses gets apk's full token walk, which also accepts the odd spellings listed above.
"""
_PLAINLY_VALID_VERSION = re.compile(PLAIN_VERSION_PATTERN)


def is_valid_version(version: str) -> bool:
    """Whether apk-tools 2.14 accepts ``version`` (``apk_version_validate``)."""
    if _PLAINLY_VALID_VERSION.fullmatch(version):
        return True
    return _tokens(version)[-1][1] == _END


# --- Operators ------------------------------------------------------------------------------------
# apk builds an operator as a set of bits from its characters, in any order and with repeats:
# '<' less, '>' greater, '=' equal, '~' fuzzy-and-equal. These are the sets that mean something,
# with the spelling apk writes for them (and ours for the two that apk 2.14 prints as "?").
_EQUAL, _LESS, _GREATER, _FUZZY = 1, 2, 4, 8
_OPERATOR_BITS = {"=": _EQUAL, "<": _LESS, ">": _GREATER, "~": _FUZZY | _EQUAL}
_RESULT_BITS = {-1: _LESS, 0: _EQUAL, 1: _GREATER}

CHECKSUM_OPERATOR = "><"
"""``name><Q1...``: the package whose control checksum is this one (it is no version comparison)."""

_CANONICAL_OPERATORS = {
    _LESS: "<",
    _LESS | _EQUAL: "<=",
    _EQUAL: "=",
    _GREATER | _EQUAL: ">=",
    _GREATER: ">",
    _FUZZY | _EQUAL: "~",
    _LESS | _FUZZY | _EQUAL: "<~",
    _GREATER | _FUZZY | _EQUAL: ">~",
    _LESS | _GREATER: CHECKSUM_OPERATOR,
}
_BITS_OF_CANONICAL = {spelling: bits for bits, spelling in _CANONICAL_OPERATORS.items()}


def canonical_operator(op: str) -> str:
    """The spelling apk uses for the operator ``op`` (``=~`` is ``~``, ``=<`` is ``<=``, ...).

    Raises :class:`VersionError` for characters other than ``< > = ~`` and for combinations that
    constrain nothing (``<>=``) or contradict themselves (``<>~``).
    """
    if op in _BITS_OF_CANONICAL:
        return op
    bits = 0
    for char in op:
        if char not in _OPERATOR_BITS:
            bits = -1
            break
        bits |= _OPERATOR_BITS[char]
    if bits not in _CANONICAL_OPERATORS:
        known = ", ".join(sorted(_BITS_OF_CANONICAL))
        raise VersionError(f"unknown version operator {op!r}: use one of {known} (or '=~' for '~')")
    return _CANONICAL_OPERATORS[bits]


def version_matches(version: str, op: str, wanted: str) -> bool:
    """Whether ``version`` satisfies ``op wanted``, e.g. ``version_matches("1.2-r0", ">=", "1.1")``.

    ``op`` is one of ``= < > <= >= ~ =~ >~ <~`` (any spelling :func:`canonical_operator` accepts).
    """
    canonical = canonical_operator(op)
    if canonical == CHECKSUM_OPERATOR:
        raise VersionError(
            f"{op!r} matches a package checksum, not a version: compare {wanted!r} with the"
            " package's checksum (its index 'C:' field) instead"
        )
    bits = _BITS_OF_CANONICAL[canonical]
    result = _compare(version, wanted, fuzzy=bool(bits & _FUZZY))
    return bool(_RESULT_BITS[result] & bits)
