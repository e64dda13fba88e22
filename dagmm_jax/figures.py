"""Figures without pyplot: ``matplotlib.figure.Figure`` objects saved straight to
files, so that importing this package never switches a notebook user's backend."""
import pathlib

from matplotlib.figure import Figure


def subplots(*args, figsize: tuple[float, float], **kwargs):
  """``(figure, axes)`` as ``pyplot.subplots`` returns them, on a backend-free Figure."""
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(*args, **kwargs)


def save(fig: Figure, path: str | pathlib.Path, dpi: int = 100) -> None:
  """Lays out and writes ``fig`` (PNG by the suffix of ``path``)."""
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
