//! What happens to the image before features: normalising, resampling and checking the mask
//! ([`prepare`]), cropping ([`crop`]), and the derived image types ([`log`], [`wavelet`]).

pub mod crop;
pub mod log;
pub mod prepare;
pub mod wavelet;
