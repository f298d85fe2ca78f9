"""Jifen's benchmarks (design.md §12): measured on PostgreSQL, reported as ratios
to a reference (pgbench) measured in the same run on the same machine."""
