//! pyradiomics `glszm` (filled in by its owner).
