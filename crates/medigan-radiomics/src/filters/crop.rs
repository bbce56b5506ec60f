//! pyradiomics `crop` step (filled in by its owner).
