"""Speed measurements (``python -m benchmarks.<name>`` from the repository root); the
library never imports this package."""
