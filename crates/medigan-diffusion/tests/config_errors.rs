//! Bad configs and requests are refused with errors that name the field, the value and what is
//! accepted.

use medigan_diffusion::{SchedulerConfig, SchedulerError, make_scheduler};

fn config(json: &str) -> SchedulerConfig {
    SchedulerConfig::from_json(json).unwrap()
}

#[test]
fn unknown_enum_value_names_the_field_and_the_accepted_values() {
    let err =
        SchedulerConfig::from_json(r#"{"_class_name": "DDIMScheduler", "beta_schedule": "cubic"}"#)
            .unwrap_err()
            .to_string();
    assert!(err.contains("`beta_schedule`"), "{err}");
    assert!(
        err.contains("cubic") && err.contains("scaled_linear"),
        "{err}"
    );

    let err = SchedulerConfig::from_json(r#"{"prediction_type": "noise"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`prediction_type`") && err.contains("v_prediction"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let err = SchedulerConfig::from_json(r#"{"num_train_timesteps": "many"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`num_train_timesteps`"), "{err}");
    let err = SchedulerConfig::from_json(r#"{"beta_start": "small"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`beta_start`"), "{err}");
}

#[test]
fn unknown_fields_and_python_infinity_are_read() {
    let cfg = config(
        r#"{"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.42.1",
            "lambda_min_clipped": -Infinity, "some_future_field": [1, 2], "note": "NaN stays text"}"#,
    );
    assert_eq!(cfg.lambda_min_clipped, Some(f64::NEG_INFINITY));
    assert!(cfg.extra.contains_key("some_future_field"));
    assert_eq!(cfg.extra["note"], "NaN stays text");
    assert!(make_scheduler(&cfg, None, 10).is_ok());
}

#[test]
fn zero_steps_and_more_than_training_steps_are_refused() {
    let cfg = config(r#"{"_class_name": "DDIMScheduler", "num_train_timesteps": 100}"#);
    for steps in [0, 101] {
        let err = make_scheduler(&cfg, None, steps).err().unwrap();
        assert!(
            matches!(err, SchedulerError::Steps { max: 100, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("1 to 100"), "{err}");
    }
    assert!(make_scheduler(&cfg, None, 100).is_ok());
    for name in [
        "euler",
        "euler-a",
        "dpm++",
        "unipc",
        "pndm",
        "ddpm",
        "rflow",
        "flow-match",
    ] {
        assert!(make_scheduler(&cfg, Some(name), 0).is_err(), "{name}");
        assert!(make_scheduler(&cfg, Some(name), 1000).is_err(), "{name}");
    }
}

#[test]
fn unknown_scheduler_lists_the_known_ones() {
    let cfg = config(r#"{"_class_name": "DDIMScheduler"}"#);
    let err = make_scheduler(&cfg, Some("heun"), 10)
        .err()
        .unwrap()
        .to_string();
    for known in [
        "DDIMScheduler",
        "dpm++",
        "euler-a",
        "unipc",
        "monai.networks.schedulers.RFlowScheduler",
        "rflow",
    ] {
        assert!(err.contains(known), "{known} missing from: {err}");
    }
    let err = make_scheduler(&config("{}"), None, 10).err().unwrap();
    assert!(matches!(err, SchedulerError::MissingClassName), "{err}");
}

#[test]
fn names_and_aliases_match_ignoring_case() {
    let cfg = config(r#"{"_class_name": "DDIMScheduler"}"#);
    let cases = [
        ("ddim", "DDIMScheduler"),
        ("ddimscheduler", "DDIMScheduler"),
        ("DPM++", "DPMSolverMultistepScheduler"),
        ("dpmpp", "DPMSolverMultistepScheduler"),
        ("Euler-A", "EulerAncestralDiscreteScheduler"),
        ("EULER", "EulerDiscreteScheduler"),
        ("unipc", "UniPCMultistepScheduler"),
        ("pndm", "PNDMScheduler"),
        ("ddpm", "DDPMScheduler"),
        ("flow-match", "FlowMatchEulerDiscreteScheduler"),
        ("rflow", "monai.networks.schedulers.RFlowScheduler"),
        ("RFlowScheduler", "monai.networks.schedulers.RFlowScheduler"),
        (
            "monai.networks.schedulers.DDPMScheduler",
            "monai.networks.schedulers.DDPMScheduler",
        ),
        ("monai-ddim", "monai.networks.schedulers.DDIMScheduler"),
    ];
    for (name, class) in cases {
        let s = make_scheduler(&cfg, Some(name), 10).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name(), class, "{name}");
    }
}

#[test]
fn monai_configs_pick_monai_classes() {
    // A MONAI bundle's scheduler: `_target_` and MONAI's `schedule` field.
    let cfg = config(
        r#"{"_target_": "monai.networks.schedulers.DDIMScheduler", "num_train_timesteps": 1000,
            "schedule": "scaled_linear_beta", "beta_start": 0.0015, "beta_end": 0.0195, "clip_sample": false}"#,
    );
    assert_eq!(
        make_scheduler(&cfg, None, 50).unwrap().name(),
        "monai.networks.schedulers.DDIMScheduler"
    );
    // A bare class name over a MONAI config means MONAI's class.
    assert_eq!(
        make_scheduler(&cfg, Some("DDPMScheduler"), 50)
            .unwrap()
            .name(),
        "monai.networks.schedulers.DDPMScheduler"
    );
    let cfg = config(r#"{"schedule": "cosine"}"#);
    assert_eq!(
        make_scheduler(&cfg, Some("PNDMScheduler"), 50)
            .unwrap()
            .name(),
        "monai.networks.schedulers.PNDMScheduler"
    );
}

#[test]
fn switching_class_keeps_shared_fields() {
    // An SD-style DDIM config drives Euler with the same betas: its first sigma is SD's.
    let cfg = config(
        r#"{"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "clip_sample": false, "set_alpha_to_one": false, "steps_offset": 1}"#,
    );
    let euler = make_scheduler(&cfg, Some("euler"), 20).unwrap();
    assert!(
        (euler.init_noise_sigma() - 14.6146).abs() < 1e-3,
        "{}",
        euler.init_noise_sigma()
    );
}

#[test]
fn unsupported_options_name_the_field() {
    let cases = [
        (
            r#"{"_class_name": "EulerDiscreteScheduler", "use_beta_sigmas": true}"#,
            "use_beta_sigmas",
        ),
        (
            r#"{"_class_name": "DDPMScheduler", "variance_type": "learned_range"}"#,
            "variance_type",
        ),
        (
            r#"{"_class_name": "DPMSolverMultistepScheduler", "solver_order": 4}"#,
            "solver_order",
        ),
        (
            r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#,
            "use_dynamic_shifting",
        ),
        (
            r#"{"_class_name": "PNDMScheduler", "prediction_type": "sample"}"#,
            "prediction_type",
        ),
        (r#"{"_class_name": "DDIMScheduler", "eta": -1}"#, "eta"),
        (
            r#"{"_class_name": "DDIMScheduler", "trained_betas": [0.1, 0.2]}"#,
            "trained_betas",
        ),
        (
            r#"{"_class_name": "DDIMScheduler", "num_train_timesteps": 0}"#,
            "num_train_timesteps",
        ),
        (
            r#"{"_target_": "monai.networks.schedulers.RFlowScheduler", "sample_method": "normal"}"#,
            "sample_method",
        ),
    ];
    for (json, field) in cases {
        let err = make_scheduler(&config(json), None, 10)
            .err()
            .unwrap_or_else(|| panic!("{json} accepted"))
            .to_string();
        assert!(
            err.contains(&format!("`{field}`")),
            "{field} not named in: {err}"
        );
    }
}

#[test]
fn steps_out_of_order_or_bad_buffers_are_errors() {
    struct Zero;
    impl medigan_diffusion::NoiseSource for Zero {
        fn fill_standard_normal(&mut self, out: &mut [f32]) {
            out.fill(0.0);
        }
    }
    let cfg = config(r#"{"_class_name": "DPMSolverMultistepScheduler"}"#);
    let mut s = make_scheduler(&cfg, None, 10).unwrap();
    let mut sample = vec![0.5f32; 8];
    assert!(s.step(1, &[0.0; 8], &mut sample, 4, &mut Zero).is_err());
    assert!(s.step(0, &[0.0; 7], &mut sample, 4, &mut Zero).is_err());
    assert!(s.step(0, &[0.0; 8], &mut sample, 4, &mut Zero).is_ok());
    assert!(s.step(10, &[0.0; 8], &mut sample, 4, &mut Zero).is_err());
}

/// `save_pretrained` lists the fields that were never set in `_use_default_values`; diffusers
/// reads them as absent, so another class made from the config keeps its own defaults.
#[test]
fn fields_listed_as_defaults_do_not_carry_over_to_another_class() {
    let saved = config(
        r#"{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "steps_offset": 1,
            "timestep_spacing": "leading", "_use_default_values": ["timestep_spacing"]}"#,
    );
    let dpm = make_scheduler(&saved, Some("dpm++"), 4).unwrap();
    // DPM-Solver's own default spacing, linspace: 999 first (leading starts at 801).
    assert_eq!(dpm.timesteps()[0], 999.0, "{:?}", dpm.timesteps());
    let explicit = config(
        r#"{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "steps_offset": 1,
            "timestep_spacing": "leading"}"#,
    );
    let dpm = make_scheduler(&explicit, Some("dpm++"), 4).unwrap();
    assert_eq!(dpm.timesteps()[0], 801.0, "{:?}", dpm.timesteps());
}
