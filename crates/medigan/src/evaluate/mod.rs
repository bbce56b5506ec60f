//! Evaluation of synthetic data: feature extraction, the Frechet distance (FID), its real-real
//! lower bound and the FID ratio (paper, section 4.2).

pub mod inception;
