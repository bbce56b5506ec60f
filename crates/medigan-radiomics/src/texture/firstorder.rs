//! pyradiomics `firstorder` (filled in by its owner).
