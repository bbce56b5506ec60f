//! Model values to integer levels and back: the one linear mapping of every integer format
//! (8-bit PNG and DICOM RGB, 16-bit PNG and DICOM gray). `range` is the value range the model
//! declares; `range[0]` becomes level 0 and `range[1]` the top level. Values outside are
//! clamped, NaN becomes 0, and levels are rounded to nearest.

/// `value` as an 8-bit level (computed in f32, as the 8-bit PNG writer always has).
pub fn to_u8(value: f32, range: [f64; 2]) -> u8 {
    let scale = 255.0 / (range[1] - range[0]) as f32;
    ((value - range[0] as f32) * scale)
        .round()
        .clamp(0.0, 255.0) as u8
}

/// `value` as a 16-bit level (computed in f64).
pub fn to_u16(value: f32, range: [f64; 2]) -> u16 {
    let scaled = (f64::from(value) - range[0]) / (range[1] - range[0]) * 65535.0;
    scaled.round().clamp(0.0, 65535.0) as u16
}

/// The model value of `level` out of `top` (255 or 65535): the inverse of [`to_u8`] and
/// [`to_u16`] up to half a step.
pub fn from_level(level: f32, top: f32, range: [f64; 2]) -> f32 {
    let scale = (range[1] - range[0]) as f32 / top;
    level * scale + range[0] as f32
}

/// The largest difference between a value in `range` and its value after a round trip through
/// `top` levels: half a step.
pub fn half_step(top: f32, range: [f64; 2]) -> f32 {
    (range[1] - range[0]) as f32 / top / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_the_range_are_the_ends_of_the_levels() {
        let range = [-1.0, 1.0];
        assert_eq!((to_u8(-1.0, range), to_u8(1.0, range)), (0, 255));
        assert_eq!((to_u16(-1.0, range), to_u16(1.0, range)), (0, 65535));
        assert_eq!((to_u8(-7.0, range), to_u8(7.0, range)), (0, 255));
        assert_eq!((to_u8(f32::NAN, range), to_u16(f32::NAN, range)), (0, 0));
        assert_eq!(from_level(255.0, 255.0, range), 1.0);
        assert_eq!(from_level(0.0, 65535.0, range), -1.0);
    }

    #[test]
    fn a_round_trip_is_within_half_a_step() {
        let range = [0.0, 1.0];
        for i in 0..=1000 {
            let v = i as f32 / 1000.0;
            let back8 = from_level(f32::from(to_u8(v, range)), 255.0, range);
            let back16 = from_level(f32::from(to_u16(v, range)), 65535.0, range);
            assert!((back8 - v).abs() <= half_step(255.0, range) * 1.001, "{v}");
            assert!(
                (back16 - v).abs() <= half_step(65535.0, range) * 1.001,
                "{v}"
            );
        }
    }
}
