//! What a model's metadata says about its images that medical formats record: the DICOM
//! modality (from `selection.modality`) and the voxel spacing (from the output's `spacing`).
//! Part of the catalogue (validation checks the spacing with it); the writers in
//! `crate::formats` take the answers through `Provenance`.

use serde_json::Value;

use crate::formats::OutputError;

/// The DICOM modality code for the first of a model's `selection.modality` terms that names one
/// (case-insensitive): a code itself (`MG`, `CT`, `MR`, `DX`, `CR`, `US`, `PT`, `NM`, `ES`,
/// `XC`, `OCT`, `SM`, `OT`) or a common name (`mammography`/`MMG` -> `MG`, `MRI`/`T1`/`T2`/`Flair`
/// -> `MR`, `x-ray`/`CXR` -> `DX`, `endoscopy` -> `ES`, `ultrasound` -> `US`, `PET` -> `PT`,
/// `histopathology` -> `SM`, ...). `None` when no term does.
pub fn dicom_modality(terms: &[String]) -> Option<&'static str> {
    terms.iter().find_map(|term| modality_of(term))
}

fn modality_of(term: &str) -> Option<&'static str> {
    let term = term.trim().to_ascii_lowercase();
    let code = match term.as_str() {
        "mg"
        | "mmg"
        | "mammography"
        | "mammogram"
        | "digital mammography"
        | "digital mmg"
        | "full-field digital mmg"
        | "full-field mmg"
        | "full-field mammography"
        | "x-ray mammography"
        | "dbt"
        | "tomosynthesis" => "MG",
        "ct" | "computed tomography" | "cect" | "ldct" | "low-dose ct" => "CT",
        "mr" | "mri" | "brain mri" | "cranial mri" | "cardiac mri" | "dce-mri" | "t1" | "t2"
        | "t1c" | "t1-weighted" | "t2-weighted" | "flair" | "magnetic resonance" => "MR",
        "dx" | "x-ray" | "xray" | "cxr" | "chest x-ray" | "radiography" => "DX",
        "cr" => "CR",
        "us" | "ultrasound" | "sonography" => "US",
        "pt" | "pet" => "PT",
        "nm" | "spect" | "scintigraphy" => "NM",
        "es" | "endoscopy" | "gastrointestinal endoscopy" | "colonoscopy" => "ES",
        "xc" | "dermoscopy" | "dermatology" | "photograph" => "XC",
        "oct" | "optical coherence tomography" => "OCT",
        "op" | "fundus" | "fundus photography" | "retinal imaging" => "OP",
        "sm" | "histopathology" | "pathology" | "whole slide imaging" => "SM",
        "ot" => "OT",
        _ => return None,
    };
    Some(code)
}

/// The output's declared `spacing` (`value`, read from `field`): positive numbers in mm, one per
/// spatial axis of `shape` (`[row, column]` for `[C, H, W]`, `[slice, row, column]` for
/// `[C, D, H, W]`). `None` when absent or `null`; an error naming the field when malformed.
pub fn declared_spacing(
    value: Option<&Value>,
    field: &str,
    shape: &[usize],
) -> Result<Option<Vec<f64>>, OutputError> {
    let bad = |reason: String| OutputError::Metadata {
        field: field.to_string(),
        reason,
    };
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(bad(format!("must be a list of numbers (mm), got {other}"))),
    };
    let axes = shape.len().saturating_sub(1);
    if list.len() != axes {
        return Err(bad(format!(
            "has {} values but the output {shape:?} has {axes} spatial axes (give \
             [row, column] in 2D, [slice, row, column] in 3D)",
            list.len()
        )));
    }
    list.iter()
        .map(|v| match v.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(bad(format!(
                "values must be positive numbers (mm), got {v}"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modality_terms_map_to_codes() {
        let terms = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            dicom_modality(&terms(&["full-field digital", "Mammography"])),
            Some("MG")
        );
        assert_eq!(dicom_modality(&terms(&["CT", "test fixture"])), Some("CT"));
        assert_eq!(dicom_modality(&terms(&["T1", "T2"])), Some("MR"));
        assert_eq!(dicom_modality(&terms(&["xray", "CXR"])), Some("DX"));
        assert_eq!(dicom_modality(&terms(&["test fixture"])), None);
    }

    #[test]
    fn spacing_is_checked_against_the_shape() {
        let field = "execution.onnx.outputs[0].spacing";
        assert_eq!(
            declared_spacing(Some(&json!([0.5, 0.25])), field, &[1, 4, 4]).unwrap(),
            Some(vec![0.5, 0.25])
        );
        assert_eq!(declared_spacing(None, field, &[1, 4, 4]).unwrap(), None);
        for bad in [json!([1.0]), json!([1, 0]), json!("1mm"), json!([1, "a"])] {
            let error = declared_spacing(Some(&bad), field, &[1, 4, 4]).unwrap_err();
            assert!(error.to_string().contains(field), "{error}");
        }
        assert!(declared_spacing(Some(&json!([2, 1, 1])), field, &[1, 8, 4, 4]).is_ok());
    }
}
