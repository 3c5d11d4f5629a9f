"""Whether a run's stages are current, and why not, read straight from dvc.lock without DVC.

``dvc status`` takes the repository's lock (so it fails while a launcher runs ``dvc repro``) and, with
explicit targets, spends seconds per stage. Here dvc.yaml's templated stage is expanded for each run,
and its command, parameter values, dependencies and outputs are compared with the entry dvc.lock holds.
Files are hashed as DVC 3 hashes them (plain MD5; a folder is the MD5 of its sorted listing + ``.dir``),
and each file's digest is cached in ``.repro/digests.json`` by size, mtime and inode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CACHE = Path(".repro") / "digests.json"
_EXPR = re.compile(r"\$\{\s*([^}]+?)\s*\}")
_INDEX = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class Verdict:
    """One stage: ``current`` (dvc.lock's entry matches the files), ``stale`` or ``unrecorded``
    (no entry); ``why`` names what changed, e.g. ``pipeline/training.py changed``."""

    state: str
    why: list[str] = field(default_factory=list)


class _Yaml12(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML reading as DVC's ruamel does (YAML 1.2): ``1e-07`` is a float, ``off``/``yes`` are strings."""


_Yaml12.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in rs if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for ch, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF")
_Yaml12.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    "-+0123456789.",
)


def _load(path: Path):
    return yaml.load(path.read_text(), Loader=_Yaml12)  # noqa: S506 (a safe loader)


def _lookup(context: dict, expr: str):
    value = context
    for name, index in _INDEX.findall(expr):
        value = value[int(index)] if index else value[name]
    return value


def _render(node, context: dict):
    if isinstance(node, str):
        whole = _EXPR.fullmatch(node)
        if whole:
            return _lookup(context, whole.group(1))
        return _EXPR.sub(lambda m: str(_lookup(context, m.group(1))), node)
    if isinstance(node, list):
        return [_render(x, context) for x in node]
    if isinstance(node, dict):
        return {_render(k, context): _render(v, context) for k, v in node.items()}
    return node


def _paths(entries) -> list[str]:
    """The paths of a stage's deps / outs list (an entry is a path or ``{path: options}``)."""
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _get(data, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            raise KeyError(dotted)
        data = data[part]
    return data


def _command_change(old: str, new: str) -> str:
    """What changed in a stage's command: the configuration hash it carries, or the command itself."""
    hashes = [re.search(r"--config-hash[ =](\S+)", cmd) for cmd in (old, new)]
    if all(hashes) and old.replace(hashes[0].group(1), "") == new.replace(hashes[1].group(1), ""):
        return f"configuration hash {hashes[0].group(1)} → {hashes[1].group(1)}"
    return f"its command changed ({old!r} → {new!r})"


def _difference(old, new) -> str:
    """``a.b: old → new`` for the (first three) fields that differ."""
    from ..catalog import changed_fields

    if not (isinstance(old, dict) and isinstance(new, dict)):
        return f"{old} → {new}"
    fields = changed_fields(old, new)
    return "; ".join(fields[:3]) + (" …" if len(fields) > 3 else "")


class Pipeline:
    """dvc.yaml, dvc.lock and params.yaml of one project, read once; ``check`` judges one stage."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.spec = _load(self.root / "dvc.yaml").get("stages", {})
        lock = self.root / "dvc.lock"
        self.lock = (_load(lock) or {}).get("stages", {}) if lock.is_file() else {}
        self.params = _load(self.root / "params.yaml") or {}
        self._yaml: dict[str, dict] = {}
        self._items: dict[str, dict | list] = {}
        self.digests = Digests(self.root)

    def expected(self, stage: str) -> dict:
        """dvc.yaml's definition of ``stage`` (``name@key`` of a ``foreach`` stage, or a plain name)."""
        name, _, key = stage.partition("@")
        spec = self.spec[name]
        if not key:
            return _render(spec, self.params)
        if name not in self._items:
            self._items[name] = _render(spec["foreach"], self.params)
        items = self._items[name]
        item = items[key] if isinstance(items, dict) else key
        return _render(spec["do"], {**self.params, "item": item, "key": key})

    def _param_file(self, name: str) -> dict:
        if name not in self._yaml:
            path = self.root / name
            self._yaml[name] = (_load(path) or {}) if path.is_file() else {}
        return self._yaml[name]

    def check(self, stage: str) -> Verdict:
        entry = self.lock.get(stage)
        if entry is None:
            return Verdict("unrecorded", ["no record in dvc.lock"])
        want = self.expected(stage)
        why = []
        if str(want.get("cmd")) != str(entry.get("cmd")):
            why.append(_command_change(str(entry.get("cmd")), str(want.get("cmd"))))
        why += self._params(want.get("params") or [], entry.get("params") or {})
        locked_deps = {d["path"]: d for d in entry.get("deps") or []}
        for path in sorted(set(_paths(want.get("deps"))) - set(locked_deps)):
            why.append(f"new dependency {path}")
        for path in sorted(set(locked_deps) - set(_paths(want.get("deps")))):
            why.append(f"{path} is no longer a dependency")
        for path, d in sorted(locked_deps.items()):
            if path in _paths(want.get("deps")) and not self.digests.matches(path, d):
                why.append(f"{path} {self._how(path)}")
        outs = _paths(want.get("outs")) + _paths(want.get("metrics")) + _paths(want.get("plots"))
        for o in entry.get("outs") or []:
            if o["path"] in outs and not self.digests.matches(o["path"], o):
                why.append(f"output {o['path']} {self._how(o['path'])}")
        return Verdict("stale" if why else "current", why)

    def _params(self, wanted: list, locked: dict) -> list[str]:
        why = []
        for spec in wanted:
            file, keys = next(iter(spec.items())) if isinstance(spec, dict) else ("params.yaml", [spec])
            data, old = self._param_file(file), locked.get(file, {})
            for key in keys:
                try:
                    now = _get(data, key)
                except KeyError:
                    why.append(f"{file}: {key} was removed")
                    continue
                if key not in old:
                    why.append(f"{file}: {key} is new")
                elif old[key] != now:
                    why.append(f"{file}: {key} changed ({_difference(old[key], now)})")
        return why

    def _how(self, path: str) -> str:
        return "changed" if (self.root / path).exists() else "is missing"

    def close(self) -> None:
        self.digests.save()


class Digests:
    """DVC 3 digests of files and folders under ``root``, cached by (size, mtime, inode)."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / CACHE
        try:
            self.cache = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.cache = {}
        self.dirty = False
        self.ignore = _ignore_spec(root)
        self.seen: dict[str, str | None] = {}

    def matches(self, path: str, entry: dict) -> bool:
        return self.digest(path, dos2unix=entry.get("hash") != "md5") == entry.get("md5")

    def digest(self, path: str, dos2unix: bool = False) -> str | None:
        key = f"{path}|d2u" if dos2unix else path
        if key not in self.seen:
            full = self.root / path
            if full.is_dir():
                self.seen[key] = self._dir(path, dos2unix)
            elif full.is_file():
                self.seen[key] = self._file(path, dos2unix)
            else:
                self.seen[key] = None
        return self.seen[key]

    def _file(self, rel: str, dos2unix: bool) -> str:
        st = (self.root / rel).stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        key = f"{rel}|d2u" if dos2unix else rel
        hit = self.cache.get(key)
        if hit and hit[:3] == stamp:
            return hit[3]
        data = (self.root / rel).read_bytes()
        if dos2unix and b"\x00" not in data[:8192]:
            data = data.replace(b"\r\n", b"\n")
        md5 = hashlib.md5(data).hexdigest()
        if time.time() - st.st_mtime > 2:  # a file written this instant may change again within its mtime
            self.cache[key], self.dirty = [*stamp, md5], True
        return md5

    def _dir(self, rel: str, dos2unix: bool) -> str:
        listing = []
        for folder, dirs, files in os.walk(self.root / rel):
            base = Path(folder).relative_to(self.root).as_posix()
            dirs[:] = [d for d in dirs if not self._ignored(f"{base}/{d}/")]
            for name in files:
                path = f"{base}/{name}"
                if not self._ignored(path):
                    listing.append({"md5": self._file(path, dos2unix), "relpath": path[len(rel) + 1 :]})
        listing.sort(key=lambda e: e["relpath"])
        return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"

    def _ignored(self, path: str) -> bool:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        return name in (".git", ".hg", ".dvc") or (self.ignore is not None and self.ignore.match_file(path))

    def save(self) -> None:
        """Write the cache (a cache: two writers at once, or a read-only folder, only cost a re-hash)."""
        if not self.dirty:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".digests.", dir=self.path.parent)
            with os.fdopen(fd, "w") as f:
                json.dump(self.cache, f)
            os.replace(tmp, self.path)


def _ignore_spec(root: Path):
    path = root / ".dvcignore"
    if not path.is_file():
        return None
    import pathspec

    return pathspec.PathSpec.from_lines("gitignore", path.read_text().splitlines())


def judge_stages(root: Path, stages: list[str]) -> dict[str, Verdict]:
    """{stage: Verdict} for ``stages`` (``train@<key>`` …), without taking DVC's lock."""
    pipeline = Pipeline(root)
    try:
        return {s: pipeline.check(s) for s in stages}
    finally:
        pipeline.close()
