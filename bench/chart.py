"""Draw the benchmark chart: req/s of each framework relative to Tornado, per cell.

    python bench/chart.py DATA.json OUT_STEM      # writes OUT_STEM.png (or OUT_STEM.svg)

DATA.json is a list of ``{"label", "framework", "rps"}`` (written by ``bench/run.py``). With
matplotlib importable the chart is a PNG; without it, a plain hand-written SVG with the same
bars. The path written is printed on the last line. A cell without a Tornado figure is skipped;
a framework measured in some cells only (``squall_pure``, ``raw_uvloop``) has no bar elsewhere.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Known frameworks first, in this order (legend and bar order); any other gets a spare colour.
COLORS = {
    "squall": "#1f77b4",
    "squall_pure": "#9ecae1",
    "tornado": "#7f7f7f",
    "uvicorn_starlette": "#ff7f0e",
    "raw_uvloop": "#2ca02c",
}
SPARE = ["#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728"]

Series = dict[str, list[float | None]]


def colors(frameworks: list[str]) -> dict[str, str]:
    """A distinct colour for every framework."""
    spare = iter(SPARE * (1 + len(frameworks) // len(SPARE)))
    return {fw: COLORS.get(fw) or next(spare) for fw in frameworks}


def relative(bars: list[dict[str, Any]]) -> tuple[list[str], Series]:
    """Cell labels and, per framework, req/s divided by Tornado's in the same cell (None where
    the framework was not measured)."""
    base = {b["label"]: b["rps"] for b in bars if b["framework"] == "tornado"}
    labels = [lb for lb in dict.fromkeys(b["label"] for b in bars) if base.get(lb)]
    seen = list(dict.fromkeys(b["framework"] for b in bars))
    order = [fw for fw in COLORS if fw in seen] + [fw for fw in seen if fw not in COLORS]
    series: Series = {}
    for fw in order:
        by_label = {b["label"]: b["rps"] for b in bars if b["framework"] == fw and b["rps"]}
        vals = [by_label[lb] / base[lb] if lb in by_label else None for lb in labels]
        if any(v is not None for v in vals):
            series[fw] = vals
    return labels, series


def png(labels: list[str], series: Series, path: str) -> None:
    """The matplotlib version."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    col = colors(list(series))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.3 * len(series) * len(labels) + 3), 4.8))
    width = 0.8 / max(1, len(series))
    for i, (fw, vals) in enumerate(series.items()):
        pts = [
            (x + (i - (len(series) - 1) / 2) * width, v)
            for x, v in enumerate(vals)
            if v is not None
        ]
        xs, ys = [x for x, _ in pts], [v for _, v in pts]
        ax.bar(xs, ys, width, label=fw, color=col[fw])
        for x, v in pts:
            ax.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("req/s relative to Tornado (= 1.0)")
    ax.axhline(1.0, color="black", linewidth=0.5)
    top = max([v for vals in series.values() for v in vals if v is not None] + [1.0])
    ax.set_ylim(0, top * 1.3)
    ax.legend(loc="upper center", ncol=min(len(series), 5), frameon=False, fontsize=8)
    ax.set_title("squall vs peers (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def svg(labels: list[str], series: Series, path: str) -> None:
    """The dependency-free fallback: grouped bars, values printed above each bar."""
    col = colors(list(series))
    w_cell, h, top, left = 30 + 22 * len(series), 380, 30, 50
    bottom = 100 + 14 * len(series)
    h += 14 * len(series)
    width = left + w_cell * len(labels) + 20
    vmax = max([v for vals in series.values() for v in vals if v is not None] + [1.0]) * 1.15
    scale = (h - top - bottom) / vmax
    base_y = h - bottom
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
        'font-family="sans-serif" font-size="10">',
        f'<text x="{left}" y="18" font-size="13">squall vs peers: req/s relative to Tornado</text>',
        f'<line x1="{left}" y1="{base_y - scale:.1f}" x2="{width - 10}" y2="{base_y - scale:.1f}" '
        'stroke="black" stroke-dasharray="3,3"/>',
    ]
    bw = (w_cell - 20) / max(1, len(series))
    for i, label in enumerate(labels):
        x0 = left + i * w_cell + 10
        for j, (fw, vals) in enumerate(series.items()):
            v = vals[i]
            if v is None:
                continue
            x, bh = x0 + j * bw, v * scale
            out.append(
                f'<rect x="{x:.1f}" y="{base_y - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                f'fill="{col[fw]}"/>'
            )
            out.append(
                f'<text x="{x + bw / 2:.1f}" y="{base_y - bh - 3:.1f}" text-anchor="middle">'
                f"{v:.1f}</text>"
            )
        out.append(f'<text transform="translate({x0 + 5},{base_y + 12}) rotate(30)">{label}</text>')
    for j, fw in enumerate(series):
        y = h - 20 - 14 * (len(series) - 1 - j)
        out.append(f'<rect x="{left}" y="{y - 9}" width="10" height="10" fill="{col[fw]}"/>')
        out.append(f'<text x="{left + 14}" y="{y}">{fw}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main(argv: list[str]) -> int:
    """Read the bars, write PNG (matplotlib) or SVG; print the path."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        bars = json.load(f)
    labels, series = relative(bars)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        path = argv[2] + ".svg"
        svg(labels, series, path)
    else:
        path = argv[2] + ".png"
        png(labels, series, path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
