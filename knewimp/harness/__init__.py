"""The harness: runs cells from Hydra configs and writes one record per cell."""
