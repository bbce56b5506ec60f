//! The page in a real headless Chromium, driven over WebDriver (chromedriver): moving a slider
//! changes the image, Seed changes it, Reset restores the exact image of the last seed, an
//! image+mask model shows both images, and a diffusion model's steps, scheduler and guidance
//! change its image and trajectory strip.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them). Without them the tests say so and pass, except under `CI=true`, where a
//! missing browser is a failure. `MEDIGAN_SCREENSHOT=FILE.png` also writes a screenshot of the
//! page (how `docs/visualize.png` was made).

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use common::serve;

/// The W3C WebDriver key for the right arrow.
const ARROW_RIGHT: &str = "\u{E014}";
/// The W3C WebDriver key for Enter.
const ENTER: &str = "\u{E007}";
/// The W3C name of the element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver and chromium, or `None` after saying why the test cannot run.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let driver = find_program("CHROMEDRIVER", &["chromedriver"]);
    let chrome = find_program(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    match (driver, chrome) {
        (Some(driver), Some(chrome)) => Some((driver, chrome)),
        _ => {
            medigan_testkit::skip(
                "the browser test",
                "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
            );
            None
        }
    }
}

/// A WebDriver session in a headless Chromium; the browser and driver end when dropped.
struct Browser {
    driver: Child,
    base: String,
    client: Client,
}

impl Browser {
    fn start(driver: &PathBuf, chrome: &PathBuf) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let root = format!("http://127.0.0.1:{port}");
        wait_for(Duration::from_secs(20), "chromedriver to listen", || {
            client
                .get(format!("{root}/status"))
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        });
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,760"],
            },
        }}});
        let answer: Value = client
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        Browser {
            driver: child,
            base: format!("{root}/session/{session}"),
            client,
        }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().unwrap().json().unwrap();
        assert!(
            answer["value"].get("error").is_none(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
    }

    fn script(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
    }

    fn element(&self, css: &str) -> String {
        let body = json!({ "using": "css selector", "value": css });
        let found = self.call(reqwest::Method::POST, "/element", Some(body));
        found[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        );
    }

    fn keys(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Empties an input.
    fn clear(&self, css: &str) {
        let id = self.element(css);
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        );
    }

    /// The `src` of an image element.
    fn src(&self, id: &str) -> String {
        self.script(&format!("return document.getElementById('{id}').src;"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until the image `id` shows something other than `old` (and no request is running).
    fn wait_for_new_image(&self, id: &str, old: &str) -> String {
        wait_for(Duration::from_secs(20), "the image to change", || {
            let src = self.src(id);
            (src.starts_with("data:image/png") && src != old).then_some(src)
        });
        self.settled(id)
    }

    /// The image once the page has stopped updating it.
    fn settled(&self, id: &str) -> String {
        let mut last = self.src(id);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.src(id);
            if now == last {
                return now;
            }
            last = now;
        }
    }

    fn screenshot(&self, path: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
        eprintln!("screenshot written to {path}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.client.delete(&self.base).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn wait_for<T>(limit: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sliders_seed_and_reset_drive_the_image_in_chromium() {
    let Some((driver, chrome)) = browser() else {
        return;
    };
    let served = serve(None, "00900", 4);
    let browser = Browser::start(&driver, &chrome);
    browser.open(served.server.url());
    let first = browser.wait_for_new_image("image", "");
    assert_eq!(
        browser.script("return document.querySelectorAll('.slider').length;"),
        json!(8),
        "32 latent dimensions in groups of 4"
    );

    browser.keys(".slider", &ARROW_RIGHT.repeat(30));
    let moved = browser.wait_for_new_image("image", &first);
    assert_ne!(moved, first, "moving a slider changes the image");

    browser.click("#seed");
    let seeded = browser.wait_for_new_image("image", &moved);
    assert_ne!(seeded, first, "Seed draws a new latent");
    let slider = browser.script("return document.querySelector('.slider').value;");
    assert_eq!(slider, json!("0"), "Seed puts the sliders back to zero");

    browser.keys(".slider", &ARROW_RIGHT.repeat(30));
    let moved_again = browser.wait_for_new_image("image", &seeded);
    browser.click("#reset");
    let reset = browser.wait_for_new_image("image", &moved_again);
    assert_eq!(
        reset, seeded,
        "Reset restores the exact image of the last seed"
    );

    if let Ok(path) = std::env::var("MEDIGAN_SCREENSHOT") {
        browser.keys(".slider", &ARROW_RIGHT.repeat(12));
        browser.wait_for_new_image("image", &reset);
        browser.script("window.scrollTo(0, 0); return null;");
        browser.screenshot(&path);
    }
}

#[test]
fn an_image_mask_model_shows_both_images_in_chromium() {
    let Some((driver, chrome)) = browser() else {
        return;
    };
    let served = serve(Some("image_mask"), "90003", 8);
    let browser = Browser::start(&driver, &chrome);
    browser.open(served.server.url());
    let image = browser.wait_for_new_image("image", "");
    let mask = browser.wait_for_new_image("mask", "");
    assert!(image.starts_with("data:image/png;base64,"));
    assert!(mask.starts_with("data:image/png;base64,"));
    assert_ne!(image, mask);
    let visible = browser.script("return !document.getElementById('mask-box').hidden;");
    assert_eq!(visible, json!(true), "the mask is shown beside the image");
}

/// The table's cell "visualize" for a legacy package with a latent, in a real browser: a
/// slider moves the image (the package gets the moved `input_latent_vector`), and Reset
/// restores the seed's image byte for byte.
#[test]
fn a_legacy_model_with_a_latent_is_driven_by_its_sliders_in_chromium() {
    if !common::python_has_numpy() {
        return;
    }
    let Some((driver, chrome)) = browser() else {
        return;
    };
    let served = common::serve_legacy(common::LEGACY_LATENT_MODEL, Some(16), 4);
    let browser = Browser::start(&driver, &chrome);
    browser.open(served.server.url());
    let first = browser.wait_for_new_image("image", "");
    assert_eq!(
        browser.script("return document.querySelectorAll('.slider').length;"),
        json!(4),
        "16 latent values in groups of 4"
    );
    browser.keys(".slider", &ARROW_RIGHT.repeat(30));
    let moved = browser.wait_for_new_image("image", &first);
    assert_ne!(moved, first, "moving a slider changes the image");
    browser.click("#reset");
    let reset = browser.wait_for_new_image("image", &moved);
    assert_eq!(reset, first, "Reset restores the exact image of the seed");
}

/// A diffusion model: no sliders but steps, scheduler, guidance and class; typing another number
/// of steps, picking another scheduler and moving guidance each change the image, the strip
/// under it follows (six frames, the last after the last step), and Reset gives back the
/// package's choices and their exact image. `MEDIGAN_SCREENSHOT_DIFFUSION=FILE.png` writes a
/// screenshot.
#[test]
fn a_diffusion_model_is_driven_by_its_steps_scheduler_and_guidance_in_chromium() {
    let Some((driver, chrome)) = browser() else {
        return;
    };
    let served = serve(Some("diffusion/tiny_cond"), "00961", 8);
    let browser = Browser::start(&driver, &chrome);
    browser.open(served.server.url());
    let first = browser.wait_for_new_image("image", "");
    let strip = |browser: &Browser| -> Vec<String> {
        serde_json::from_value(browser.script(
            "return [...document.querySelectorAll('#strip figcaption')].map(c => c.textContent);",
        ))
        .unwrap()
    };
    assert_eq!(
        browser.script("return document.querySelectorAll('.slider').length;"),
        json!(0),
        "no sliders"
    );
    assert_eq!(
        browser.script("return document.getElementById('diffusion-box').hidden;"),
        json!(false)
    );
    assert_eq!(
        browser.script("return document.getElementById('scheduler').value;"),
        json!("DDIMScheduler")
    );
    let captions = strip(&browser);
    assert_eq!(captions.len(), 6, "{captions:?}");
    assert!(captions[5].starts_with("step 12/12"), "{captions:?}");

    browser.clear("#steps");
    browser.keys("#steps", &format!("5{ENTER}"));
    let fewer_steps = browser.wait_for_new_image("image", &first);
    assert_ne!(fewer_steps, first, "steps change the image");
    let captions = strip(&browser);
    assert_eq!(captions.len(), 5, "five steps, five frames: {captions:?}");
    assert!(captions[4].starts_with("step 5/5"), "{captions:?}");

    browser.click("#scheduler option[value='EulerAncestralDiscreteScheduler']");
    let euler = browser.wait_for_new_image("image", &fewer_steps);
    assert_ne!(euler, fewer_steps, "the scheduler changes the image");
    let status = browser.script("return document.getElementById('status').textContent;");
    assert!(
        status
            .as_str()
            .unwrap()
            .contains("EulerAncestralDiscreteScheduler"),
        "{status}"
    );

    browser.click("#scheduler option[value='PNDMScheduler']");
    let pndm = browser.wait_for_new_image("image", &euler);
    let note = browser.script("return document.getElementById('strip-note').textContent;");
    assert!(note.as_str().unwrap().contains("estimated"), "{note}");

    browser.keys("#guidance", &ARROW_RIGHT.repeat(15));
    let guided = browser.wait_for_new_image("image", &pndm);
    assert_ne!(guided, pndm, "guidance changes the image");

    browser.click("#reset");
    let reset = browser.wait_for_new_image("image", &guided);
    assert_eq!(reset, first, "Reset gives back the package's choices");

    if let Ok(path) = std::env::var("MEDIGAN_SCREENSHOT_DIFFUSION") {
        browser.click("#scheduler option[value='DPMSolverMultistepScheduler']");
        browser.wait_for_new_image("image", &reset);
        browser.script("window.scrollTo(0, 0); return null;");
        browser.screenshot(&path);
    }
}
