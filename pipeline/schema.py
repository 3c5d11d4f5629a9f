"""The YAML files a user edits (reproduce/*.yaml, params.yaml): strict pydantic models, LibYAML
parsing, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ReproError


class CatalogError(ReproError, ValueError):
    """A catalog or params file is malformed; the message names file, line and key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _load_yaml(text: str):
    """Parse with LibYAML when available (the catalog is read by every stage)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def read_yaml(path: Path) -> tuple[str, object]:
    """The text of ``path`` and its parsed YAML; a syntax error is a CatalogError naming the line."""
    text = path.read_text()
    try:
        return text, _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise CatalogError(f"{path}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def line_of(text: str, loc: tuple) -> int:
    """Best line (1-based) for a pydantic error location in a YAML text (composed only on errors)."""
    node = yaml.compose(text)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1


def validate_yaml(model, data: dict, text: str, path: Path):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise CatalogError(f"{path}:{line_of(text, err['loc'])}: {key}: {err['msg']}") from None
