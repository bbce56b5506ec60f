//! The whole pyradiomics extraction for a [`crate::Settings`] (filled in by the lead).
