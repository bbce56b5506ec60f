//! pyradiomics `wavelet` step (filled in by its owner).
