"""Scale-out: ``repro launch`` / ``status`` / ``cancel`` on Slurm (submitit), Ray or every local GPU.

One job per remaining (configuration, seed) run: train, then evaluate, through the stage functions
(``job.py``). The launching process keeps the lineage: as jobs finish it records each run in dvc.lock
with ``dvc commit`` (``lineage.py``), one at a time. Job ids live in ``.repro/launch.json``
(``state.py``) so a second ``repro launch`` re-attaches instead of submitting again. Nothing here is
imported by the models or the data code.
"""
