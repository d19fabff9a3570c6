"""SQL has one home: ``monitoring_pipeline/storage/``.

Every product module outside ``storage/`` is parsed with :mod:`ast`; a string literal (an
f-string's literal parts included, docstrings excluded) that reads like a SQL statement, or
a call of ``sqlalchemy.text``, fails the test with the file and line. Steps load and write
through named storage functions, so a schema change touches ``storage/`` only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import monitoring_pipeline

PACKAGE = Path(monitoring_pipeline.__file__).parent
SQL_HOME = PACKAGE / "storage"

# Statement shapes, not single words: prose such as "select a model" or "update the
# budget" never matches, a query written in any case does.
SQL_STATEMENT = re.compile(
    r"""
      \bSELECT\b[\s\S]+?\bFROM\b
    | \bINSERT\s+INTO\b
    | \bUPDATE\s+[\w."]+\s+SET\b
    | \bDELETE\s+FROM\b
    | \bCREATE\s+(?:OR\s+REPLACE\s+|TEMP(?:ORARY)?\s+|UNIQUE\s+)*
        (?:TABLE|VIEW|INDEX|SCHEMA|ROLE|DATABASE|FUNCTION|EXTENSION|USER)\b
    | \b(?:DROP|ALTER|TRUNCATE)\s+(?:TABLE|VIEW|INDEX|SCHEMA|ROLE|DATABASE|FUNCTION)\b
    | \bCOPY\s+[\w."(]+[\s\S]*?\b(?:FROM\s+STDIN|TO\s+STDOUT)\b
    | \bGRANT\s+\w+[\s\S]*?\bON\b[\s\S]*?\bTO\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def product_modules() -> list[Path]:
    """Every Python file of the package outside ``storage/``."""
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if SQL_HOME not in path.parents and "__pycache__" not in path.parts
    )


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose, not SQL)."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _literal_text(node: ast.AST) -> str | None:
    """The text of a string literal; an f-string's placeholders become ``x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "x" for part in node.values
        )
    return None


def _is_sqlalchemy_text_call(node: ast.AST) -> bool:
    """``sa.text(...)``, ``sqlalchemy.text(...)`` or a bare ``text(...)`` imported from it."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "text":
        return isinstance(func.value, ast.Name) and func.value.id in {"sa", "sqlalchemy"}
    return False


def sql_findings(source: str) -> list[tuple[int, str]]:
    """(line, what) for every piece of SQL text in ``source``."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    text_imported = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "sqlalchemy"
        and any(alias.name == "text" for alias in node.names)
        for node in ast.walk(tree)
    )
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    findings = []
    for node in ast.walk(tree):
        if id(node) in docstrings or id(node) in inside_fstrings:
            continue
        if _is_sqlalchemy_text_call(node) or (
            text_imported
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "text"
        ):
            findings.append((node.lineno, "sqlalchemy text() call"))
            continue
        text = _literal_text(node)
        if text is not None:
            match = SQL_STATEMENT.search(text)
            if match:
                findings.append((node.lineno, " ".join(match.group(0).split())[:60]))
    return sorted(set(findings))


@pytest.mark.parametrize(
    "source",
    [
        'q = "SELECT a FROM monitoring.t WHERE x = :x"',
        'q = f"DELETE FROM {schema}.t"',
        'q = """\n  insert into monitoring.alerts (a) values (:a)\n"""',
        "q = 'UPDATE monitoring.alerts SET status = :s'",
        'q = "CREATE OR REPLACE VIEW monitoring.v AS SELECT 1"',
        "import sqlalchemy as sa\nsa.text(query)",
        "from sqlalchemy import text\ntext(query)",
    ],
)
def test_the_scanner_sees_sql(source: str) -> None:
    assert sql_findings(source), source


@pytest.mark.parametrize(
    "source",
    [
        'def f():\n    """SELECT the worst cohort FROM the day\'s rows (a docstring)."""',
        'message = "select a model to update"',
        'label = "insert a row into the report"',
        "import textwrap\ntextwrap.dedent(x)",
    ],
)
def test_the_scanner_leaves_prose_alone(source: str) -> None:
    assert sql_findings(source) == []


def test_no_sql_text_outside_storage() -> None:
    modules = product_modules()
    assert len(modules) > 50  # the scan really reads the package
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in modules
        for line, what in sql_findings(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "SQL outside monitoring_pipeline/storage/:\n" + "\n".join(offenders)
