//! pyradiomics `prepare` step (filled in by its owner).
