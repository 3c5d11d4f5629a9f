"""models/index.py maps every registered model name to the module that registers it, and building
one model imports only that module's closure (so a run's code deps are its own model's modules)."""

import json
import subprocess
import sys

from tests.test_architecture import ROOT

REGISTERED = """
import importlib, json, pkgutil
import pipeline.models as models
from pipeline.models import registry
for mod in pkgutil.iter_modules(models.__path__):
    importlib.import_module(f"pipeline.models.{mod.name}")
print(json.dumps({k: v.builder.__module__.rsplit(".", 1)[1] for k, v in registry._REGISTRY.items()}))
"""

ONE = """
import json, sys
from pipeline.models import create_model
create_model({name!r})
print(json.dumps(sorted(k for k in sys.modules if k.startswith("pipeline.models."))))
"""


def _run(code: str):
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_index_names_the_module_of_every_registered_model():
    from pipeline.models.index import MODULES

    assert _run(REGISTERED) == MODULES


def test_building_one_model_imports_only_its_own_modules():
    loaded = _run(ONE.format(name="resnet18"))
    assert "pipeline.models.resnet" in loaded
    assert not {"pipeline.models.residual_attention", "pipeline.models.mobilenet"} & set(loaded)
