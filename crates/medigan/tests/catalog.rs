//! The catalogue: the upstream file round-trips, validation names fields, ids resolve, sources
//! merge in order.

mod common;

use medigan::catalog::{self, Catalog, CatalogError, CatalogSettings, SourceInfo, SourceKind};
use medigan::home::Home;
use serde_json::{Value, json};

fn upstream_text() -> String {
    std::fs::read_to_string(common::shared_reference("medigan-global.json")).expect("readable")
}

fn upstream() -> Catalog {
    Catalog::from_json_str(
        &upstream_text(),
        SourceInfo::new(SourceKind::File, "upstream"),
    )
    .expect("the upstream catalogue loads")
}

#[test]
fn every_upstream_entry_loads_and_serializes_back_to_equal_json() {
    let original: Value = serde_json::from_str(&upstream_text()).unwrap();
    let catalog = upstream();
    assert_eq!(catalog.len(), 23);
    assert_eq!(catalog.to_json(), original);
    let ids: Vec<&str> = catalog.ids().collect();
    let original_ids: Vec<&String> = original.as_object().unwrap().keys().collect();
    assert_eq!(ids, original_ids, "catalogue order is kept");
}

#[test]
fn upstream_metadata_is_typed() {
    let catalog = upstream();
    let entry = catalog.get("00001_DCGAN_MMG_CALC_ROI").unwrap();
    let execution = &entry.metadata.execution;
    assert_eq!(execution.generate_method.name, "generate");
    assert_eq!(execution.extension, ".pt");
    let sizes: Vec<Option<u64>> = execution.image_size.iter().map(|d| d.value()).collect();
    assert_eq!(sizes, vec![Some(128), Some(128)]);
    let t1t2 = catalog.get("00021_CYCLEGAN_BRAIN_MRI_T1_T2").unwrap();
    let sizes: Vec<Option<u64>> = t1t2
        .metadata
        .execution
        .image_size
        .iter()
        .map(|d| d.value())
        .collect();
    assert_eq!(
        sizes,
        vec![Some(224), Some(192)],
        "string sizes are read as numbers"
    );
    assert_eq!(
        entry.metadata.selection.license.get().map(String::as_str),
        Some("MIT")
    );
}

#[test]
fn upstream_warnings_name_the_empty_metric() {
    let catalog = upstream();
    let warning = catalog
        .warnings()
        .iter()
        .find(|p| p.model == "00023_PIX2PIXHD_BREAST_DCEMRI")
        .expect("the empty turing_test metric is reported");
    assert_eq!(warning.path, "selection.performance.turing_test");
}

fn problems_of(mutate: impl FnOnce(&mut Value)) -> Vec<catalog::Problem> {
    let mut root: Value = serde_json::from_str(&upstream_text()).unwrap();
    let entry = root.get_mut("00001_DCGAN_MMG_CALC_ROI").unwrap();
    mutate(entry);
    let text = serde_json::to_string(&root).unwrap();
    match Catalog::from_json_str(&text, SourceInfo::new(SourceKind::File, "edited")) {
        Err(CatalogError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn missing_generate_method_name_is_named() {
    let problems = problems_of(|e| {
        e["execution"]["generate_method"]
            .as_object_mut()
            .unwrap()
            .remove("name");
    });
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].model, "00001_DCGAN_MMG_CALC_ROI");
    assert_eq!(problems[0].path, "execution.generate_method.name");
    let text = problems[0].to_string();
    assert!(
        text.contains("00001_DCGAN_MMG_CALC_ROI") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn wrong_type_of_image_size_is_named() {
    let problems = problems_of(|e| e["execution"]["image_size"] = json!("128x128"));
    assert_eq!(problems[0].path, "execution.image_size");
    assert!(problems[0].message.contains("list of positive integers"));
    let problems = problems_of(|e| e["execution"]["image_size"] = json!([128, -1]));
    assert_eq!(problems[0].path, "execution.image_size[1]");
}

#[test]
fn non_numeric_metric_is_named() {
    let problems = problems_of(|e| e["selection"]["performance"]["FID"] = json!("good"));
    assert_eq!(problems[0].path, "selection.performance.FID");
    let problems = problems_of(|e| {
        e["selection"]["performance"]["CLF"]["trained_on_fake"] = json!({"f1": true})
    });
    assert_eq!(
        problems[0].path,
        "selection.performance.CLF.trained_on_fake.f1"
    );
}

#[test]
fn every_problem_of_an_entry_is_reported_at_once() {
    let problems = problems_of(|e| {
        e["execution"]
            .as_object_mut()
            .unwrap()
            .remove("package_link");
        e["description"]["title"] = json!(7);
        e["selection"]["modality"] = json!(["MMG", 3]);
    });
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "execution.package_link",
            "selection.modality[1]",
            "description.title"
        ]
    );
}

#[test]
fn onnx_declaration_is_checked() {
    let problems = problems_of(|e| {
        e["execution"]["runtime"] = json!("onnx");
        e["execution"]["onnx"] = json!({
            "graph": "g.onnx",
            "inputs": [{"name": "z", "kind": "latentt", "shape": [100]}],
            "outputs": [{"name": "img", "kind": "image", "shape": [128, 128], "range": [1, -1]}]
        });
    });
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "execution.onnx.inputs[0].kind",
            "execution.onnx.outputs[0].shape",
            "execution.onnx.outputs[0].range"
        ]
    );
}

#[test]
fn invalid_json_names_the_source_and_line() {
    let err = Catalog::from_json_str(
        "{\n  \"a\": [1,\n}",
        SourceInfo::new(SourceKind::File, "broken.json"),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("broken.json") && text.contains("line 3"),
        "{text}"
    );
}

#[test]
fn the_three_id_forms_resolve() {
    let catalog = upstream();
    for query in [
        "1",
        "00001",
        "00001_DCGAN_MMG_CALC_ROI",
        "00001_DCGAN",
        "00001_dcgan_mmg",
    ] {
        assert_eq!(
            catalog.resolve(query).unwrap().id,
            "00001_DCGAN_MMG_CALC_ROI",
            "{query}"
        );
    }
    assert_eq!(
        catalog.resolve("23").unwrap().id,
        "00023_PIX2PIXHD_BREAST_DCEMRI"
    );
}

#[test]
fn unknown_id_suggests_the_closest() {
    let catalog = upstream();
    let err = catalog.resolve("00001_DCGAN_MMG_CALC_ROY").unwrap_err();
    match &err {
        CatalogError::UnknownModel { suggestions, .. } => {
            assert_eq!(
                suggestions.first().map(String::as_str),
                Some("00001_DCGAN_MMG_CALC_ROI")
            )
        }
        other => panic!("{other:?}"),
    }
    let advice = medigan::error::Hint::advice(&err).unwrap();
    assert!(
        advice
            .suggestions()
            .any(|s| s == medigan::error::Suggestion::SearchModels),
        "{advice:?}"
    );
    assert!(matches!(
        catalog.resolve("99"),
        Err(CatalogError::UnknownModel { .. })
    ));
}

#[test]
fn ambiguous_prefix_lists_the_candidates() {
    let catalog = upstream();
    let err = catalog.resolve("0000").unwrap_err();
    match err {
        CatalogError::AmbiguousModel { candidates, .. } => assert_eq!(candidates.len(), 9),
        other => panic!("{other:?}"),
    }
}

fn write(dir: &std::path::Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

fn one_entry(id: &str, title: &str) -> Value {
    let mut root: Value = serde_json::from_str(&upstream_text()).unwrap();
    let mut entry = root["00001_DCGAN_MMG_CALC_ROI"].take();
    entry["description"]["title"] = json!(title);
    json!({ id: entry })
}

#[test]
fn later_explicit_sources_override_earlier_ones_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = one_entry("00001_A", "first A");
    first
        .as_object_mut()
        .unwrap()
        .extend(one_entry("00002_B", "first B").as_object().unwrap().clone());
    let a = write(dir.path(), "a.json", &first);
    let b = write(dir.path(), "b.json", &one_entry("00002_B", "second B"));
    let settings = CatalogSettings {
        explicit: vec![a.clone(), b.clone()],
        ..CatalogSettings::default()
    };
    let catalog = catalog::source::load(&settings, &Home::new(dir.path().join("home"))).unwrap();
    assert_eq!(
        catalog.resolve("2").unwrap().metadata.description.title,
        "second B"
    );
    assert_eq!(
        catalog.resolve("1").unwrap().metadata.description.title,
        "first A"
    );
    let sources = catalog.sources();
    assert_eq!((sources[0].models, sources[0].overridden), (2, 1));
    assert_eq!((sources[1].models, sources[1].overridden), (1, 0));
    assert_eq!(
        catalog.sources()[catalog.resolve("2").unwrap().source].location,
        b
    );
    assert_eq!(
        catalog.sources()[catalog.resolve("1").unwrap().source].location,
        a
    );
}

#[test]
fn cached_upstream_overrides_the_bundled_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    std::fs::create_dir_all(home.catalog_dir()).unwrap();
    write(
        &home.catalog_dir(),
        "upstream.json",
        &one_entry("00007_X", "from upstream"),
    );
    let catalog = catalog::source::load(&CatalogSettings::default(), &home).unwrap();
    let kinds: Vec<SourceKind> = catalog.sources().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![SourceKind::Bundled, SourceKind::Upstream]);
    let entry = catalog.resolve("7").unwrap();
    assert_eq!(catalog.sources()[entry.source].kind, SourceKind::Upstream);
}

#[test]
fn the_users_catalogue_is_read_on_top_and_written_only_when_valid() {
    use medigan::catalog::user::{Added, add_entry, user_catalog_path};
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let entry = one_entry("00777_X", "mine")["00777_X"].clone();
    let mut bad = entry.clone();
    bad["selection"] = json!("none");
    match add_entry(&home, "00777_X", &bad, false) {
        Err(CatalogError::Invalid { problems, .. }) => {
            assert!(
                problems.iter().any(|p| p.path == "selection"),
                "{problems:?}"
            )
        }
        other => panic!("expected the bad field named, got {other:?}"),
    }
    assert!(!user_catalog_path(&home).exists(), "nothing written");

    assert_eq!(
        add_entry(&home, "00777_X", &entry, false).unwrap(),
        Added::Added
    );
    let catalog = catalog::source::load(&CatalogSettings::default(), &home).unwrap();
    let found = catalog.resolve("00777_X").unwrap();
    let source = &catalog.sources()[found.source];
    assert_eq!(
        source.location,
        user_catalog_path(&home).display().to_string()
    );
    assert!(
        catalog.resolve("900").is_ok(),
        "the bundled model is still there"
    );

    let mut changed = entry.clone();
    changed["description"]["title"] = json!("changed");
    assert_eq!(
        add_entry(&home, "00777_X", &changed, false).unwrap(),
        Added::Kept
    );
    assert_eq!(
        add_entry(&home, "00777_X", &changed, true).unwrap(),
        Added::Replaced
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(user_catalog_path(&home)).unwrap()).unwrap();
    assert_eq!(written["00777_X"]["description"]["title"], "changed");
    // Explicit sources replace the defaults, the user's catalogue with them.
    let explicit = CatalogSettings {
        explicit: vec![write(dir.path(), "other.json", &one_entry("00008_Y", "y"))],
        ..CatalogSettings::default()
    };
    let catalog = catalog::source::load(&explicit, &home).unwrap();
    assert!(catalog.resolve("00777_X").is_err());
}

#[test]
fn catalog_update_retries_a_failing_server() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let server = medigan_testkit::TestServer::start();
    let body = upstream_text();
    server.route(
        "GET",
        "/global.json",
        medigan_testkit::Route::ok(body.clone()).failing_first(1, 503),
    );
    let url = server.url("/global.json");
    let report = catalog::source::update(&CatalogSettings::default(), &home, Some(&url)).unwrap();
    assert_eq!(report.models, 23);
    assert_eq!(server.requests_to("/global.json").len(), 2, "one retry");
    assert_eq!(std::fs::read_to_string(&report.path).unwrap(), body);
}

#[test]
fn catalog_update_gives_up_on_a_missing_file_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let server = medigan_testkit::TestServer::start();
    server.route("GET", "/global.json", medigan_testkit::Route::status(404));
    let url = server.url("/global.json");
    let err = catalog::source::update(&CatalogSettings::default(), &home, Some(&url)).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(
        server.requests_to("/global.json").len(),
        1,
        "a 404 is final"
    );
    let offline = CatalogSettings {
        offline: true,
        ..CatalogSettings::default()
    };
    assert!(catalog::source::update(&offline, &home, Some(&url)).is_err());
    assert_eq!(
        server.requests_to("/global.json").len(),
        1,
        "offline sends nothing"
    );
}

/// The field tables of `docs/model-format.md` (between `<!-- fields: PREFIX -->` and
/// `<!-- end fields -->`) are the format's table; `MEDIGAN_UPDATE_DOCS=1` rewrites them.
#[test]
fn docs_list_every_field_of_the_format_and_nothing_else() {
    use medigan::catalog::schema;
    let path = common::repo_root().join("docs/model-format.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut made = String::new();
    let mut rest = text.as_str();
    let mut prefixes = Vec::new();
    while let Some(start) = rest.find("<!-- fields: ") {
        let (before, from) = rest.split_at(start);
        made.push_str(before);
        let head_end = from.find("-->\n").unwrap() + 4;
        let prefix = from["<!-- fields: ".len()..head_end - 4].trim().to_string();
        let end = from.find("<!-- end fields -->").expect("an end marker");
        made.push_str(&from[..head_end]);
        made.push_str(&schema::markdown_table(&prefix));
        rest = &from[end..];
        prefixes.push(prefix);
    }
    made.push_str(rest);
    for f in schema::FIELDS.iter().filter(|f| f.path.contains('.')) {
        assert!(
            prefixes.iter().any(|p| f.path.starts_with(p.as_str())),
            "no table shows {}",
            f.path
        );
    }
    if std::env::var_os("MEDIGAN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &made).unwrap();
        return;
    }
    assert!(
        made == text,
        "docs/model-format.md's field tables differ from catalog/schema.rs; run with MEDIGAN_UPDATE_DOCS=1"
    );
}
