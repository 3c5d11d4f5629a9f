"""The items an adaptive launch decides (issue 24): every compared figure, best-of-runs figure, ratio and trained
claim of the catalog, with its margin δ and spread floor, and their sequential verdicts (``sequential.py``).

Values are {configuration: {metric: [value per seed, in seed order]}}. The spread of a figure is the pooled
seed-to-seed sd of its metric over the configurations of its dataset with n ≥ 2 (floored at the binomial SE
of % figures; the floor alone, as a known sigma, while no pool exists); ratios use the pooled sd of log values.
Two-arm items (ratios, claims) look at the first n seeds of each arm, n the smaller arm's count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..catalog import Source, configurations_of
from .claim_kinds import reported_effect
from .judging import RATIO_DEFAULT, evaluated_images, margin_for
from .sequential import ALPHA, holm, repeated_p, rule_label, t_to_z
from .verdicts import binomial_se, max_of_normals, pooled_sd


@dataclass(frozen=True)
class Item:
    id: str
    source: str
    kind: str  # cell | best | ratio | claim
    configs: tuple[str, ...]  # cell/best: (config,); ratio: (num, den); claim: (better, worse, ...)
    metric: str
    dataset: str
    reported: float  # cell/best: the figure; ratio: log of the reported ratio; claim: reported effect or nan
    margin: float  # δ (ratios: log(1 + relative δ))
    floor: float = 0.0  # binomial SE of % figures
    best_of: int | None = None
    higher_is_better: bool = True


def _family(metric: str) -> str:
    return metric.replace("_error", "_acc")


def catalog_items(sources: dict[str, Source], keep=None) -> list[Item]:
    """Every decidable item whose configurations all pass ``keep`` (default: all)."""
    keep = keep or (lambda name: True)
    items: list[Item] = []
    for source in sources.values():
        configs = configurations_of(source)
        for (table, row, column), (name, rep) in source.reported_cells().items():
            if isinstance(rep.value, str) or rep.hardware or rep.unit in ("count", "MACs") or not keep(name):
                continue
            n_images, where = evaluated_images(configs[name], rep.metric, [])
            margin = margin_for(source, table, rep, n_images, where).value
            floor = binomial_se(float(rep.value), n_images) if rep.unit == "%" else 0.0
            best = configs[name].n_seeds if rep.over_runs == "max" else None
            items.append(
                Item(f"{source.id}/{table}/{row}/{column}", source.id, "best" if best else "cell", (name,),
                     rep.metric, configs[name].dataset, float(rep.value), margin, floor, best)
            )  # fmt: skip
        cells = source.reported_cells()
        for key, table in source.tables.items():
            for ratio in table.ratios:
                (a, ra), (b, rb) = (
                    cells[(key, ratio.numerator, ratio.column)],
                    cells[(key, ratio.denominator, ratio.column)],
                )
                if not (keep(a) and keep(b)):
                    continue
                reported = float(ra.value) / float(rb.value)
                rel = ratio.delta.at(reported) / reported if ratio.delta is not None else RATIO_DEFAULT
                items.append(
                    Item(f"{source.id}/{key}/{ratio.numerator}÷{ratio.denominator}", source.id, "ratio", (a, b),
                         ra.metric, configs[a].dataset, math.log(reported), math.log1p(rel))
                )  # fmt: skip
        for i, claim in enumerate(source.claims):
            arms = (claim.better, *claim.worse_arms)
            if claim.kind != "trained" or claim.cited or not all(keep(a) and a in configs for a in arms):
                continue
            effect = reported_effect(source, claim)
            items.append(
                Item(f"{source.id}/claim{i + 1}", source.id, "claim", arms, claim.metric, configs[claim.better].dataset,
                     math.nan if effect is None else effect, 0.0, higher_is_better=claim.higher_is_better)
            )  # fmt: skip
    return items


def _values(values: dict, config: str, metric: str) -> list[float]:
    got = values.get(config, {})
    return got.get(metric) or got.get(_family(metric)) or got.get(metric.replace("_acc", "_error")) or []


@dataclass(frozen=True)
class Spread:
    sd: float
    df: float | None  # None: known sigma (the floor)


def spreads(items: list[Item], values: dict, configs_of: dict[str, str]) -> dict[str, Spread | None]:
    """Per item id, the spread it uses now (see the module docstring); None when there is none yet."""
    cache: dict[tuple, object] = {}

    def pool(dataset: str | None, metric: str, log: bool):
        key = (dataset, _family(metric), log)
        if key not in cache:
            groups = []
            for cfg, ds in configs_of.items():
                if dataset is None or ds == dataset:
                    v = _values(values, cfg, metric)
                    if len(v) >= 2 and (not log or min(v) > 0):
                        groups.append([math.log(x) for x in v] if log else v)
            cache[key] = pooled_sd(groups)
        return cache[key]

    out: dict[str, Spread | None] = {}
    for it in items:
        p = pool(None, it.metric, True) if it.kind == "ratio" else pool(it.dataset, it.metric, False)
        if p is not None and max(p.sd, it.floor) > 0:
            out[it.id] = Spread(max(p.sd, it.floor), p.df if p.sd >= it.floor else None)
        else:
            out[it.id] = Spread(it.floor, None) if it.floor > 0 else None
    return out


def look_stats(it: Item, values: dict, sp: Spread, looks: tuple[int, ...]) -> dict | None:
    """n, the estimate and its standard error at the current look (the largest look of a sequential schedule
    ``looks`` at most the seeds there are); None without runs."""
    arms = [_values(values, c, it.metric) for c in it.configs]
    n = min(len(a) for a in arms)
    if len(looks) > 1:
        n = max((x for x in looks if x <= n), default=0)
    if n == 0:
        return None
    a = [np.asarray(x[:n], float) for x in arms]
    if it.kind == "cell":
        return {"n": n, "est": float(a[0].mean() - it.reported), "se": sp.sd / math.sqrt(n)}
    if it.kind == "best":
        e, v = max_of_normals(it.best_of)
        return {"n": n, "est": float(a[0].mean() + sp.sd * e - it.reported), "se": sp.sd * math.sqrt(1 / n + v * v)}
    if it.kind == "ratio":
        est = math.log(a[0].mean()) - math.log(a[1].mean()) - it.reported
        return {"n": n, "est": est, "se": sp.sd * math.sqrt(2 / n)}
    sign = 1.0 if it.higher_is_better else -1.0
    adv = [sign * float(a[0].mean() - w.mean()) for w in a[1:]]
    return {"n": n, "est": min(adv), "ests": adv, "se": sp.sd * math.sqrt(2 / n)}


def item_pvalues(items: list[Item], sts: list[dict], sps: list[Spread], looks: tuple[int, ...]) -> list[dict]:
    """Repeated p-values at each item's look, vectorised over items: TOST (low, up) and two-sided for figures;
    "better beats every worse arm" (intersection-union) and its reverse (Bonferroni over arms) for claims."""
    ests = [np.asarray(st["ests"] if it.kind == "claim" else [st["est"]]) for it, st in zip(items, sts, strict=True)]
    lens = np.array([e.size for e in ests], int)
    est = np.concatenate(ests) if ests else np.zeros(0)
    se = np.repeat([st["se"] for st in sts], lens)
    margin = np.repeat([it.margin for it in items], lens)
    df = np.repeat([sp.df if sp.df else np.inf for sp in sps], lens)
    z_low, z_up, z_two = (t_to_z(x, df) for x in ((est + margin) / se, (margin - est) / se, est / se))
    starts = np.concatenate([[0], np.cumsum(lens)])
    groups: dict[tuple, list[int]] = {}
    for i, (it, st) in enumerate(zip(items, sts, strict=True)):
        lk = (st["n"],) if len(looks) == 1 else looks  # fixed n: one look at the seeds there are
        groups.setdefault((lk, it.best_of), []).extend(range(starts[i], starts[i + 1]))
    p_low, p_up, p_two = (np.empty(est.size) for _ in range(3))
    for (lk, best), idx in groups.items():
        p_low[idx] = repeated_p(z_low[idx], lk, False, best)
        p_up[idx] = repeated_p(z_up[idx], lk, False, best, flip=True)
        p_two[idx] = repeated_p(z_two[idx], lk, True, best)
    out = []
    for i, it in enumerate(items):
        sl = slice(starts[i], starts[i + 1])
        if it.kind == "claim":  # margin 0: z_low = advantage/se per worse arm, z_up its reverse
            out.append({"p": float(p_low[sl].max()), "p_rev": min(1.0, float(p_up[sl].min()) * int(lens[i]))})
        else:
            out.append({"p_low": float(p_low[sl][0]), "p_up": float(p_up[sl][0]), "p_two": float(p_two[sl][0])})
    return out


def figure_verdict(it: Item, st: dict, p: dict, alpha: float = ALPHA) -> str:
    if max(p["p_low"], p["p_up"]) < alpha:
        return "reproduced"
    if p["p_two"] < alpha and abs(st["est"]) > it.margin:
        return f"differs ({'above' if st['est'] > 0 else 'below'})"
    return "inconclusive"


def judge_items(
    items: list[Item], values: dict, configs_of: dict[str, str], looks: tuple[int, ...], alpha: float = ALPHA
) -> dict[str, dict]:
    """{item id: {verdict, n, rule, est, se, sd}}: figures and ratios by the sequential rule, claims by Holm over
    each source's claims (supported and contradicted, each its own family)."""
    sp_all = spreads(items, values, configs_of)
    out: dict[str, dict] = {}
    looked: list[tuple[Item, dict, Spread]] = []
    for it in items:
        sp = sp_all[it.id]
        st = look_stats(it, values, sp, looks) if sp is not None else None
        if st is None:
            n = min(len(_values(values, c, it.metric)) for c in it.configs)
            out[it.id] = {"verdict": "not run" if n == 0 else "inconclusive", "n": n, "rule": rule_label(n, looks)}
        else:
            looked.append((it, st, sp))
    ps = item_pvalues([x[0] for x in looked], [x[1] for x in looked], [x[2] for x in looked], looks)
    claims: dict[str, list[tuple[str, dict]]] = {}
    for (it, st, sp), p in zip(looked, ps, strict=True):
        row = {"n": st["n"], "est": st["est"], "se": st["se"], "sd": sp.sd, "rule": rule_label(st["n"], looks), **p}
        if it.kind == "claim":
            claims.setdefault(it.source, []).append((it.id, row))
        else:
            row["verdict"] = figure_verdict(it, st, p, alpha)
        out[it.id] = row
    for rows in claims.values():
        sup = holm([r["p"] for _, r in rows], alpha)
        con = holm([r["p_rev"] for _, r in rows], alpha)
        for (_, r), s, c in zip(rows, sup, con, strict=True):
            r["verdict"] = "supported" if s else "contradicted" if c else "inconclusive"
    return out
