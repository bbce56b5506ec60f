//! Fuzz target: a visualiser request body (`POST /api/sample`, `/api/save`) parsed and rendered
//! on the bundled model, as the server does.
#![no_main]

use std::sync::OnceLock;

use medigan::catalog::CatalogSettings;
use medigan::home::Home;
use medigan::runtime::BackendKind;
use medigan::{Generators, Settings};
use medigan_viz::{SampleQuery, View};

fn view() -> &'static View {
    static VIEW: OnceLock<View> = OnceLock::new();
    VIEW.get_or_init(|| {
        let home = Box::leak(Box::new(tempfile::tempdir().expect("a temporary home")));
        let generators = Generators::new(Settings {
            home: Home::new(home.path()),
            catalog: CatalogSettings {
                offline: true,
                ..Default::default()
            },
            backend: Some(BackendKind::Tract),
        });
        View::open(&generators, "00900", 4).expect("the bundled model opens")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(query) = serde_json::from_slice::<SampleQuery>(data) {
        let _ = view().render(&query);
    }
});
