//! Object-store URLs given where a folder is expected: `generate -o s3://bucket/prefix`,
//! `dataset verify|merge URL`, `fid`/`metrics URL URL` (also `gs://`, `az://`, `file://`).
//! The library's [`Staged`] does the work; a build without the cargo feature `object-store`
//! says so when a URL is given.

use std::path::{Path, PathBuf};

#[cfg(feature = "object-store")]
pub use medigan::remote::{Selection, Staged};

/// The URL a path argument names (`scheme://...`), if it is one.
pub fn url_of(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    (!scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(text)
}

/// A command's output: `None` for a folder, else the store opened (writable, checked before
/// any work) with `selection` of its contents staged locally.
#[cfg(feature = "object-store")]
pub fn output(path: &Path, selection: Selection) -> anyhow::Result<Option<Staged>> {
    match url_of(path) {
        Some(url) => Ok(Some(Staged::output(url, selection)?)),
        None => Ok(None),
    }
}

/// A command's input folder: the path itself, or the staged copy of the store it names
/// (kept while the returned value lives).
#[cfg(feature = "object-store")]
pub fn input(path: &Path) -> anyhow::Result<(PathBuf, Option<Staged>)> {
    match url_of(path) {
        Some(url) => {
            let staged = Staged::input(url)?;
            Ok((staged.dir().to_path_buf(), Some(staged)))
        }
        None => Ok((path.to_path_buf(), None)),
    }
}

/// A command's input folder (this build has no object-store support: a URL is refused).
#[cfg(not(feature = "object-store"))]
pub fn input(path: &Path) -> anyhow::Result<(PathBuf, Option<std::convert::Infallible>)> {
    refuse_url(path)?;
    Ok((path.to_path_buf(), None))
}

/// Refuses a store URL in a build without the `object-store` feature.
#[cfg(not(feature = "object-store"))]
pub fn refuse_url(path: &Path) -> anyhow::Result<()> {
    if let Some(url) = url_of(path) {
        anyhow::bail!(
            "`{url}` is a store URL, but this build of medigan has no object-store support \
             (cargo feature `object-store`)"
        );
    }
    Ok(())
}

/// How often a run's finished files are sent to its store while it goes on
/// (`MEDIGAN_STORE_UPLOAD_MS`, default 2 s).
#[cfg(feature = "object-store")]
fn upload_interval() -> std::time::Duration {
    std::time::Duration::from_millis(
        medigan::env::STORE_UPLOAD_MS
            .whole_number()
            .unwrap_or(2000)
            .max(10),
    )
}

/// Runs `work` (which writes into `staged`'s folder, reporting to the progress it is given)
/// while another thread sends its finished files and journal to the store every
/// [`upload_interval`]: a run killed later keeps in the store what was sent, and `--resume`
/// continues from there. A failed upload stops the work (its progress says cancelled) and is
/// returned beside the work's result.
#[cfg(feature = "object-store")]
pub fn with_uploads<T>(
    staged: &Staged,
    progress: &dyn medigan::progress::Progress,
    work: impl FnOnce(&dyn medigan::progress::Progress) -> T,
) -> (T, Option<medigan::remote::RemoteError>) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    let failed = AtomicBool::new(false);
    let failure = Mutex::new(None);
    let watched = StoreWatch {
        inner: progress,
        failed: &failed,
    };
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let interval = upload_interval();
            let step = std::time::Duration::from_millis(10).min(interval);
            'run: loop {
                let mut waited = std::time::Duration::ZERO;
                while waited < interval {
                    if done.load(Ordering::SeqCst) {
                        break 'run;
                    }
                    std::thread::sleep(step);
                    waited += step;
                }
                if let Err(error) = staged.upload(medigan::remote::Upload::Progress) {
                    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                    failed.store(true, Ordering::SeqCst);
                    break;
                }
            }
        });
        let result = work(&watched);
        done.store(true, Ordering::SeqCst);
        result
    });
    let failure = failure.into_inner().unwrap_or_else(|e| e.into_inner());
    (result, failure)
}

/// A run's progress that also says cancelled once the store failed.
#[cfg(feature = "object-store")]
struct StoreWatch<'a> {
    inner: &'a dyn medigan::progress::Progress,
    failed: &'a std::sync::atomic::AtomicBool,
}

#[cfg(feature = "object-store")]
impl medigan::progress::Progress for StoreWatch<'_> {
    fn begin(&self, what: &str, total: Option<u64>) {
        self.inner.begin(what, total);
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
    fn finish(&self) {
        self.inner.finish();
    }
    fn is_cancelled(&self) -> bool {
        self.failed.load(std::sync::atomic::Ordering::SeqCst) || self.inner.is_cancelled()
    }
    fn step(&self, done: usize, total: usize) {
        self.inner.step(done, total);
    }
}
