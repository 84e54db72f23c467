"""Hydra configs, shipped as package data; a package so that an installed knewimp-run finds them as
pkg://knewimp.configs (Hydra's lookup for a module-based entry point)."""
