//! pyradiomics `ngtdm` (filled in by its owner).
