//! The visualiser's HTTP API: model facts, samples that follow the sliders, saved samples, and
//! bad requests answered with a 4xx and a message, never a crash.

mod common;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use common::serve;

fn post(client: &Client, url: &str, body: &Value) -> (StatusCode, Value) {
    let response = client.post(url).json(body).send().unwrap();
    let status = response.status();
    let text = response.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn model_facts_describe_the_sliders_classes_and_mask() {
    let served = serve(Some("conditional"), "90002", 8);
    let info: Value = reqwest::blocking::get(served.url("/api/model"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["model_id"], "90002_FIXTURE_CONDITIONAL");
    let dims = info["latent_dims"].as_u64().unwrap();
    assert_eq!(info["sliders"].as_u64().unwrap(), dims.div_ceil(8));
    assert_eq!(info["classes"], json!(["benign", "malignant"]));
    assert_eq!(info["has_mask"], false);

    let page = reqwest::blocking::get(served.url("/")).unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().unwrap();
    assert!(html.contains("id=\"sliders\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from the network"
    );
}

#[test]
fn sliders_move_the_image_and_zero_offsets_give_back_the_seed_image() {
    let served = serve(Some("image_mask"), "90003", 4);
    let client = Client::new();
    let url = served.url("/api/sample");
    let (status, seeded) = post(&client, &url, &json!({ "seed": 5 }));
    assert_eq!(status, StatusCode::OK, "{seeded}");
    assert!(
        seeded["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert!(
        seeded["mask"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );

    let sliders = reqwest::blocking::get(served.url("/api/model"))
        .unwrap()
        .json::<Value>()
        .unwrap()["sliders"]
        .as_u64()
        .unwrap() as usize;
    let mut offsets = vec![0.0; sliders];
    offsets[0] = 2.0;
    let (_, moved) = post(&client, &url, &json!({ "seed": 5, "offsets": offsets }));
    assert_ne!(
        moved["image"], seeded["image"],
        "a slider changes the image"
    );
    let latent = |v: &Value| -> Vec<f64> {
        v["latent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (latent(&seeded), latent(&moved));
    for i in 0..a.len() {
        let expected = if i < 4 { 2.0 } else { 0.0 };
        assert!((b[i] - a[i] - expected).abs() < 1e-5, "dimension {i}");
    }

    let zeros = vec![0.0; sliders];
    let (_, back) = post(&client, &url, &json!({ "seed": 5, "offsets": zeros }));
    assert_eq!(back["image"], seeded["image"]);
    assert_eq!(back["mask"], seeded["mask"]);
    let (_, other_seed) = post(&client, &url, &json!({ "seed": 6 }));
    assert_ne!(other_seed["image"], seeded["image"]);
}

#[test]
fn bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving() {
    let served = serve(Some("conditional"), "90002", 8);
    let client = Client::new();
    let url = served.url("/api/sample");
    let cases = [
        (
            json!({ "seed": 1, "offsets": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0] }),
            "slider offsets given",
        ),
        (
            json!({ "seed": 1, "latent": [0.5, 0.5] }),
            "the latent has 2 values",
        ),
        (json!({ "seed": 1, "class": "cyst" }), "cyst"),
        (json!({ "seed": "one" }), "seed"),
        (json!({ "seed": 1, "colour": "red" }), "colour"),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&client, &url, &body);
        assert!(status.is_client_error(), "{body}: {status}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let huge = "x".repeat(9 * 1024 * 1024);
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A new connection: the server hangs up on a body it refuses to read.
    let (status, _) = post(
        &Client::new(),
        &url,
        &json!({ "seed": 1, "class": "malignant" }),
    );
    assert_eq!(status, StatusCode::OK, "still serving after bad requests");
}

#[test]
fn concurrent_requests_never_pile_up_and_the_newest_is_answered() {
    let served = serve(Some("dcgan"), "90001", 10);
    let url = served.url("/api/sample");
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|seed| {
                let url = url.clone();
                scope.spawn(move || {
                    Client::new()
                        .post(&url)
                        .json(&json!({ "seed": seed }))
                        .send()
                        .unwrap()
                        .status()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::NO_CONTENT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK));
    let (status, _) = post(&Client::new(), &url, &json!({ "seed": 99 }));
    assert_eq!(status, StatusCode::OK, "a lone request is always computed");
}

#[test]
fn save_writes_the_image_and_its_latent_for_the_cli_to_regenerate() {
    let served = serve(None, "00900", 8);
    let (status, saved) = post(
        &Client::new(),
        &served.url("/api/save"),
        &json!({ "seed": 3 }),
    );
    assert_eq!(status, StatusCode::OK, "{saved}");
    let files: Vec<String> = saved["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let record: Value = serde_json::from_slice(
        &std::fs::read(served.save_dir.join("00900_PHANTOM_DEMO-seed3.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["latent"].as_array().unwrap().len(), 32);
    assert_eq!(
        record["regenerate"],
        "medigan generate 00900_PHANTOM_DEMO -n 1 --seed 3 -o OUT"
    );
    assert!(
        served
            .save_dir
            .join("00900_PHANTOM_DEMO-seed3.png")
            .is_file()
    );
}

/// The table's cell "visualize" for a legacy model with a latent: one slider per group of
/// `input_latent_vector_size`, a moved slider changes the image, zero offsets give the seed's
/// image back byte for byte, and that image is sample 0 of the run with that seed.
#[test]
fn cell_visualize_legacy_with_latent_sliders_move_the_image_and_reset_restores_it() {
    if !common::python_has_numpy() {
        return;
    }
    let served = common::serve_legacy(common::LEGACY_LATENT_MODEL, Some(16), 4);
    let info: Value = reqwest::blocking::get(served.url("/api/model"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["kind"], "legacy");
    assert_eq!(info["latent_dims"], 16);
    assert_eq!(info["sliders"], 4);
    assert_eq!(info["no_sliders_reason"], Value::Null);
    let client = Client::new();
    let url = served.url("/api/sample");
    let (status, seeded) = post(&client, &url, &json!({ "seed": 5 }));
    assert_eq!(status, StatusCode::OK, "{seeded}");
    let (_, moved) = post(
        &client,
        &url,
        &json!({ "seed": 5, "offsets": [2.0, 0, 0, 0] }),
    );
    assert_ne!(
        moved["image"], seeded["image"],
        "the slider moves the image"
    );
    let (_, back) = post(
        &client,
        &url,
        &json!({ "seed": 5, "offsets": [0, 0, 0, 0] }),
    );
    assert_eq!(back["image"], seeded["image"], "zero offsets restore it");
    let latent: Vec<f32> = serde_json::from_value(seeded["latent"].clone()).unwrap();
    let first_moved: Vec<f32> = serde_json::from_value(moved["latent"].clone()).unwrap();
    for i in 0..4 {
        assert_eq!(first_moved[i], latent[i] + 2.0);
    }
    assert_eq!(first_moved[4..], latent[4..]);
}

/// The table's cell "visualize" for a legacy model without a latent: no sliders, and the page
/// is told why; Seed still shows samples.
#[test]
fn cell_visualize_legacy_without_latent_says_why_there_are_no_sliders() {
    if !common::python_has_numpy() {
        return;
    }
    let served = common::serve_legacy(common::LEGACY_LATENT_MODEL, None, 4);
    let info: Value = reqwest::blocking::get(served.url("/api/model"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(info["sliders"], 0);
    assert!(
        info["no_sliders_reason"]
            .as_str()
            .unwrap()
            .contains("input_latent_vector_size"),
        "{info}"
    );
    let client = Client::new();
    let (status, sample) = post(&client, &served.url("/api/sample"), &json!({ "seed": 1 }));
    assert_eq!(status, StatusCode::OK, "{sample}");
    let (status, refused) = post(
        &client,
        &served.url("/api/sample"),
        &json!({ "seed": 1, "offsets": [1.0] }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
}
