//! The run journal: which samples of a run (or of one shard) are complete on disk, so that an
//! interrupted run can be resumed (`--resume`) and ends with the manifest an uninterrupted run
//! writes.
//!
//! It is `.<manifest stem>.journal` in the output folder (`.manifest.journal`,
//! `.manifest-shard-2-of-4.journal`): JSON lines, format version 1.
//!
//! ```text
//! {"medigan_journal":1,"manifest":"manifest.jsonl","header":{ ...the manifest's first line... }}
//! {"index":0,"seed":81,"files":[{"file":"00000.png","part":"image","sha256":"9f2c..."}]}
//! {"index":1,"seed":17,"label":"benign","files":[{"file":"00001.png","part":"image","sha256":"..."},
//!                                                {"file":"00001_mask.png","part":"mask","sha256":"..."}]}
//! ```
//!
//! - One line per sample, appended with one `write` when all of its files have been renamed into
//!   place, and synced (`fdatasync`) after every batch. With `--pack tar`, one line per tar,
//!   appended when the tar is renamed into place: `"samples":[first,end)` names the samples it
//!   holds (`index` is the first), its one file has part `tar`.
//! - Lines come in *segments* of strictly increasing index: a run appends one; a resumed run
//!   first rewrites the lines it verified as one segment (under a temporary name, then a
//!   rename), then appends its own. Readers merge the segments by index.
//! - A last line without its newline is a write cut short by a kill: it is ignored.
//! - Sample files are not synced one by one: a resumed run hashes every file again before it
//!   keeps it, so the journal never needs to be more durable than the files it names.
//! - When the run's manifest has been published, the journal is removed.
//!
//! A finished run's manifest can be read the same way (one file per line, already in index
//! order), so `--resume` also repairs a finished run whose files were damaged.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::GenerateError;
use crate::dataset::manifest::{self, LineEnd, LineError, ManifestHeader, ManifestLine};
use crate::output::temporary_file;

/// The journal format version this build writes and reads.
pub const JOURNAL_VERSION: u64 = 1;

/// Most segments a journal may have (a run writes at most two; the bound keeps a damaged or
/// crafted journal from opening many files).
const MAX_SEGMENTS: usize = 64;

/// One complete sample: its index, seed, class label and files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalSample {
    /// Index in the run.
    pub index: u64,
    /// The sample's seed.
    pub seed: u64,
    /// Class label, for conditional models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For a line recording a tar of samples: the samples, `[index, end)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<[u64; 2]>,
    /// Its files (image, then mask; or the tar).
    pub files: Vec<JournalFile>,
}

impl JournalSample {
    /// The samples this line records: its own index, or every sample of its tar.
    pub fn covered(&self) -> std::ops::Range<u64> {
        match self.samples {
            Some([first, end]) => first..end,
            None => self.index..self.index.saturating_add(1),
        }
    }
}

/// One file of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalFile {
    /// File name, relative to the output folder.
    pub file: String,
    /// `image`, `mask` or `tar`.
    pub part: String,
    /// sha256 of its bytes.
    pub sha256: String,
}

/// The first line of a journal.
#[derive(Debug, Serialize, Deserialize)]
struct JournalHead {
    medigan_journal: u64,
    manifest: String,
    header: ManifestHeader,
}

/// The journal's file name for the manifest `manifest_name`.
pub fn journal_name(manifest_name: &str) -> String {
    format!(".{}.journal", record_stem(manifest_name))
}

/// `manifest` for `manifest.jsonl`, `manifest-shard-2-of-4` for its shard.
pub(crate) fn record_stem(manifest_name: &str) -> &str {
    manifest_name
        .strip_suffix(".jsonl")
        .unwrap_or(manifest_name)
}

/// Which kind of record a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A run journal (one sample per line, in segments).
    Journal,
    /// A published manifest (one file per line).
    Manifest,
}

/// A journal or manifest, scanned: its header and where its segments lie.
#[derive(Debug)]
pub(crate) struct Record {
    /// The file.
    pub path: PathBuf,
    /// Journal or manifest.
    pub kind: RecordKind,
    /// The manifest header it records.
    pub header: ManifestHeader,
    /// Samples it records.
    pub samples: u64,
    /// Byte ranges of the segments, each in increasing index order.
    segments: Vec<(u64, u64)>,
}

impl Record {
    /// Reads the header and checks every complete line, finding the segments.
    pub fn open(path: &Path, kind: RecordKind) -> Result<Record, GenerateError> {
        let file = open_record(path)?;
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let damaged = |line: u64, reason: String| GenerateError::Journal {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let Some(head_len) = read_line(&mut reader, &mut buf, path)? else {
            return Err(damaged(1, "no header line".into()));
        };
        let header = parse_header(&buf, kind).map_err(|reason| damaged(1, reason))?;
        let (mut offset, mut line) = (head_len, 1u64);
        let mut segments: Vec<(u64, u64)> = Vec::new();
        let mut last: Option<u64> = None;
        let mut samples = 0u64;
        while let Some(len) = read_line(&mut reader, &mut buf, path)? {
            line += 1;
            let (index, entry) = parse_entry(&buf, kind).map_err(|reason| damaged(line, reason))?;
            let new_segment = match (kind, last) {
                (_, None) => true,
                (RecordKind::Journal, Some(prev)) => index <= prev,
                (RecordKind::Manifest, Some(prev)) if index < prev => {
                    return Err(damaged(line, "sample indices go backwards".into()));
                }
                (RecordKind::Manifest, Some(_)) => false,
            };
            if new_segment {
                if segments.len() == MAX_SEGMENTS {
                    return Err(damaged(line, format!("more than {MAX_SEGMENTS} segments")));
                }
                segments.push((offset, offset));
            }
            if kind == RecordKind::Journal || last != Some(index) {
                let covered = entry.covered();
                samples += covered.end.saturating_sub(covered.start);
            }
            offset += len;
            if let Some(segment) = segments.last_mut() {
                segment.1 = offset;
            }
            last = Some(index);
        }
        Ok(Record {
            path: path.to_path_buf(),
            kind,
            header,
            samples,
            segments,
        })
    }

    /// Only the manifest header a journal or manifest records (its first line).
    pub fn header_of(path: &Path, kind: RecordKind) -> Result<ManifestHeader, GenerateError> {
        let file = open_record(path)?;
        let mut buf = Vec::new();
        let damaged = |reason: String| GenerateError::Journal {
            path: path.to_path_buf(),
            line: 1,
            reason,
        };
        if read_line(&mut BufReader::new(file), &mut buf, path)?.is_none() {
            return Err(damaged("no header line".into()));
        }
        parse_header(&buf, kind).map_err(damaged)
    }

    /// Its samples in index order (segments merged; a manifest's files grouped by sample).
    pub fn samples(&self) -> Result<MergedSamples, GenerateError> {
        let mut cursors = Vec::with_capacity(self.segments.len());
        for &(start, end) in &self.segments {
            let mut file = open_record(&self.path)?;
            file.seek(SeekFrom::Start(start))
                .map_err(GenerateError::run_file("read", &self.path))?;
            cursors.push(Cursor {
                reader: BufReader::new(file.take(end - start)),
                head: None,
            });
        }
        let mut merged = MergedSamples {
            path: self.path.clone(),
            kind: self.kind,
            cursors,
            buf: Vec::new(),
            pending: None,
        };
        for i in 0..merged.cursors.len() {
            merged.advance(i)?;
        }
        Ok(merged)
    }
}

/// Opens a journal or manifest for reading: a regular file only, a symlink not followed. A FIFO
/// or device planted under a record's name is refused at once instead of blocking the run.
fn open_record(path: &Path) -> Result<File, GenerateError> {
    manifest::open(path)
        .map(BufReader::into_inner)
        .map_err(GenerateError::run_file("read", path))
}

/// Reads one complete line into `buf` (without its newline) with the manifest's one bounded
/// reader; returns its length with the newline, or `None` at the end or at a last line cut
/// short.
fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<Option<u64>, GenerateError> {
    match manifest::read_line(reader, buf) {
        Ok(LineEnd::Complete) => {
            let read = buf.len() as u64;
            buf.pop();
            Ok(Some(read))
        }
        Ok(LineEnd::End | LineEnd::Cut) => Ok(None),
        Err(LineError::Read(cause)) => Err(GenerateError::run_file("read", path)(cause)),
        Err(too_long @ LineError::TooLong) => Err(GenerateError::Journal {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("a line: {too_long}"),
        }),
    }
}

fn parse_header(line: &[u8], kind: RecordKind) -> Result<ManifestHeader, String> {
    match kind {
        RecordKind::Manifest => serde_json::from_slice(line).map_err(|e| e.to_string()),
        RecordKind::Journal => {
            // The version first: another version's head may hold another header.
            #[derive(Deserialize)]
            struct Version {
                medigan_journal: u64,
            }
            let version: Version = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            if version.medigan_journal != JOURNAL_VERSION {
                return Err(format!(
                    "journal format version {}; this medigan reads version {JOURNAL_VERSION}",
                    version.medigan_journal
                ));
            }
            let head: JournalHead = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            Ok(head.header)
        }
    }
}

/// A line's sample index and the sample (for a manifest, the one file the line names).
fn parse_entry(line: &[u8], kind: RecordKind) -> Result<(u64, JournalSample), String> {
    let sample = match kind {
        RecordKind::Journal => {
            serde_json::from_slice::<JournalSample>(line).map_err(|e| e.to_string())?
        }
        RecordKind::Manifest => {
            let line: ManifestLine = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            JournalSample {
                index: line.index,
                seed: line.seed,
                label: line.label,
                samples: line.samples,
                files: vec![JournalFile {
                    file: line.file,
                    part: line.part,
                    sha256: line.sha256,
                }],
            }
        }
    };
    Ok((sample.index, sample))
}

struct Cursor {
    reader: BufReader<std::io::Take<File>>,
    head: Option<JournalSample>,
}

/// The samples of a [`Record`] in index order.
pub(crate) struct MergedSamples {
    path: PathBuf,
    kind: RecordKind,
    cursors: Vec<Cursor>,
    buf: Vec<u8>,
    pending: Option<JournalSample>,
}

impl MergedSamples {
    fn advance(&mut self, i: usize) -> Result<(), GenerateError> {
        let cursor = &mut self.cursors[i];
        cursor.head = match read_line(&mut cursor.reader, &mut self.buf, &self.path)? {
            Some(_) => Some(
                parse_entry(&self.buf, self.kind)
                    .map_err(|reason| GenerateError::Journal {
                        path: self.path.clone(),
                        line: 0,
                        reason,
                    })?
                    .1,
            ),
            None => None,
        };
        Ok(())
    }

    /// The next entry over all segments: the one with the lowest index.
    fn next_entry(&mut self) -> Result<Option<JournalSample>, GenerateError> {
        let lowest = self
            .cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.head.as_ref().map(|s| (s.index, i)))
            .min();
        let Some((_, i)) = lowest else {
            return Ok(None);
        };
        let entry = self.cursors[i].head.take();
        self.advance(i)?;
        Ok(entry)
    }

    fn next_sample(&mut self) -> Result<Option<JournalSample>, GenerateError> {
        let mut sample = match self.pending.take() {
            Some(sample) => sample,
            None => match self.next_entry()? {
                Some(sample) => sample,
                None => return Ok(None),
            },
        };
        while let Some(next) = self.next_entry()? {
            if next.index != sample.index {
                self.pending = Some(next);
                break;
            }
            if self.kind == RecordKind::Journal {
                return Err(GenerateError::Journal {
                    path: self.path.clone(),
                    line: 0,
                    reason: format!("sample {} is recorded twice", sample.index),
                });
            }
            sample.files.extend(next.files);
        }
        Ok(Some(sample))
    }
}

impl Iterator for MergedSamples {
    type Item = Result<JournalSample, GenerateError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}

/// Appends completed samples to a run's journal.
#[derive(Debug)]
pub(crate) struct JournalWriter {
    file: File,
    path: PathBuf,
}

impl JournalWriter {
    /// Writes the journal `path` afresh (its head line, then `kept` in index order) under a
    /// temporary name made with `temporary_prefix`, renames it over any earlier journal, and
    /// opens it for appending. Returns the writer and the samples written.
    pub fn create(
        path: &Path,
        manifest_name: &str,
        header: &ManifestHeader,
        kept: impl Iterator<Item = Result<JournalSample, GenerateError>>,
        temporary_prefix: &str,
    ) -> Result<JournalWriter, GenerateError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = GenerateError::run_file("write", path);
        let mut tmp = temporary_file(dir, temporary_prefix).map_err(io)?;
        let head = JournalHead {
            medigan_journal: JOURNAL_VERSION,
            manifest: manifest_name.to_string(),
            header: header.clone(),
        };
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        write_json_line(&mut out, &head, path)?;
        for sample in kept {
            write_json_line(&mut out, &sample?, path)?;
        }
        out.flush()
            .map_err(GenerateError::run_file("write", path))?;
        drop(out);
        tmp.as_file()
            .sync_data()
            .map_err(GenerateError::run_file("sync", path))?;
        let file = tmp
            .persist(path)
            .map_err(|e| GenerateError::run_file("write", path)(e.error))?;
        Ok(JournalWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Records a sample whose files are all in place (one `write`, so a kill leaves at most a
    /// last line cut short, which readers ignore).
    pub fn append(&mut self, sample: &JournalSample) -> Result<(), GenerateError> {
        let mut line = serde_json::to_vec(sample)
            .map_err(|e| GenerateError::run_file("write", &self.path)(std::io::Error::other(e)))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(GenerateError::run_file("write", &self.path))
    }

    /// Makes the lines appended so far durable.
    pub fn sync(&self) -> Result<(), GenerateError> {
        self.file
            .sync_data()
            .map_err(GenerateError::run_file("sync", &self.path))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_json_line(
    out: &mut impl Write,
    value: &impl Serialize,
    path: &Path,
) -> Result<(), GenerateError> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|e| GenerateError::run_file("write", path)(std::io::Error::other(e)))?;
    out.write_all(b"\n")
        .map_err(GenerateError::run_file("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(index: u64) -> JournalSample {
        JournalSample {
            index,
            seed: index * 10,
            label: None,
            samples: None,
            files: vec![JournalFile {
                file: format!("{index:05}.png"),
                part: "image".into(),
                sha256: "0".repeat(64),
            }],
        }
    }

    fn header() -> ManifestHeader {
        ManifestHeader {
            tool: "t".into(),
            model_id: "m".into(),
            model_version: None,
            package_sha256: "0".repeat(64),
            seed: 1,
            num_samples: 8,
            shard: None,
            format: "png".into(),
            value_mapping: None,
            arguments: serde_json::json!({}),
        }
    }

    fn indices(record: &Record) -> Vec<u64> {
        record
            .samples()
            .unwrap()
            .map(|s| s.unwrap().index)
            .collect()
    }

    #[test]
    fn segments_are_merged_by_index_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(journal_name("manifest.jsonl"));
        let header = header();
        let kept = [0, 1, 4, 5].map(|i| Ok(sample(i)));
        let mut writer =
            JournalWriter::create(&path, "manifest.jsonl", &header, kept.into_iter(), ".t.")
                .unwrap();
        for i in [2, 3, 6] {
            writer.append(&sample(i)).unwrap();
        }
        let mut file = File::options().append(true).open(&path).unwrap();
        file.write_all(b"{\"index\":7,\"se").unwrap();
        let record = Record::open(&path, RecordKind::Journal).unwrap();
        assert_eq!(record.header, header);
        assert_eq!(record.samples, 7);
        assert_eq!(indices(&record), vec![0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_damaged_line_or_another_version_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".manifest.journal");
        std::fs::write(
            &path,
            format!(
                "{{\"medigan_journal\":1,\"manifest\":\"m\",\"header\":{}}}\n{{\"index\":0}}\n",
                serde_json::to_string(&header()).unwrap()
            ),
        )
        .unwrap();
        let error = Record::open(&path, RecordKind::Journal).unwrap_err();
        assert!(
            matches!(error, GenerateError::Journal { line: 2, .. }),
            "{error:?}"
        );
        std::fs::write(
            &path,
            "{\"medigan_journal\":2,\"manifest\":\"m\",\"header\":{}}\n",
        )
        .unwrap();
        let error = Record::open(&path, RecordKind::Journal).unwrap_err();
        assert!(error.to_string().contains("version 2"), "{error}");
    }

    #[test]
    fn a_tar_line_counts_every_sample_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(journal_name("manifest.jsonl"));
        let tar = |first: u64| JournalSample {
            index: first,
            seed: 1,
            label: None,
            samples: Some([first, first + 4]),
            files: vec![JournalFile {
                file: format!("shard-{:06}.tar", first / 4),
                part: "tar".into(),
                sha256: "0".repeat(64),
            }],
        };
        let header = header();
        let kept = [Ok(tar(0))];
        let mut writer =
            JournalWriter::create(&path, "manifest.jsonl", &header, kept.into_iter(), ".t.")
                .unwrap();
        writer.append(&tar(4)).unwrap();
        let record = Record::open(&path, RecordKind::Journal).unwrap();
        assert_eq!(record.samples, 8);
        let lines: Vec<_> = record.samples().unwrap().map(Result::unwrap).collect();
        assert_eq!(lines[1].covered(), 4..8);
    }

    #[test]
    fn a_manifest_reads_as_samples_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.jsonl");
        let line = |file: &str, index: u64, part: &str| {
            format!(
                "{{\"file\":\"{file}\",\"index\":{index},\"seed\":3,\"part\":\"{part}\",\"sha256\":\"ab\"}}\n"
            )
        };
        let text = format!(
            "{}\n{}{}{}",
            serde_json::to_string(&header()).unwrap(),
            line("00000.png", 0, "image"),
            line("00000_mask.png", 0, "mask"),
            line("00001.png", 1, "image")
        );
        std::fs::write(&path, text).unwrap();
        let record = Record::open(&path, RecordKind::Manifest).unwrap();
        assert_eq!(record.samples, 2);
        let samples: Vec<_> = record.samples().unwrap().map(Result::unwrap).collect();
        assert_eq!(samples[0].files.len(), 2);
        assert_eq!(samples[1].files[0].file, "00001.png");
    }
}
