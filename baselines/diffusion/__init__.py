"""Diffusion imputers on one DDPM core: CSDI-T (conditional) and MissDiff (unconditional)."""
from .csdi_t import CSDITImputer
from .missdiff import MissDiffImputer

__all__ = ["CSDITImputer", "MissDiffImputer"]
