//! Shared by the visualiser's tests: a server over a fixture model or the bundled one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use medigan::catalog::CatalogSettings;
use medigan::home::Home;
use medigan::runtime::BackendKind;
use medigan::{Generators, Settings};
use medigan_viz::{RunningViz, View, VizOptions};
use tempfile::TempDir;

/// A running visualiser with its temporary home and save folder.
pub struct Served {
    pub server: RunningViz,
    pub save_dir: PathBuf,
    _home: TempDir,
}

impl Served {
    /// The absolute URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path.trim_start_matches('/'))
    }
}

fn fixture_catalog(case: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(case)
        .join("medigan.json");
    assert!(
        path.is_file(),
        "missing fixture {}: write it with `python3 scripts/make_fixtures.py`",
        path.display()
    );
    path
}

/// Serves `model` from the fixture `case` (or the bundled catalogue when `case` is `None`).
pub fn serve(case: Option<&str>, model: &str, slider_grouper: usize) -> Served {
    serve_saving_to(case, model, slider_grouper, "saved")
}

/// [`serve`], saving into the folder `save_name` of the temporary home.
pub fn serve_saving_to(
    case: Option<&str>,
    model: &str,
    slider_grouper: usize,
    save_name: &str,
) -> Served {
    let home = TempDir::new().unwrap();
    let explicit = case
        .map(|c| vec![fixture_catalog(c).display().to_string()])
        .unwrap_or_default();
    let generators = Generators::new(Settings {
        home: Home::new(home.path()),
        catalog: CatalogSettings {
            explicit,
            offline: true,
            ..Default::default()
        },
        offline: true,
        backend: Some(BackendKind::Tract),
    });
    let view = View::open(&generators, model, slider_grouper).unwrap();
    let save_dir = home.path().join(save_name);
    let server = medigan_viz::start(
        view,
        VizOptions {
            port: 0,
            save_dir: save_dir.clone(),
        },
    )
    .unwrap();
    Served {
        server,
        save_dir,
        _home: home,
    }
}
