//! pyradiomics `shape2D` (filled in by its owner).
