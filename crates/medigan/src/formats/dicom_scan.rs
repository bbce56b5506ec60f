//! A walk over the element headers of a DICOM file before dicom-rs parses it, so that memory
//! stays bounded by the file's size: dicom-rs reserves the length an element declares, so a
//! corrupted length (a bit flip in a generated file) would make it allocate gigabytes.
//!
//! The walk reads the File Meta Information (explicit VR little endian) and, for the two
//! uncompressed little-endian transfer syntaxes, the data set: explicit or implicit VR, nested
//! sequences and items of defined and undefined length. It refuses, naming the tag, any element
//! whose declared length runs past the end of the file or of the item or sequence around it,
//! nesting deeper than [`MAX_DEPTH`], encapsulated pixel data, and a meta group length that
//! does not match the group. It follows the path dicom-rs takes (the same VRs with 2-byte
//! lengths, unknown VRs read as `UN`, the standard dictionary for implicit VR, undefined lengths
//! read as sequences), so every length dicom-rs will act on has been checked.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// The deepest nesting of sequences accepted.
pub const MAX_DEPTH: usize = 32;

/// Implicit VR little endian.
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR little endian.
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// What the walk learnt of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Where the `DICM` marker starts (128 after a preamble, 0 without one).
    pub start: usize,
    /// The transfer syntax UID of the data set.
    pub transfer_syntax: String,
}

/// Walks the file's element headers; an error names the first element that cannot be read
/// within the bytes present. The data set is walked only for uncompressed little-endian
/// syntaxes (the others are refused by the reader anyway).
pub fn scan(bytes: &[u8]) -> Result<Layout, String> {
    let start = match (bytes.get(128..132), bytes.get(..4)) {
        (Some(b"DICM"), _) => 128,
        (_, Some(b"DICM")) => 0,
        _ => return Err("not a DICOM file (no `DICM` marker after a 128-byte preamble)".into()),
    };
    let mut walk = Walk {
        bytes,
        explicit: true,
    };
    let (data_start, transfer_syntax) = walk.meta(start + 4)?;
    walk.explicit = match transfer_syntax.as_str() {
        EXPLICIT_VR_LE => true,
        IMPLICIT_VR_LE => false,
        _ => {
            return Ok(Layout {
                start,
                transfer_syntax,
            });
        }
    };
    walk.dataset(data_start, bytes.len(), false, 0)?;
    Ok(Layout {
        start,
        transfer_syntax,
    })
}

/// One element header: its tag, VR (`None` in implicit VR and for item tags), value length,
/// and where its value starts.
struct Header {
    tag: Tag,
    vr: Option<VR>,
    length: u32,
    value: usize,
}

struct Walk<'a> {
    bytes: &'a [u8],
    explicit: bool,
}

impl Walk<'_> {
    /// The File Meta Information group: where the data set starts and its transfer syntax.
    fn meta(&self, mut at: usize) -> Result<(usize, String), String> {
        let mut group_end = None;
        let mut syntax = None;
        while self.bytes.len() >= at + 4 && self.u16(at) == 0x0002 {
            let header = self.header(at, true)?;
            let end = self.value_end(&header, self.bytes.len())?;
            let value = &self.bytes[header.value..end];
            match header.tag {
                Tag(0x0002, 0x0000) if value.len() == 4 => {
                    let length = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                    group_end = Some(end.saturating_add(length as usize));
                }
                Tag(0x0002, 0x0010) => {
                    let text = String::from_utf8_lossy(value);
                    syntax = Some(text.trim_end_matches(['\0', ' ']).to_string());
                }
                _ => {}
            }
            at = end;
        }
        if let Some(expected) = group_end.filter(|&e| e != at) {
            return Err(format!(
                "the File Meta Information Group Length (0002,0000) says the group ends at byte \
                 {expected}, its elements end at byte {at}"
            ));
        }
        let syntax = syntax.ok_or("the file meta group has no Transfer Syntax UID (0002,0010)")?;
        Ok((at, syntax))
    }

    /// The elements from `at` up to `end` (a defined-length item or the file), or up to an
    /// item delimiter when `until_delimiter`; returns where the walk stopped.
    fn dataset(
        &self,
        mut at: usize,
        end: usize,
        until_delimiter: bool,
        depth: usize,
    ) -> Result<usize, String> {
        loop {
            if at == end && !until_delimiter {
                return Ok(at);
            }
            let header = self.header(at, self.explicit)?;
            if header.tag == ITEM_END && until_delimiter {
                return Ok(header.value);
            }
            if header.tag.0 == 0xFFFE {
                return Err(format!(
                    "unexpected item tag {} at byte {at}",
                    name(header.tag)
                ));
            }
            at = self.element(&header, end, depth)?;
            if at > end {
                return Err(format!(
                    "element {} runs past the end of the item around it",
                    name(header.tag)
                ));
            }
        }
    }

    /// One element (a value or a sequence); returns where the next one starts.
    fn element(&self, header: &Header, end: usize, depth: usize) -> Result<usize, String> {
        let sequence =
            header.vr == Some(VR::SQ) || (header.vr.is_none() && implicit_is_sequence(header.tag));
        if header.length == UNDEFINED {
            if header.tag == PIXEL_DATA {
                return Err(
                    "encapsulated (compressed) Pixel Data (7FE0,0010) in an uncompressed \
                     transfer syntax"
                        .into(),
                );
            }
            if header.vr == Some(VR::UN) {
                return Err(format!(
                    "element {} of VR UN has an undefined length (not supported)",
                    name(header.tag)
                ));
            }
            return self.sequence(header.value, end, None, depth + 1, header.tag);
        }
        let value_end = self.value_end(header, end)?;
        if sequence {
            self.sequence(
                header.value,
                value_end,
                Some(value_end),
                depth + 1,
                header.tag,
            )?;
        }
        Ok(value_end)
    }

    /// The items of a sequence from `at`: up to `defined_end`, or to a sequence delimiter
    /// within `end`; returns where the sequence ends.
    fn sequence(
        &self,
        mut at: usize,
        end: usize,
        defined_end: Option<usize>,
        depth: usize,
        tag: Tag,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "sequence {} is nested deeper than {MAX_DEPTH} levels",
                name(tag)
            ));
        }
        loop {
            if defined_end == Some(at) {
                return Ok(at);
            }
            let item = self.header(at, false)?;
            match item.tag {
                SEQUENCE_END if defined_end.is_none() => return Ok(item.value),
                ITEM if item.length == UNDEFINED => {
                    at = self.dataset(item.value, end, true, depth)?;
                }
                ITEM => {
                    let item_end = self.value_end(&item, end)?;
                    at = self.dataset(item.value, item_end, false, depth)?;
                }
                other => {
                    return Err(format!(
                        "sequence {} holds {} at byte {at} where an item was expected",
                        name(tag),
                        name(other)
                    ));
                }
            }
        }
    }

    /// The header at `at`: explicit VR (2- or 4-byte length) or implicit; item tags have no VR.
    fn header(&self, at: usize, explicit: bool) -> Result<Header, String> {
        let truncated = || format!("the file ends inside an element header at byte {at}");
        let head = self.bytes.get(at..at + 8).ok_or_else(truncated)?;
        let tag = Tag(self.u16(at), self.u16(at + 2));
        if !explicit || tag.0 == 0xFFFE {
            let length = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            return Ok(Header {
                tag,
                vr: None,
                length,
                value: at + 8,
            });
        }
        let vr = VR::from_binary([head[4], head[5]]).unwrap_or(VR::UN);
        if short_length(vr) {
            return Ok(Header {
                tag,
                vr: Some(vr),
                length: u32::from(self.u16(at + 6)),
                value: at + 8,
            });
        }
        let long = self.bytes.get(at + 8..at + 12).ok_or_else(truncated)?;
        Ok(Header {
            tag,
            vr: Some(vr),
            length: u32::from_le_bytes([long[0], long[1], long[2], long[3]]),
            value: at + 12,
        })
    }

    /// Where the value of a defined-length element ends, if it ends by `end`.
    fn value_end(&self, header: &Header, end: usize) -> Result<usize, String> {
        let left = end.saturating_sub(header.value);
        if header.length == UNDEFINED || header.length as usize > left {
            return Err(format!(
                "element {} declares a length of {} bytes, but only {left} remain",
                name(header.tag),
                header.length
            ));
        }
        Ok(header.value + header.length as usize)
    }

    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]])
    }
}

/// Whether explicit VR `vr` has a 2-byte length (PS3.5 7.1.2, as dicom-rs reads it).
fn short_length(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS
            | AT
            | CS
            | DA
            | DS
            | DT
            | FL
            | FD
            | IS
            | LO
            | LT
            | PN
            | SH
            | SL
            | SS
            | ST
            | TM
            | UI
            | UL
            | US
    )
}

/// Whether the standard dictionary makes `tag` a sequence (how dicom-rs reads implicit VR).
fn implicit_is_sequence(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|entry| entry.vr() == VirtualVr::Exact(VR::SQ))
}

/// `(gggg,eeee)`.
fn name(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.0, tag.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file: preamble, `DICM`, a meta group with its length, and `data`.
    fn file(syntax: &str, data: &[u8]) -> Vec<u8> {
        let mut uid = syntax.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        let mut meta = explicit(0x0002, 0x0010, b"UI", &uid);
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend(explicit(
            0x0002,
            0x0000,
            b"UL",
            &(meta.len() as u32).to_le_bytes(),
        ));
        out.append(&mut meta);
        out.extend_from_slice(data);
        out
    }

    fn explicit(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut out = [group.to_le_bytes(), element.to_le_bytes()].concat();
        out.extend_from_slice(vr);
        if short_length(VR::from_binary(*vr).unwrap()) {
            out.extend((value.len() as u16).to_le_bytes());
        } else {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(value);
        out
    }

    fn implicit(group: u16, element: u16, length: u32) -> Vec<u8> {
        [
            &group.to_le_bytes()[..],
            &element.to_le_bytes(),
            &length.to_le_bytes(),
        ]
        .concat()
    }

    #[test]
    fn a_well_formed_file_is_walked_to_its_end() {
        let data = [
            explicit(0x0010, 0x0010, b"PN", b"A^B "),
            explicit(0x7FE0, 0x0010, b"OW", &[0; 8]),
        ]
        .concat();
        let layout = scan(&file(EXPLICIT_VR_LE, &data)).unwrap();
        assert_eq!(layout.start, 128);
        assert_eq!(layout.transfer_syntax, EXPLICIT_VR_LE);
    }

    #[test]
    fn a_length_past_the_end_of_the_file_is_refused_naming_the_tag() {
        let mut data = explicit(0x7FE0, 0x0010, b"OW", &[0; 8]);
        data[8..12].copy_from_slice(&0xC000_0000u32.to_le_bytes());
        let err = scan(&file(EXPLICIT_VR_LE, &data)).unwrap_err();
        assert!(
            err.contains("(7FE0,0010)") && err.contains("3221225472"),
            "{err}"
        );
    }

    #[test]
    fn nested_items_are_checked_in_implicit_vr() {
        // (0008,1140) Referenced Image Sequence, undefined length, one undefined-length item
        // holding an element that claims more than the item has.
        let mut data = implicit(0x0008, 0x1140, UNDEFINED);
        data.extend(implicit(0xFFFE, 0xE000, UNDEFINED));
        data.extend(implicit(0x0008, 0x1150, 4));
        data.extend(b"1.2\0");
        data.extend(implicit(0xFFFE, 0xE00D, 0));
        data.extend(implicit(0xFFFE, 0xE0DD, 0));
        assert!(scan(&file(IMPLICIT_VR_LE, &data)).is_ok());
        // A defined-length sequence whose item claims 1 GiB.
        let mut bad = implicit(0x0008, 0x1140, 16);
        bad.extend(implicit(0xFFFE, 0xE000, 8));
        bad.extend(implicit(0x0008, 0x1150, 1 << 30));
        let err = scan(&file(IMPLICIT_VR_LE, &bad)).unwrap_err();
        assert!(err.contains("(0008,1150)"), "{err}");
    }

    #[test]
    fn deep_nesting_and_a_wrong_group_length_are_refused() {
        let mut data = Vec::new();
        for _ in 0..=MAX_DEPTH {
            data.extend(implicit(0x0008, 0x1140, UNDEFINED));
            data.extend(implicit(0xFFFE, 0xE000, UNDEFINED));
        }
        let err = scan(&file(IMPLICIT_VR_LE, &data)).unwrap_err();
        assert!(err.contains("deeper"), "{err}");
        let mut wrong = file(EXPLICIT_VR_LE, &[]);
        wrong[140] = wrong[140].wrapping_add(2);
        assert!(scan(&wrong).unwrap_err().contains("(0002,0000)"));
        assert!(scan(b"not dicom").is_err());
    }
}
