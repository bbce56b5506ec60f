//! pyradiomics `shape` (filled in by its owner).
