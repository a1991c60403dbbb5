"""An APK package's license field as a valid SPDX license expression.

apk's ``L:`` field is free text. Most packages write an SPDX expression already
(``GPL-2.0-only AND BSD-2-Clause``); others list licenses separated by spaces or commas
(``MIT BSD GPL2+``), write the operators in lower case (``GPL-2.0 or Artistic``), or name licenses
SPDX does not list (``custom:multiple``, ``Public Domain``). An SBOM may only carry a valid
expression, so :func:`spdx_license` converts, following apko
(``pkg/sbom/generator/spdx/license.go``):

- An empty field is ``NOASSERTION``. A valid expression is kept as it is, with the list's spelling
  of each identifier (SPDX identifiers are case-insensitive).
- Operators ``and``/``or``/``with`` count in any case. Licenses side by side (a list without
  operators) all apply: they are joined with ``AND``. A list none of whose words is a listed
  license, and that has no operators, is a single name with spaces (``Public Domain``).
- A word SPDX does not list becomes a reference ``LicenseRef-apk-<word>`` whose extracted text is
  the word as the package wrote it (the package has no license text to offer). When the result is
  still not a valid expression (stray parentheses, say), the whole field becomes one reference.

Beyond apko, for more licenses to come out as listed identifiers:

- The GNU licenses' spellings (``GPL2+``, ``GPLv2``, ``LGPL-2.1+``, and SPDX's deprecated
  ``GPL-2.0`` and ``GPL-2.0+``) become ``GPL-2.0-or-later`` / ``-only`` ids when the list has that
  id: SPDX itself defines the deprecated ids as those (a bare version is "only").
- Deprecated ids that stand for a license with an exception (``eCos-2.0``,
  ``GPL-2.0-with-GCC-exception``) become that ``license WITH exception`` expression.
- ``X WITH exception`` where the exception is not an SPDX exception becomes one reference for the
  whole ``X WITH exception`` (SPDX 2.3 allows only listed exceptions after ``WITH``), so the rest of
  the expression survives.
- A word the reference id would have to change (``GPL+``, ``MIT/X``) gets a short hash of itself in
  its id, so that two different words never share a reference (``GPL`` and ``GPL+``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from apkoci.sbom._spdx_license_list import EXCEPTION_IDS, LICENSE_IDS, LICENSE_LIST_VERSION

__all__ = [
    "LICENSE_LIST_VERSION",
    "NOASSERTION",
    "ExtractedLicense",
    "SpdxLicense",
    "spdx_license",
]

NOASSERTION = "NOASSERTION"
NONE = "NONE"
# The prefix apko gives references made from apk license fields.
LICENSE_REF_PREFIX = "LicenseRef-apk-"

_OPERATORS = ("AND", "OR", "WITH")
_LICENSES_BY_LOWER = {license_id.lower(): license_id for license_id in LICENSE_IDS}
_EXCEPTIONS_BY_LOWER = {exception_id.lower(): exception_id for exception_id in EXCEPTION_IDS}
# GPL2+, GPLv2, GPL-2.0+, LGPL-2.1-or-later, AGPL3, GFDL-1.3 ... (family, major, minor, suffix).
_GNU_SPELLING = re.compile(
    r"(?P<family>A?GPL|LGPL|GFDL)[-_]?v?(?P<major>\d)(?:\.(?P<minor>\d))?"
    r"(?P<suffix>\+|-or-later|-only)?",
    re.IGNORECASE,
)
_ID_STRING = re.compile(r"[A-Za-z0-9.\-]+")  # what an SPDX LicenseRef may hold after its prefix
_NOT_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9.\-]+")
# Words are separated by white space or commas ("GPL-2.0+, LGPL-2.1+, Zlib"); parentheses stand
# alone.
_TOKEN = re.compile(r"[()]|[^\s,()]+")
_PARENTHESES = ("(", ")")
# Deprecated ids that name a license *with an exception*, as the expressions SPDX replaced them
# with: the GNU ones say "GPL-N.0", which SPDX defines as "-only"; eCos 2.0 is "GPL 2 or later"
# with its exception. Written as expressions, they keep tools that reject these ids working.
_DEPRECATED = {
    "ecos-2.0": "GPL-2.0-or-later WITH eCos-exception-2.0",
    "gpl-2.0-with-autoconf-exception": "GPL-2.0-only WITH Autoconf-exception-2.0",
    "gpl-2.0-with-bison-exception": "GPL-2.0-only WITH Bison-exception-2.2",
    "gpl-2.0-with-classpath-exception": "GPL-2.0-only WITH Classpath-exception-2.0",
    "gpl-2.0-with-font-exception": "GPL-2.0-only WITH Font-exception-2.0",
    "gpl-2.0-with-gcc-exception": "GPL-2.0-only WITH GCC-exception-2.0",
    "gpl-3.0-with-autoconf-exception": "GPL-3.0-only WITH Autoconf-exception-3.0",
    "gpl-3.0-with-gcc-exception": "GPL-3.0-only WITH GCC-exception-3.1",
}


@dataclass(frozen=True)
class ExtractedLicense:
    """A license SPDX does not list, as an SBOM declares it (``hasExtractedLicensingInfos``)."""

    license_id: str  # LicenseRef-apk-...
    name: str  # the words the package used for it; also its "extracted text"


@dataclass(frozen=True)
class SpdxLicense:
    """An apk license field converted: a valid SPDX expression and the references it uses."""

    expression: str
    extracted: Tuple[ExtractedLicense, ...] = ()

    @property
    def is_listed(self) -> bool:
        """True when the expression names only licenses of the SPDX list (no references)."""
        return self.expression not in (NOASSERTION, NONE) and not self.extracted


def listed_license(word: str) -> Optional[str]:
    """The SPDX list's identifier for ``word``, or None.

    ``mit`` -> ``MIT``, ``GPL2+`` -> ``GPL-2.0-or-later``, ``GPL`` -> None.
    """
    gnu = _GNU_SPELLING.fullmatch(word)
    if gnu is None:
        return _LICENSES_BY_LOWER.get(word.lower())
    later = gnu["suffix"] in ("+", "-or-later")
    spelled = (
        f"{gnu['family']}-{gnu['major']}.{gnu['minor'] or '0'}-{'or-later' if later else 'only'}"
    )
    return _LICENSES_BY_LOWER.get(spelled.lower())


def _reference(name: str) -> ExtractedLicense:
    """The reference for a license called ``name``: its id keeps the name when SPDX allows it."""
    if _ID_STRING.fullmatch(name):
        suffix = name
    else:
        readable = _NOT_ID_CHARACTERS.sub("-", name).strip("-")
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        suffix = f"{readable}-{digest}" if readable else digest
    return ExtractedLicense(LICENSE_REF_PREFIX + suffix, name)


@functools.lru_cache(maxsize=4096)  # an image's packages share a few dozen license fields
def spdx_license(field: str) -> SpdxLicense:
    """The SPDX expression for an apk ``L:`` field (see the module docstring for the rules)."""
    text = field.strip()
    if not text:
        return SpdxLicense(NOASSERTION)
    if text.upper() in (NOASSERTION, NONE):
        return SpdxLicense(text.upper())
    written = _TOKEN.findall(text)
    words = [word.upper() if word.upper() in _OPERATORS else word for word in written]
    syntax = _OPERATORS + _PARENTHESES
    if not any(word in _OPERATORS for word in words) and not any(
        listed_license(word) for word in words if word not in _PARENTHESES
    ):
        return _whole(text)  # "Public Domain": a name with spaces, not a list of licenses

    # One entry per word (a term, an operator or a parenthesis), plus the ANDs put between two
    # terms that stand side by side: a list separated by spaces names licenses that all apply.
    terms: List[str] = []
    references: Dict[str, ExtractedLicense] = {}
    for index, word in enumerate(words):
        if index > 0 and words[index - 1] == "WITH":
            exception = _EXCEPTIONS_BY_LOWER.get(word.lower())
            if exception is not None:
                terms.append(exception)
                continue
            # SPDX 2.3 allows only listed exceptions after WITH: "X WITH it" is one unlisted
            # license.
            if index < 2 or words[index - 2] in syntax:
                return _whole(text)
            reference = _reference(" ".join(written[index - 2 : index + 1]))
            references[reference.license_id] = reference
            terms[-2:] = [reference.license_id]
            continue
        ends_term = bool(terms) and (terms[-1] == ")" or terms[-1] not in syntax)
        if word in syntax:
            if word == "(" and ends_term:
                terms.append("AND")
            terms.append(word)
            continue
        if ends_term:
            terms.append("AND")
        term = _DEPRECATED.get(word.lower()) or listed_license(word)
        if term is None:
            reference = _reference(word)
            references[reference.license_id] = reference
            term = reference.license_id
        terms.append(term)

    tokens = " ".join(terms).split(" ")  # a deprecated id's replacement is several tokens
    if not _is_expression(tokens):
        return _whole(text)
    used = sorted(set(tokens) & set(references))  # "X" of "X WITH unlisted" is no longer used
    expression = " ".join(tokens).replace("( ", "(").replace(" )", ")")
    return SpdxLicense(expression, tuple(references[license_id] for license_id in used))


def _whole(text: str) -> SpdxLicense:
    """The whole field as one unlisted license."""
    reference = _reference(text)
    return SpdxLicense(reference.license_id, (reference,))


def _is_expression(tokens: List[str]) -> bool:
    """Whether ``tokens`` follow SPDX's grammar: terms joined by AND/OR, ``term WITH exception``,
    parentheses.

    A small recursive-descent check (``or := and ("OR" and)*``, ``and := with ("AND" with)*``,
    ``with := atom ("WITH" exception)?``, ``atom := license | "(" or ")"``); the tokens are already
    ids or references, so it is only the structure that is checked here.
    """
    position = 0

    def peek() -> Optional[str]:
        return tokens[position] if position < len(tokens) else None

    def atom() -> bool:
        nonlocal position
        token = peek()
        if token is None or token in _OPERATORS or token == ")":
            return False
        position += 1
        if token == "(":
            if not disjunction() or peek() != ")":
                return False
            position += 1
            return True
        return token in LICENSE_IDS or token.startswith(LICENSE_REF_PREFIX)

    def with_term() -> bool:
        nonlocal position
        if not atom():
            return False
        if peek() == "WITH":
            position += 1
            if peek() not in EXCEPTION_IDS:
                return False
            position += 1
        return True

    def joined(term, operator: str) -> bool:
        nonlocal position
        if not term():
            return False
        while peek() == operator:
            position += 1
            if not term():
                return False
        return True

    def conjunction() -> bool:
        return joined(with_term, "AND")

    def disjunction() -> bool:
        return joined(conjunction, "OR")

    return disjunction() and position == len(tokens)
