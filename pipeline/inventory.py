"""What ``repro list`` and ``repro models`` show: every configuration and every registered model,
with parameters and MACs from ``models/cost.py``; the input shape a configuration's model sees.

Counting builds each model on the meta device (~0.5 s each, ~40 s for the catalog), so the counts are
kept in a JSON cache (``Costs``, ``.repro/costs.json`` under the project) keyed by (model, options,
classes, image size) and invalidated when the model code (``pipeline/models/*.py``) or torch changes."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib.metadata import version
from pathlib import Path

from .catalog import Configuration, all_configurations
from .files import write_json

MODELS_DIR = Path(__file__).resolve().parent / "models"


def models_digest() -> str:
    """What the counts depend on: the model code and torch's version."""
    h = hashlib.sha256(version("torch").encode())
    for path in sorted(MODELS_DIR.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


class Costs:
    """(params, MACs) per model and input, from the cache file when it matches the code, else counted
    (``progress(done, total, label)`` is called before each count) and written back once, atomically."""

    def __init__(self, path: Path | None = None, progress=None):
        self.path, self.progress, self.digest = path, progress, models_digest()
        self.known: dict[str, list[int]] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                if data.get("code") == self.digest:
                    self.known = data["costs"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass  # unreadable: count again and rewrite it
        self.dirty = False

    def get_all(self, wanted: list[tuple[str, str, int, int]]) -> dict[tuple, tuple[int, int]]:
        keys = {w: json.dumps(w) for w in wanted}
        todo = list(dict.fromkeys(w for w, k in keys.items() if k not in self.known))
        for i, w in enumerate(todo):
            if self.progress is not None:
                self.progress(i, len(todo), w[0])
            self.known[keys[w]] = list(_cost(*w))
            self.dirty = True
        if self.dirty and self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_json({"code": self.digest, "costs": self.known}, self.path)
            except OSError:
                pass  # a read-only checkout: counted again next time
        return {w: tuple(self.known[k]) for w, k in keys.items()}


def input_shape(config: Configuration) -> tuple[int, int]:
    """(classes, image size) of the configuration's dataset; the model's own defaults for a dataset
    the pipeline cannot fetch (``requires``, e.g. ImageNet)."""
    from .data import DATASETS
    from .models import model_info

    if config.dataset in DATASETS:
        return DATASETS[config.dataset].num_classes, DATASETS[config.dataset].image_size
    info = model_info(config.model)
    return info.default_classes, info.input_size


@cache
def _cost(model: str, options: str, classes: int, size: int) -> tuple[int, int]:
    from .models import model_cost

    return model_cost(model, classes, size, **json.loads(options))


def config_costs(configs: list[Configuration], costs: Costs | None = None) -> dict[str, tuple[int, int]]:
    """{configuration: (trainable parameters, MACs per image)} of its model at its dataset's input."""
    wanted = {c.name: (c.model, json.dumps(c.model_options, sort_keys=True), *input_shape(c)) for c in configs}
    counted = (costs or Costs()).get_all(list(wanted.values()))
    return {name: counted[w] for name, w in wanted.items()}


def configuration_rows(costs: Costs | None = None) -> list[dict]:
    configs = list(all_configurations().values())
    counted = config_costs(configs, costs)
    rows = []
    for c in configs:
        params, macs = counted[c.name]
        rows.append(
            {
                "name": c.name,
                "source": c.source,
                "dataset": c.dataset,
                "model": c.model,
                "model_options": c.model_options,
                "params": params,
                "macs": macs,
                "seeds": list(range(c.n_seeds)),
                "requires": c.requires,
                "reported": [r.model_dump() for r in c.reported],
                "recipe": c.recipe.model_dump(),
                "notes": c.notes,
            }
        )
    return rows


def model_rows(classes: int | None = None, costs: Costs | None = None) -> list[dict]:
    from .models import list_models, model_info

    infos = [model_info(name) for name in list_models()]
    wanted = [(info.name, "{}", classes or info.default_classes, info.input_size) for info in infos]
    counted = (costs or Costs()).get_all(wanted)
    rows = []
    for info, w in zip(infos, wanted, strict=True):
        name, k = w[0], w[2]
        params, macs = counted[w]
        rows.append(
            {
                "name": name,
                "family": info.family,
                "classes": k,
                "input_size": info.input_size,
                "params": params,
                "macs": macs,
                "notes": info.notes,
            }
        )
    return rows
