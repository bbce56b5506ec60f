//! Packages bundled in the binary: the models this repository ships, so that the main job runs
//! offline on a fresh machine. The bundled catalogue links them as `bundled:<FILE>`.

/// The link scheme of a bundled package.
pub const SCHEME: &str = "bundled:";

/// The bundled package archives, by file name.
const PACKAGES: &[(&str, &[u8])] = &[
    (
        "00900_PHANTOM_DEMO.zip",
        include_bytes!("../../../models/00900_PHANTOM_DEMO.zip"),
    ),
    (
        "00901_PHANTOM_DDPM.zip",
        include_bytes!("../../../models/00901_PHANTOM_DDPM.zip"),
    ),
];

/// The bytes of a bundled package, given its link (`bundled:NAME.zip`) or file name.
pub fn package(link: &str) -> Option<&'static [u8]> {
    let name = link.strip_prefix(SCHEME).unwrap_or(link);
    PACKAGES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}
