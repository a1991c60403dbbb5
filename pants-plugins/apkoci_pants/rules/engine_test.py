from __future__ import annotations

import sys
from pathlib import Path

import pytest
from apkoci_pants.rules.engine import engine_source_files
from apkoci_pants.subsystems import ApkoImageError


def test_engine_source_files_ships_the_package_without_tests(tmp_path: Path) -> None:
    files = {
        "fakeengine/__init__.py": "",
        "fakeengine/cli.py": "MAIN = 1",
        "fakeengine/cli_test.py": "def test(): ...",
        "fakeengine/conftest.py": "",
        "fakeengine/sub/__init__.py": "",
        "fakeengine/sub/step.py": "STEP = 2",
        "fakeengine/sub/notes.txt": "not a module",
        "fakeengine/.mypy_cache/3.9/x.py": "cache",
        "fakeengine/__pycache__/cli.cpython-39.py": "cache",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        shipped = engine_source_files("fakeengine")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("fakeengine", None)
    assert [(f.path, f.content) for f in shipped] == [
        ("fakeengine/__init__.py", b""),
        ("fakeengine/cli.py", b"MAIN = 1"),
        ("fakeengine/sub/__init__.py", b""),
        ("fakeengine/sub/step.py", b"STEP = 2"),
    ]


def test_a_missing_engine_says_how_to_make_it_importable() -> None:
    with pytest.raises(ApkoImageError, match=r"\[GLOBAL\].pythonpath"):
        engine_source_files("no_such_engine_package")
