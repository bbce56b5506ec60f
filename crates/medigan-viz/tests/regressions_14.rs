//! Regression tests of issue #14 (reliability and security) for the visualiser, each named
//! after its defect.

mod common;

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{HOST, ORIGIN};
use serde_json::{Value, json};

use common::{serve, serve_saving_to};

fn saved_files(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn defect_06_a_rebound_host_or_foreign_origin_cannot_save() {
    let served = serve(None, "00900", 8);
    let client = Client::new();
    let port = reqwest::Url::parse(served.server.url())
        .unwrap()
        .port()
        .unwrap();
    let rebound = client
        .post(served.url("/api/save"))
        .header(HOST, format!("attacker.example:{port}"))
        .json(&json!({ "seed": 1 }))
        .send()
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    let message: Value = rebound.json().unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("attacker.example"),
        "{message}"
    );
    let cross_site = client
        .post(served.url("/api/save"))
        .header(ORIGIN, "http://attacker.example")
        .json(&json!({ "seed": 1 }))
        .send()
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert!(
        saved_files(&served.save_dir).is_empty(),
        "refused requests saved {:?}",
        saved_files(&served.save_dir)
    );

    let own_page = client
        .post(served.url("/api/save"))
        .header(ORIGIN, served.server.url().trim_end_matches('/'))
        .json(&json!({ "seed": 1 }))
        .send()
        .unwrap();
    assert_eq!(
        own_page.status(),
        StatusCode::OK,
        "the page itself may save"
    );
}

#[test]
fn defect_10_concurrent_saves_each_keep_their_latent() {
    let served = serve(None, "00900", 8);
    let url = served.url("/api/save");
    let saves = 50;
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..saves)
            .map(|i| {
                let url = url.clone();
                scope.spawn(move || {
                    let mut offsets = vec![0.0; 4];
                    offsets[0] = 0.01 * (i + 1) as f64;
                    let response = Client::new()
                        .post(&url)
                        .json(&json!({ "seed": 7, "offsets": offsets }))
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    response.json::<Value>().unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut records = Vec::new();
    for answer in &answers {
        let json = answer["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .find(|f| f.ends_with(".json"))
            .unwrap();
        records.push(json.to_string());
    }
    records.sort();
    records.dedup();
    assert_eq!(records.len(), saves, "every save reports a file of its own");
    let mut first_offsets: Vec<String> = records
        .iter()
        .map(|path| {
            let record: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            record["offsets"][0].to_string()
        })
        .collect();
    first_offsets.sort();
    first_offsets.dedup();
    assert_eq!(
        first_offsets.len(),
        saves,
        "no save overwrote another's latent"
    );
}

#[test]
fn defect_17_the_regenerate_command_is_shell_quoted() {
    let served = serve_saving_to(None, "00900", 8, "it's saved $(here)");
    let response = Client::new()
        .post(served.url("/api/save"))
        .json(&json!({ "seed": 2, "offsets": [1.0, 0.0, 0.0, 0.0] }))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let record: Value = serde_json::from_slice(
        &std::fs::read(served.save_dir.join("00900_PHANTOM_DEMO-seed2.json")).unwrap(),
    )
    .unwrap();
    let command = record["regenerate"].as_str().unwrap();
    let latent = served.save_dir.join("00900_PHANTOM_DEMO-seed2.json");
    // What a POSIX shell makes of the command: `sh` prints each word on its own line.
    let words = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\n' {command}"))
        .output()
        .unwrap();
    let words: Vec<String> = String::from_utf8(words.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        words.last().unwrap(),
        &latent.display().to_string(),
        "{command}"
    );
    assert_eq!(words[..2], ["medigan", "generate"], "{command}");
}
