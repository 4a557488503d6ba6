"""PNG plots of the report (matplotlib, Agg backend: no display needed).

`plot_final_vs_shots`: the headline metric per algo against shots (mean with a ± std bar), the starting model's
mean as a dashed line. `plot_curves`: one line per (algo, shots), each the per-step mean over seeds.
Each function writes one PNG and returns its path, or None when there is nothing to draw.
Left out: interactive plots (the W&B report has those).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

Curve = tuple[list[int], list[float]]


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


def plot_curves(path: Path, title: str, ylabel: str, curves: dict[str, Curve]) -> Path | None:
    """One line per label; `curves[label]` = (steps, values)."""
    curves = {k: v for k, v in curves.items() if v[0]}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, marker="." if len(steps) < 30 else None, label=label)
    ax.set(title=title, xlabel="step", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
