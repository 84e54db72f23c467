"""The report: tables, statistics and figures, read from records only."""
