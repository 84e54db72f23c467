"""The protocol: datasets, scaling, amputation and metrics. Knows nothing of runs or records."""
