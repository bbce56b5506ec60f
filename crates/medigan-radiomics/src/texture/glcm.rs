//! pyradiomics `glcm` (filled in by its owner).
