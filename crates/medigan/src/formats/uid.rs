//! DICOM unique identifiers under the UUID root `2.25` (DICOM PS3.5 B.2): a random (version 4)
//! UUID written as one decimal number, so no organisation root has to be registered.

/// A fresh UID `2.25.<random UUID as a decimal integer>` (at most 44 characters).
pub fn fresh_uid() -> String {
    uuid_uid(rand::random::<u128>())
}

/// The UID of the UUID made from `bits` by setting the version (4, random) and variant (RFC 4122)
/// bits, as PS3.5 B.2 asks.
pub(crate) fn uuid_uid(bits: u128) -> String {
    let version = (bits & !(0xF << 76)) | (0x4 << 76);
    let uuid = (version & !(0x3 << 62)) | (0x2 << 62);
    format!("2.25.{uuid}")
}

/// Whether `uid` is a well-formed UID: at most 64 characters, dot-separated numeric components
/// without leading zeros (PS3.5 9.1).
pub fn is_valid_uid(uid: &str) -> bool {
    uid.len() <= 64
        && uid.split('.').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_valid_unique_and_carry_the_uuid_bits() {
        let a = fresh_uid();
        let b = fresh_uid();
        assert_ne!(a, b);
        for uid in [&a, &b, &uuid_uid(0), &uuid_uid(u128::MAX)] {
            assert!(is_valid_uid(uid), "{uid}");
            assert!(uid.starts_with("2.25."), "{uid}");
            let value: u128 = uid[5..].parse().expect("decimal");
            assert_eq!((value >> 76) & 0xF, 4, "version 4 in {uid}");
            assert_eq!((value >> 62) & 0x3, 2, "RFC 4122 variant in {uid}");
        }
        assert!(!is_valid_uid("1.02.3"));
        assert!(!is_valid_uid("1..3"));
    }
}
