"""Named YAML files (search spaces, device profiles): where a name is looked up, and strict
validation into a pydantic model with one-line errors naming the file, key, value and what
is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hwsearch.errors import FileFieldError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Model = TypeVar("Model", bound=BaseModel)
# Parts of a pydantic error location that name a union member or a validator, not a key.
_TAG_PREFIXES = ("function-", "literal[", "constrained-", "tuple[", "list[")
_TYPE_TAGS = ("int", "str", "float")
# Bounds on any YAML this tool reads (files, and spaces and profiles stored in studies): a space
# or a profile is a few kilobytes; aliases that expand it past these are an attack, not a file.
MAX_YAML_CHARS = 1_000_000
MAX_YAML_NODES = 100_000  # after expanding aliases
MAX_YAML_DEPTH = 64


class _YamlTooLarge(Exception):
    """Raised inside the loader; becomes the caller's one-line error."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses deep nesting while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlTooLarge(f"nesting deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes of the document with every alias expanded (an alias repeats its anchor's whole tree)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_nodes(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_nodes(k, memo) + _expanded_nodes(v, memo) for k, v in node.value)
    memo[id(node)] = total
    if total > MAX_YAML_NODES:
        raise _YamlTooLarge(f"more than {MAX_YAML_NODES:,} values once its aliases are expanded")
    return total


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load`` within :data:`MAX_YAML_CHARS`, :data:`MAX_YAML_NODES` and :data:`MAX_YAML_DEPTH`.

    Raises ``ValueError`` naming the bound it would pass, or ``yaml.YAMLError``.
    """
    if len(text) > MAX_YAML_CHARS:
        raise ValueError(f"YAML of {len(text):,} characters; at most {MAX_YAML_CHARS:,} are read")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_nodes(node, {})
        return loader.construct_document(node)
    except _YamlTooLarge as exc:
        raise ValueError(f"YAML with {exc}") from None
    finally:
        loader.dispose()


def named_dirs(folder: str) -> list[Path]:
    """Folders searched for a file given by name: ``./<folder>``, then the project's."""
    dirs = [Path.cwd() / folder, PROJECT_ROOT / folder]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def available_names(folder: str) -> list[str]:
    """Names (file stems) of the YAML files in :func:`named_dirs`."""
    return sorted({p.stem for d in named_dirs(folder) if d.is_dir() for p in d.glob("*.yaml")})


def resolve_named(name_or_path: str | Path, folder: str, error: type[FileFieldError], what: str) -> Path:
    """The file for a name or a path; ``error`` lists the known names when none matches."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise error(str(path), "<file>", str(path), "an existing YAML file")
        return path
    for directory in named_dirs(folder):
        candidate = directory / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(available_names(folder)) or "none found"
    raise error(what, "name", str(name_or_path), f"known {what}s: {known}; or a path to a .yaml file")


def read_text(path: Path, error: type[FileFieldError]) -> str:
    """The file's UTF-8 text, or ``error`` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(str(path), "<file>", str(path), f"a readable UTF-8 file ({exc})") from None


def parse_model(text: str, model: type[Model], *, source: str, error: type[FileFieldError], keys: str) -> Model:
    """Validate YAML ``text`` as ``model``; ``source`` (the file) is passed in as the model's ``source`` field."""
    try:
        data = safe_load_bounded(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise error(source, "<file>", "YAML", f"valid YAML; parser says {problem}{where}") from None
    except ValueError as exc:  # a bound above, or a number Python will not convert (over 4300 digits)
        raise error(source, "<file>", "YAML", f"a space or profile of sensible size ({exc})") from None
    if not isinstance(data, dict):
        raise error(source, "<file>", data, f"a mapping with keys {keys}, ...")
    if "source" in data:
        raise error(source, "source", data["source"], "no key 'source' (it is set from the file name)")
    try:
        return model.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise _first_error(exc, source, error) from None


def _key(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    return ".".join(p for p in parts if not p.startswith(_TAG_PREFIXES) and p not in _TYPE_TAGS)


def _first_error(exc: ValidationError, source: str, error: type[FileFieldError]) -> FileFieldError:
    errors = exc.errors()
    # A misspelt key also makes the intended one "missing": name the misspelling first.
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        key = _key(unknown[0]["loc"])
        return error(source, key, unknown[0].get("input"), "unknown key; check its spelling")
    key = _key(errors[0]["loc"])
    if errors[0]["type"] == "missing":
        return error(source, key, "<missing>", "a value: the key is required")
    # A union field fails once per member ("'auto'" or "an integer >= 1"): say all of them.
    messages = [e["msg"].removeprefix("Value error, ") for e in errors if _key(e["loc"]) == key]
    value: Any = errors[0].get("input") if key else "the file as a whole"  # not its every key again
    return error(source, key or "<file>", value, " or ".join(dict.fromkeys(messages)))
