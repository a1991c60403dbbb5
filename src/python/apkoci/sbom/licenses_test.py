from __future__ import annotations

import json
from pathlib import Path

import pytest
from apkoci.sbom._spdx_license_list import EXCEPTION_IDS, LICENSE_IDS, LICENSE_LIST_VERSION
from apkoci.sbom.conftest import index_packages, installed_db_packages
from apkoci.sbom.licenses import NOASSERTION, listed_license, spdx_license


@pytest.mark.parametrize(
    "field, expression, names",
    [
        # Already SPDX expressions: kept, with the list's spelling of each id.
        ("GPL-2.0-only AND BSD-2-Clause", "GPL-2.0-only AND BSD-2-Clause", []),
        ("MPL-2.0 AND MIT", "MPL-2.0 AND MIT", []),
        ("BSD-3-Clause OR GPL-2.0-Only", "BSD-3-Clause OR GPL-2.0-only", []),
        ("BSD-2-CLause", "BSD-2-Clause", []),
        ("ISC AND ( BSD-3-Clause OR MIT )", "ISC AND (BSD-3-Clause OR MIT)", []),
        (
            "GPL-2.0-or-later WITH Linux-syscall-note",
            "GPL-2.0-or-later WITH Linux-syscall-note",
            [],
        ),
        # Lists without operators: every license applies.
        ("MIT BSD GPL2+", "MIT AND LicenseRef-apk-BSD AND GPL-2.0-or-later", ["BSD"]),
        ("GPL-2.0+, LGPL-2.1+, Zlib", "GPL-2.0-or-later AND LGPL-2.1-or-later AND Zlib", []),
        (
            "GPL-2.0 GPL-3.0-or-later LGPL-2.0 BSD",
            "GPL-2.0-only AND GPL-3.0-or-later AND LGPL-2.0-only AND LicenseRef-apk-BSD",
            ["BSD"],
        ),
        # Lower-case operators.
        ("GPL-2.0 or Artistic", "GPL-2.0-only OR LicenseRef-apk-Artistic", ["Artistic"]),
        ("mit or isc with linux-syscall-note", "MIT OR ISC WITH Linux-syscall-note", []),
        # Names SPDX does not list; a name with spaces is one license, not a list.
        ("custom", "LicenseRef-apk-custom", ["custom"]),
        ("custom:multiple", "LicenseRef-apk-custom-multiple-81fcf145", ["custom:multiple"]),
        ("Public Domain", "LicenseRef-apk-Public-Domain-f6960be1", ["Public Domain"]),
        ("BSD-0", "LicenseRef-apk-BSD-0", ["BSD-0"]),
        # An exception SPDX does not list makes "X WITH it" one license; the rest survives.
        (
            "GPL-2.0-only WITH OpenSSL-Exception",
            "LicenseRef-apk-GPL-2.0-only-WITH-OpenSSL-Exception-40564dd5",
            ["GPL-2.0-only WITH OpenSSL-Exception"],
        ),
        (
            "BSD with advertising",
            "LicenseRef-apk-BSD-with-advertising-90faf63b",
            ["BSD with advertising"],
        ),
        # Deprecated ids that stand for "license WITH exception".
        (
            "GPL-2.0-or-later OFL-1.1 eCos-2.0",
            "GPL-2.0-or-later AND OFL-1.1 AND GPL-2.0-or-later WITH eCos-exception-2.0",
            [],
        ),
        ("GPL-2.0-with-GCC-exception", "GPL-2.0-only WITH GCC-exception-2.0", []),
        # Not an expression even after conversion: the whole field is one license.
        ("osf-1990(variant)", "LicenseRef-apk-osf-1990-variant-3ae317c0", ["osf-1990(variant)"]),
        ("MIT AND", "LicenseRef-apk-MIT-AND-f743c54c", ["MIT AND"]),
        ("", NOASSERTION, []),
        ("  ", NOASSERTION, []),
        ("none", "NONE", []),
    ],
)
def test_apk_license_fields_become_spdx_expressions(field, expression, names):
    converted = spdx_license(field)
    assert converted.expression == expression
    assert [reference.name for reference in converted.extracted] == names
    assert all(reference.license_id in expression.split() for reference in converted.extracted)


def test_the_gnu_spellings_map_to_listed_ids_only():
    assert listed_license("GPLv2+") == "GPL-2.0-or-later"
    assert listed_license("LGPL-2.1+") == "LGPL-2.1-or-later"
    assert listed_license("GPL-2-or-later") == "GPL-2.0-or-later"
    assert listed_license("AGPL-3.0") == "AGPL-3.0-only"
    assert listed_license("GPL3") == "GPL-3.0-only"
    assert listed_license("GPL-2.1-only") is None  # there is no GPL 2.1
    assert listed_license("GPL") is None  # which version?
    assert listed_license("gfdl-1.3-invariants-only") == "GFDL-1.3-invariants-only"


def test_two_different_words_never_share_a_reference():
    gpl, gpl_plus = spdx_license("GPL").extracted[0], spdx_license("GPL+").extracted[0]
    assert gpl.license_id != gpl_plus.license_id
    assert (gpl.name, gpl_plus.name) == ("GPL", "GPL+")


def _alpine_license_fields():
    fields = {
        package.license
        for name in ("v3.16-main-x86_64", "v3.17-main-aarch64")
        for package in index_packages(name)
    }
    fields.update(package.license for package in installed_db_packages())
    return sorted(fields)


def test_every_license_field_of_real_alpine_indexes_becomes_a_valid_expression():
    # spdx-tools validates license expressions with license-expression's SPDX licensing: an
    # expression is valid when its only unknown symbols are the references it declares.
    from license_expression import get_spdx_licensing

    licensing = get_spdx_licensing()
    fields = _alpine_license_fields()
    assert len(fields) > 200
    problems = []
    for field in fields:
        converted = spdx_license(field)
        if converted.expression == NOASSERTION:
            problems.append((field, "NOASSERTION"))
            continue
        info = licensing.validate(converted.expression)
        declared = {reference.license_id for reference in converted.extracted}
        other_errors = [
            error for error in info.errors if not error.startswith("Unknown license key")
        ]
        if other_errors or set(info.invalid_symbols) != declared:
            problems.append((field, converted.expression, info.errors))
    assert problems == []


def test_the_license_list_is_the_one_cyclonedx_ships():
    # The CycloneDX schemas carry the SPDX License List's ids: licenses first, then exceptions.
    import cyclonedx.schema._res as resources

    schema = json.loads((Path(resources.__file__).parent / "spdx.SNAPSHOT.schema.json").read_text())
    ids = schema["enum"]
    first_exception = ids.index("389-exception")
    if schema["$comment"].endswith(f"-{LICENSE_LIST_VERSION}.0"):
        assert LICENSE_IDS == frozenset(ids[:first_exception])
        assert EXCEPTION_IDS == frozenset(ids[first_exception:])
    else:  # a newer list: SPDX never removes an id (it deprecates it)
        assert LICENSE_IDS <= frozenset(ids[:first_exception])
        assert EXCEPTION_IDS <= frozenset(ids[first_exception:])
    assert {"MIT", "GPL-2.0-only", "0BSD"} <= LICENSE_IDS and "Linux-syscall-note" in EXCEPTION_IDS
