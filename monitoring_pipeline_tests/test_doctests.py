"""Every ``>>>`` example in the package's docstrings runs, and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import monitoring_pipeline

# One example per ``>>>`` line, except lines holding only a comment (doctest skips those:
# they sketch a call too costly to run here).
EXAMPLE = re.compile(r"^\s*>>> (?!\s*#)", re.MULTILINE)


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(monitoring_pipeline.__path__, "monitoring_pipeline."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec else None
        if origin and origin.endswith(".py") and ">>>" in Path(origin).read_text("utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_package_has_examples_to_run():
    # Not vacuous: the walk finds the modules (core holds most examples).
    assert len(MODULES) >= 20
    assert "monitoring_pipeline.core.health" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str):
    module = importlib.import_module(name)
    source = Path(module.__file__).read_text(encoding="utf-8")
    result = doctest.testmod(module, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed (printed above)"
    # Every example written in the file was found and run (none hides in a comment or a
    # string doctest never reads).
    assert result.attempted == len(EXAMPLE.findall(source))
