"""Load the monitored-models YAML file; every error names the file and the key."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitoring_pipeline.config.models import MonitoringConfig

ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)\}")
# A monitored-models file is small; these bounds stop a hostile one (a "billion laughs"
# of nested aliases, a few hundred bytes that expand to billions of values) before it is
# expanded into memory.
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` becomes once every alias is expanded (aliases share nodes in
    the composed graph, so this is computed on the graph, not by expanding it)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once (safe_load builds it as a cycle)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = min(size, MAX_EXPANDED_NODES + 1)
    return memo[id(node)]


def _load_yaml(text: str):
    """``yaml.safe_load`` that refuses documents expanding to over ``MAX_EXPANDED_NODES``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"the document expands to more than {MAX_EXPANDED_NODES:,} values "
                "(aliases nested inside aliases)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


class ConfigError(ValueError):
    """The config file is missing or invalid; ``str()`` names the file and the keys."""


def load_config(
    path: str | os.PathLike[str], environ: dict[str, str] | None = None
) -> MonitoringConfig:
    """Read and validate the monitored-models file at ``path``.

    ``${VAR}`` in string values is replaced from the environment (``MONITORING_HOME`` and
    the like); an unset variable is an error naming the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no monitored-models file here. Run `monitoring-pipeline demo` to create "
            "the demo one, or point MONITORING_CONFIG at yours."
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: {size:,} bytes; a monitored-models file holds at most {MAX_FILE_BYTES:,}"
        )
    try:
        raw = _load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, source=str(path), environ=environ)


def parse_config(
    raw: Any, *, source: str = "<config>", environ: dict[str, str] | None = None
) -> MonitoringConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with keys 'models', ...")
    env = dict(os.environ if environ is None else environ)
    raw = _expand_env(raw, env, source=source, key_path=())
    try:
        return MonitoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, raw)) from None


def _expand_env(value: Any, env: dict[str, str], *, source: str, key_path: tuple) -> Any:
    if isinstance(value, dict):
        return {
            k: _expand_env(v, env, source=source, key_path=(*key_path, k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _expand_env(v, env, source=source, key_path=(*key_path, i)) for i, v in enumerate(value)
        ]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match["name"]
            if name not in env:
                raise ConfigError(
                    f"{source}: {_dotted(key_path)}: environment variable {name} is not set"
                )
            return env[name]

        return ENV_REFERENCE.sub(substitute, value)
    return value


def _dotted(key_path: tuple) -> str:
    return ".".join(str(k) for k in key_path) or "<top level>"


def _describe(exc: ValidationError, source: str, raw: Any) -> str:
    lines = [f"{source}: invalid monitored-models config ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        # Drop pydantic's union-branch names (e.g. 'postgres_table') from the key path.
        raw_loc = error["loc"]
        loc = tuple(
            part
            for i, part in enumerate(raw_loc)
            if not (i > 0 and raw_loc[i - 1] in UNION_FIELDS and part in UNION_TAGS)
        )
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(loc, raw)
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] != "value_error" and not isinstance(error.get("input"), dict | list):
            message = f"{message} (got {error.get('input')!r})"
        lines.append(f"  {_dotted(loc)}: {message}")
    return "\n".join(lines)


# Pydantic puts the chosen branch of a discriminated union into the error location
# ("predictions.postgres_table.table"); drop it so the path is the file's key path.
UNION_FIELDS = {"predictions", "labels", "sli", "source"}
UNION_TAGS = {
    "postgres_table", "files", "cohort_metrics", "fairness_disparities", "estimated_disparities",
    "version_comparison", "cohort_changes", "drift", "operational_metrics", "complaint_metrics",
}  # fmt: skip


def _suggestion(loc: tuple, raw: Any) -> str:
    """' (did you mean 'x'?)' for a misspelt key, from the keys the model accepts."""
    known = _known_keys(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1) if known else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known_keys(parent: tuple) -> list[str]:
    model: type[BaseModel] | None = MonitoringConfig
    for part in parent:
        if model is None:
            return []
        # Dict keys (model names) and list indexes stay on the container's item model,
        # which _first_model already resolved.
        if isinstance(part, str) and part in model.model_fields:
            model = _first_model(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None else []


def _first_model(annotation: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None
