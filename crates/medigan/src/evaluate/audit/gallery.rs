//! The audit's gallery: the closest synthetic-training pairs side by side, for a person to look
//! at. An `index.html` with relative PNGs (`pairs/NNN-synthetic.png`, `pairs/NNN-train.png`),
//! built in a temporary folder beside the target and renamed into place when complete.

use std::path::{Path, PathBuf};

use ndarray::{Array3, Axis};

use super::super::ImageSet;
use super::super::error::EvaluateError;
use super::super::images::ReadOptions;
use super::AuditReport;

/// Writes the `pairs` closest pairs (flagged first, then by pixel similarity) of `report` into
/// the folder `out`, which must not exist or be empty. Returns the page's path.
pub fn write_gallery(
    report: &AuditReport,
    synthetic: &ImageSet,
    train: &ImageSet,
    out: &Path,
    pairs: usize,
    read: &ReadOptions,
) -> Result<PathBuf, EvaluateError> {
    refuse_non_empty(out)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(EvaluateError::io("create", &parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".medigan-gallery-")
        .tempdir_in(&parent)
        .map_err(EvaluateError::io("create a folder in", &parent))?;
    let pairs_dir = staging.path().join("pairs");
    std::fs::create_dir(&pairs_dir).map_err(EvaluateError::io("create", &pairs_dir))?;
    let mut chosen: Vec<_> = report.matches.iter().collect();
    chosen.sort_by(|a, b| {
        b.flagged
            .cmp(&a.flagged)
            .then(b.pixel_similarity.total_cmp(&a.pixel_similarity))
    });
    let mut rows = String::new();
    for (n, m) in chosen.iter().take(pairs).enumerate() {
        for (image, suffix) in [
            (synthetic.images.get(m.synthetic), "synthetic"),
            (train.images.get(m.pixel_nearest), "train"),
        ] {
            let Some(image) = image else { continue };
            let path = pairs_dir.join(format!("{n:03}-{suffix}.png"));
            let bytes = png_bytes(&image.load(read)?, &path)?;
            std::fs::write(&path, bytes).map_err(EvaluateError::io("write", &path))?;
        }
        rows.push_str(&format!(
            "<tr{}><td>{n}</td><td><img src=\"pairs/{n:03}-synthetic.png\"><br>{}</td>\
             <td><img src=\"pairs/{n:03}-train.png\"><br>{}{}</td><td>{:.4}</td><td>{:.4}</td>\
             <td>{}</td></tr>\n",
            if m.flagged { " class=\"flag\"" } else { "" },
            escape(&m.synthetic_label),
            escape(&m.pixel_nearest_label),
            if m.pixel_flipped { " (mirrored)" } else { "" },
            m.pixel_similarity,
            m.feature_distance,
            if m.flagged { "likely copy" } else { "" },
        ));
    }
    let page = staging.path().join("index.html");
    std::fs::write(&page, html(report, &rows)).map_err(EvaluateError::io("write", &page))?;
    crate::fs::publish_dir(staging, out).map_err(|e| match e {
        crate::fs::PublishError::Replace(cause) => EvaluateError::io("replace", out)(cause),
        crate::fs::PublishError::Rename(source) => EvaluateError::Io {
            action: "move the gallery to",
            path: out.to_path_buf(),
            source,
        },
    })?;
    Ok(out.join("index.html"))
}

pub(crate) fn refuse_non_empty(out: &Path) -> Result<(), EvaluateError> {
    if out.is_file() {
        return Err(EvaluateError::InvalidOption {
            option: "gallery folder".into(),
            value: out.display().to_string(),
            reason: "it is a file; name a new or empty folder".into(),
        });
    }
    if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(EvaluateError::InvalidOption {
            option: "gallery folder".into(),
            value: out.display().to_string(),
            reason: "it is not empty; name a new or empty folder".into(),
        });
    }
    Ok(())
}

/// An 8-bit gray or RGB PNG of a `[C, H, W]` image in [0, 1].
fn png_bytes(image: &Array3<f32>, path: &Path) -> Result<Vec<u8>, EvaluateError> {
    let shown = if image.dim().0 >= 3 { 3 } else { 1 };
    let shown = image
        .slice_axis(Axis(0), (0..shown).into())
        .to_owned()
        .into_dyn();
    crate::formats::png::encode_u8(&shown, [0.0, 1.0]).map_err(|reason| EvaluateError::Image {
        path: path.to_path_buf(),
        reason,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(report: &AuditReport, rows: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>medigan audit: {subject}</title>\n\
         <style>body{{font-family:sans-serif}} img{{width:160px;image-rendering:pixelated}} \
         td{{padding:4px;vertical-align:top;font-size:12px}} tr.flag{{background:#fdd}}</style>\
         </head><body>\n<h1>Memorisation audit: {subject}</h1>\n\
         <p>{synthetic} synthetic images against {train} training images; calibration: \
         {calibration}. Flagged as likely copies: <b>{flagged}</b> (pixel correlation above \
         {pixel:.4} or feature distance below {feature:.4}).</p>\n\
         <table><tr><th>#</th><th>synthetic</th><th>closest training image</th>\
         <th>correlation</th><th>feature distance</th><th></th></tr>\n{rows}</table>\n\
         <p>{tool}, extractor {extractor}</p></body></html>\n",
        subject = escape(&report.subject),
        synthetic = report.synthetic_images,
        train = report.train_images,
        calibration = report.calibration,
        flagged = report.flagged,
        pixel = report.pixel_threshold,
        feature = report.feature_threshold,
        tool = escape(&report.provenance.tool),
        extractor = escape(&report.provenance.extractor),
    )
}
