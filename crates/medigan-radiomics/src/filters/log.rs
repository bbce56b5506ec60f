//! pyradiomics `log` step (filled in by its owner).
