"""What ``repro list`` and ``repro models`` print: the inventory's rows as terminal tables that fit
the width (``terminal.py``: names whole, columns dropped by priority). Only the CLI imports this."""

from __future__ import annotations

from .terminal import Column, Fitted, fit_table


def reported_text(reported: list[dict]) -> str:
    return "; ".join(
        f"{x['metric']}={x['value']:g}" if isinstance(x["value"], float) else f"{x['metric']}: {x['value']}"
        for x in reported
    )


def configuration_table(rows: list[dict], width: int, wide: bool = False) -> Fitted:
    """``repro list`` as a terminal table (``terminal.Fitted``): names whole, columns dropped to fit."""
    columns = [
        Column("name", 0),
        Column("source", 5),
        Column("dataset", 2),
        Column("model", 1),
        Column("params", 3, justify="right"),
        Column("MACs", 4, justify="right"),
        Column("reported", 6, wrap=True, min_width=30),
    ]
    cells = [
        [r["name"], r["source"], r["dataset"], r["model"], f"{r['params']:,}", f"{r['macs'] / 1e6:,.1f}M"]
        + [reported_text(r["reported"])]
        for r in rows
    ]
    return fit_table(columns, cells, width, wide, hint=" (`repro list --wide` shows all, `--json` for scripts)")


def model_table(rows: list[dict], width: int, wide: bool = False) -> Fitted:
    """``repro models`` as a terminal table (``terminal.Fitted``): names whole, columns dropped to fit."""
    columns = [
        Column("name", 0),
        Column("family", 4),
        Column("classes", 2, justify="right"),
        Column("input", 3, justify="right"),
        Column("params", 1, justify="right"),
        Column("MACs", 2, justify="right"),
    ]
    cells = [
        [
            r["name"],
            r["family"],
            str(r["classes"]),
            str(r["input_size"]),
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:,.1f}M",
        ]
        for r in rows
    ]
    return fit_table(columns, cells, width, wide, hint=" (`repro models --wide` shows all, `--json` for scripts)")
