"""Pictures for the Prefect UI: a PNG inlined in a markdown artifact (the UI shows no image files),
and the one way a chart of small multiples (one panel per module or budget) becomes that PNG.

    >>> markdown_image(b"\\x89PNG", "cost")
    '![cost](data:image/png;base64,iVBORw==)'
    >>> small_multiples_png([1, 2, 3], lambda ax, x: ax.plot([0, x]), cols=2, panel=(4, 2),
    ...                     empty="nothing")[:4] == b"\\x89PNG"
    True
"""

from __future__ import annotations

import base64
import io
import math
from typing import Callable, Sequence


def markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,…)``: the one way every chart reaches an artifact."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def small_multiples_png(items: Sequence, draw: Callable, *, cols: int, panel: tuple[float, float], empty: str,
                        left: float = 0.08, bottom_in: float = 0.7, hspace: float = 0.5, wspace: float = 0.2) -> bytes:
    """One figure, ``draw(ax, item)`` per item in a grid of up to ``cols`` columns (``panel``: inches
    per panel); no items: a figure saying ``empty``. Agg, no pyplot state, 64 dpi, fixed margins
    (``tight_layout`` would draw the figure twice)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(items)
    cols = 1 if n <= 1 else min(cols, n)
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), dpi=64)
    FigureCanvasAgg(fig)
    if not items:
        fig.text(0.5, 0.5, empty, ha="center", va="center")
    for i, item in enumerate(items, 1):
        draw(fig.add_subplot(rows, cols, i), item)
    fig.autofmt_xdate()
    fig.subplots_adjust(left=left, right=0.98, top=1 - 0.3 / fig.get_figheight(),
                        bottom=bottom_in / fig.get_figheight(), hspace=hspace, wspace=wspace)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
