"""PNG plots of the report (matplotlib, Agg backend: no display needed).

`plot_final_vs_shots`: the headline metric per algo against shots (mean with a ± std bar), the starting model's
mean as a dashed line. `plot_bands`: one quantity on one axis, per (algo, shots) group the smoothed mean over seeds
as a solid line, the raw mean as a faint one and the min-max band over seeds shaded (as a W&B line plot grouped by
config shows them); a group keeps its colour in every plot.
Each function writes one PNG and returns its path, or None when there is nothing to draw.
Left out: interactive plots (the W&B report has those).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vrft.report.aggregate import Band  # noqa: E402


def plot_final_vs_shots(
    path: Path,
    title: str,
    ylabel: str,
    points: dict[str, list[tuple[str, float, float]]],
    baseline: float | None = None,
) -> Path | None:
    """`points[algo]` = [(shots label, mean, std), ...] in x order; one line with error bars per algo."""
    if not any(points.values()):
        return None
    labels = list(dict.fromkeys(lbl for pts in points.values() for lbl, _, _ in pts))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for algo, pts in points.items():
        xs = [labels.index(lbl) for lbl, _, _ in pts]
        ax.errorbar(
            xs, [m for _, m, _ in pts], yerr=[s for _, _, s in pts], marker="o", capsize=3, label=algo
        )
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="initial")
    ax.set_xticks(range(len(labels)), labels)
    ax.set(title=title, xlabel="shots", ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def colours(labels: list[str]) -> dict[str, str]:
    """One colour per group label (matplotlib's tab10 cycle, then tab20), fixed for the whole report."""
    cycle = [*plt.get_cmap("tab10").colors, *plt.get_cmap("tab20").colors[1::2]]
    return {label: matplotlib.colors.to_hex(cycle[i % len(cycle)]) for i, label in enumerate(labels)}


def plot_bands(
    path: Path, title: str, ylabel: str, bands: dict[str, Band], colour: dict[str, str]
) -> Path | None:
    """`bands[label]`: one group's curve over seeds; `colour[label]` its colour (see `colours`)."""
    bands = {k: b for k, b in bands.items() if b.steps}
    if not bands:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for label, b in bands.items():
        c = colour[label]
        if b.n > 1:
            ax.fill_between(b.steps, b.low, b.high, color=c, alpha=0.15, linewidth=0)
        if b.smooth != b.mean:
            ax.plot(b.steps, b.mean, color=c, alpha=0.3, linewidth=0.8)
        few = len(b.steps) < 12
        seeds = f" (n={b.n})"
        ax.plot(
            b.steps,
            b.smooth,
            color=c,
            linewidth=2,
            marker="o" if few else None,
            markersize=3,
            label=label + seeds,
        )
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
