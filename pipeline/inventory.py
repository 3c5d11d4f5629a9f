"""What ``repro list`` and ``repro models`` show: every configuration and every registered model,
with parameters and MACs from ``models/cost.py``; the input shape a configuration's model sees."""

from __future__ import annotations

import json
from functools import cache

from .catalog import Configuration, all_configurations


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


def configuration_rows() -> list[dict]:
    rows = []
    for c in all_configurations().values():
        classes, size = input_shape(c)
        params, macs = _cost(c.model, json.dumps(c.model_options, sort_keys=True), classes, size)
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


def model_rows(classes: int | None = None) -> list[dict]:
    from .models import list_models, model_info

    rows = []
    for name in list_models():
        info = model_info(name)
        k = classes or info.default_classes
        params, macs = _cost(name, "{}", k, info.input_size)
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
