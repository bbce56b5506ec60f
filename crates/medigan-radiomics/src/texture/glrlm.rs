//! pyradiomics `glrlm` (filled in by its owner).
