"""Tables that fit the terminal: names are never cut; columns that do not fit are dropped.

Each column has a priority (the order of ``columns``' ``keep`` values): the table keeps the most
important columns whose cells fit whole in the width, drops the rest and says which in its
caption. Only columns marked ``wrap`` (long free text) may wrap, at ``min_width`` or wider;
``wide`` keeps every column and sets the table at its natural width (the terminal folds the lines).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

GAP = 2  # characters between two columns (one cell padding each side)


@dataclass(frozen=True)
class Column:
    header: str
    keep: int  # priority: 0 is kept longest
    justify: str = "left"
    wrap: bool = False  # may wrap (free text); otherwise shown whole on one line
    min_width: int = 20  # narrowest width a wrapping column is worth showing at


@dataclass
class Fitted:
    table: Table
    width: int  # the width the table needs (print it at least this wide)
    dropped: list[str]


def natural_width(column: Column, cells: list[str]) -> int:
    return max([len(column.header), *(len(c) for c in cells)])


def fit_table(columns: list[Column], rows: list[list[str]], width: int, wide: bool = False, hint: str = "") -> Fitted:
    """A table of ``rows`` (cells in ``columns`` order) at most ``width`` characters wide, unless one
    column alone is wider (then at that column's width); ``hint`` ends the caption of dropped columns."""
    natural = [natural_width(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    shown = set(range(len(columns))) if wide else set()
    if not wide:
        used = -GAP
        for i in sorted(range(len(columns)), key=lambda i: columns[i].keep):
            need = min(natural[i], columns[i].min_width) if columns[i].wrap else natural[i]
            if not shown or used + GAP + need <= width:
                shown.add(i)
                used += GAP + need
    order = sorted(shown)
    needed = sum(natural[i] if wide or not columns[i].wrap else columns[i].min_width for i in order)
    needed += GAP * (len(order) - 1)
    dropped = [columns[i].header for i in range(len(columns)) if i not in shown]
    caption = f"not shown at this width: {', '.join(dropped)}{hint}" if dropped else None
    table = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        header_style="bold underline",
        caption=caption,
        caption_justify="left",
    )
    for i in order:
        c = columns[i]
        if c.wrap and not wide:
            table.add_column(c.header, justify=c.justify, min_width=c.min_width, overflow="fold")
        else:
            table.add_column(c.header, justify=c.justify, no_wrap=True, min_width=natural[i])
    for row in rows:
        table.add_row(*(row[i] for i in order))
    return Fitted(table, max(needed, 0), dropped)
