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
            // The library's check of a latent, as for `medigan generate --latent`.
            "invalid latent: 2 values given",
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

const TINY_COND: &str = "diffusion/tiny_cond";

fn model_info(served: &common::Served) -> Value {
    reqwest::blocking::get(served.url("/api/model"))
        .unwrap()
        .json()
        .unwrap()
}

fn png_bytes(data_url: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = data_url.as_str().unwrap();
    let encoded = text.strip_prefix("data:image/png;base64,").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
}

#[test]
fn diffusion_model_facts_offer_steps_schedulers_guidance_and_classes() {
    let served = serve(Some(TINY_COND), "00961", 8);
    let info = model_info(&served);
    assert_eq!(info["latent_dims"], 0);
    assert_eq!(info["classes"], json!(["a", "b"]));
    let d = &info["diffusion"];
    assert_eq!(d["steps"], 12, "{d}");
    assert_eq!(d["max_steps"], 1000);
    assert_eq!(d["scheduler"], "DDIMScheduler");
    assert_eq!(d["guidance"], 3.0);
    assert_eq!(d["guidance_allowed"], true);
    assert_eq!(d["latent"], false);
    let schedulers = d["schedulers"].as_array().unwrap();
    let source = |name: &str| {
        schedulers
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} is offered: {d}"))["trajectory"]
            .clone()
    };
    assert_eq!(source("DDIMScheduler"), "scheduler");
    assert_eq!(source("EulerAncestralDiscreteScheduler"), "scheduler");
    assert_eq!(source("PNDMScheduler"), "estimated");
    assert_eq!(source("DPMSolverMultistepScheduler"), "estimated");
    let ddim = schedulers
        .iter()
        .find(|s| s["name"] == "DDIMScheduler")
        .unwrap();
    assert_eq!(ddim["aliases"], json!(["ddim"]));

    let one_pass = model_info(&serve(Some("conditional"), "90002", 8));
    assert_eq!(one_pass["diffusion"], Value::Null);
}

#[test]
fn diffusion_guidance_steps_scheduler_and_class_change_the_image() {
    let served = serve(Some(TINY_COND), "00961", 8);
    let client = Client::new();
    let url = served.url("/api/sample");
    let base =
        json!({ "seed": 4, "class": "b", "guidance": 3.0, "steps": 12, "scheduler": "ddim" });
    let (status, first) = post(&client, &url, &base);
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["diffusion"]["scheduler"], "DDIMScheduler");
    assert_eq!(first["diffusion"]["steps"], 12);
    assert_eq!(first["diffusion"]["guidance"], 3.0);
    assert_eq!(first["label"], "b");
    let (_, again) = post(&client, &url, &base);
    assert_eq!(again["image"], first["image"], "deterministic");
    for (key, value) in [
        ("guidance", json!(1.0)),
        ("guidance", json!(6.0)),
        ("steps", json!(5)),
        ("scheduler", json!("euler")),
        ("class", json!("a")),
        ("seed", json!(5)),
    ] {
        let mut body = base.clone();
        body[key] = value.clone();
        let (status, other) = post(&client, &url, &body);
        assert_eq!(status, StatusCode::OK, "{body}: {other}");
        assert_ne!(
            other["image"], first["image"],
            "{key} = {value} changes the image"
        );
    }
    // Without choices, the package's defaults: 12 DDIM steps, guidance 3.
    let (_, defaults) = post(&client, &url, &json!({ "seed": 4, "class": "b" }));
    assert_eq!(defaults["image"], first["image"]);
}

#[test]
fn diffusion_bad_choices_are_a_400_with_the_cores_message() {
    let served = serve(Some(TINY_COND), "00961", 8);
    let client = Client::new();
    let url = served.url("/api/sample");
    let (status, answer) = post(&client, &url, &json!({ "seed": 1, "scheduler": "heun" }));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"].as_str().unwrap();
    for known in [
        "heun",
        "DDIMScheduler",
        "euler-a",
        "dpm++",
        "unipc",
        "PNDMScheduler",
    ] {
        assert!(message.contains(known), "names {known}: {message}");
    }
    let cases = [
        (json!({ "seed": 1, "steps": 0 }), "steps"),
        (json!({ "seed": 1, "steps": 1001 }), "steps"),
        (json!({ "seed": 1, "guidance": -1.0 }), "guidance"),
        (json!({ "seed": 1, "trajectory": 13 }), "at most 12"),
        (json!({ "seed": 1, "class": "c" }), "c"),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&client, &url, &body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message}");
    }
    // A one-pass model takes no diffusion choices.
    let one_pass = serve(Some("conditional"), "90002", 8);
    let (status, answer) = post(
        &client,
        &one_pass.url("/api/sample"),
        &json!({ "seed": 1, "steps": 5 }),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not a diffusion model")
    );
    let (status, _) = post(&client, &url, &json!({ "seed": 1 }));
    assert_eq!(status, StatusCode::OK, "still serving");
}

#[test]
fn diffusion_trajectory_strip_has_the_requested_count() {
    let served = serve(Some(TINY_COND), "00961", 8);
    let client = Client::new();
    let url = served.url("/api/sample");
    for (scheduler, frames, source) in [
        ("ddim", 4, "scheduler"),
        ("pndm", 6, "estimated"),
        ("ddpm", 1, "scheduler"),
        ("dpm++", 0, ""),
    ] {
        let body = json!({ "seed": 2, "steps": 10, "scheduler": scheduler, "trajectory": frames });
        let (status, answer) = post(&client, &url, &body);
        assert_eq!(status, StatusCode::OK, "{answer}");
        let run = &answer["diffusion"];
        let strip = run["trajectory"].as_array().unwrap();
        assert_eq!(strip.len(), frames, "{scheduler}: {run}");
        assert_eq!(run["trajectory_missing"], Value::Null);
        let steps: Vec<u64> = strip.iter().map(|f| f["step"].as_u64().unwrap()).collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
        if let Some(last) = steps.last() {
            assert_eq!(*last, run["denoiser_steps"].as_u64().unwrap());
        }
        for frame in strip {
            assert_eq!(frame["source"], source, "{scheduler}");
            assert!(!png_bytes(&frame["image"]).is_empty());
        }
    }
    // The default strip: six frames, the first still noisy, different from the last.
    let (_, answer) = post(&client, &url, &json!({ "seed": 2 }));
    let strip = answer["diffusion"]["trajectory"].as_array().unwrap();
    assert_eq!(strip.len(), 6);
    assert_ne!(strip[0]["image"], strip[5]["image"]);
}

/// The page's image is sample 0 of `medigan generate MODEL -n 1 --seed S` with the same steps,
/// scheduler, guidance and class, pixel for pixel; and Save records that command.
#[test]
fn diffusion_image_equals_generate_for_the_same_seed_and_choices() {
    use medigan::catalog::CatalogSettings;
    use medigan::generate::{DiffusionOptions, GenerateRequest, Guidance};
    use medigan::home::Home;
    use medigan::output::Format;
    use medigan::progress::NoProgress;
    use medigan::runtime::BackendKind;
    use medigan::{Generators, Settings};

    for (case, model, body, label, steps, scheduler, guidance) in [
        (
            TINY_COND,
            "00961_TINY_COND_DIFFUSION",
            json!({ "seed": 9, "class": "a", "steps": 7, "scheduler": "euler-a", "guidance": 2.5 }),
            Some("a"),
            Some(7),
            Some("euler-a"),
            Some(2.5),
        ),
        (
            "diffusion/tiny_latent",
            "00962_TINY_LATENT_DIFFUSION",
            json!({ "seed": 11 }),
            None,
            None,
            None,
            None,
        ),
    ] {
        let served = serve(Some(case), model, 8);
        let client = Client::new();
        let (status, shown) = post(&client, &served.url("/api/sample"), &body);
        assert_eq!(status, StatusCode::OK, "{shown}");

        let home = tempfile::tempdir().unwrap();
        let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(case)
            .join("medigan.json");
        let generators = Generators::new(Settings {
            home: Home::new(home.path().join("home")),
            catalog: CatalogSettings {
                explicit: vec![catalog.display().to_string()],
                offline: true,
                ..Default::default()
            },
            backend: Some(BackendKind::Tract),
            verify: false,
        });
        let request = GenerateRequest {
            num_samples: 1,
            seed: body["seed"].as_u64().unwrap(),
            label: label.map(str::to_string),
            diffusion: DiffusionOptions {
                steps,
                scheduler: scheduler.map(str::to_string),
                guidance: guidance.map(|g| Guidance::new(g).unwrap()),
                spacing: None,
                prompt: None,
            },
            ..GenerateRequest::default()
        };
        let out = home.path().join("out");
        generators
            .generate(model, &request, &out, Format::Npy, &NoProgress)
            .unwrap();
        let (generated, _) =
            medigan::formats::npy::decode(&std::fs::read(out.join("00000.npy")).unwrap()).unwrap();
        let entry: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
        let range = &entry[model]["execution"]["onnx"]["outputs"][0]["range"];
        let range = [0, 1].map(|i| range[i].as_f64().unwrap());
        let expected = medigan::formats::png::encode_u8(&generated, range).unwrap();
        assert_eq!(png_bytes(&shown["image"]), expected, "{case}");

        let (status, saved) = post(&client, &served.url("/api/save"), &body);
        assert_eq!(status, StatusCode::OK, "{saved}");
        let json = saved["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .find(|f| f.ends_with(".json"))
            .unwrap()
            .to_string();
        let record: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        let command = record["regenerate"].as_str().unwrap();
        let expected_command = match case {
            TINY_COND => format!(
                "medigan generate {model} -n 1 --seed 9 -o OUT --label a --steps 7 \
                 --scheduler EulerAncestralDiscreteScheduler --guidance 2.5"
            ),
            _ => format!(
                "medigan generate {model} -n 1 --seed 11 -o OUT --steps 12 --scheduler DDIMScheduler"
            ),
        };
        assert_eq!(command, expected_command);
    }
}

/// Diffusion requests that pile up are stopped between steps by the newest (204), which is
/// answered.
#[test]
fn diffusion_requests_are_superseded_between_steps_by_the_newest() {
    let served = serve(Some(TINY_COND), "00961", 8);
    let url = served.url("/api/sample");
    let statuses: Vec<StatusCode> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|seed| {
                let url = url.clone();
                scope.spawn(move || {
                    Client::new()
                        .post(&url)
                        .json(&json!({ "seed": seed, "steps": 300, "scheduler": "ddpm" }))
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
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    let (status, _) = post(&Client::new(), &url, &json!({ "seed": 1, "steps": 3 }));
    assert_eq!(status, StatusCode::OK);
}

/// Issue 26, finding 9: a client that sent half a request kept the server from stopping (the
/// graceful shutdown waited for it); `stop` now returns within a second or two.
#[test]
fn regression_26_stop_returns_with_a_half_sent_request_open() {
    use std::io::Write;
    let served = serve(Some("conditional"), "90002", 8);
    let address = served
        .server
        .url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: appl")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (stopped, done) = std::sync::mpsc::channel();
    let common::Served { server, .. } = served;
    std::thread::spawn(move || {
        server.stop();
        let _ = stopped.send(());
    });
    let waited = done.recv_timeout(std::time::Duration::from_secs(3));
    drop(stream);
    assert!(
        waited.is_ok(),
        "the server still waits for the half-sent request"
    );
}
