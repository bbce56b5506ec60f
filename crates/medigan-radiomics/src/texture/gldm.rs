//! pyradiomics `gldm` (filled in by its owner).
