//! Where the lake's objects live: a small object-store-like interface and its local directory
//! implementation.
//!
//! Everything the lake reads or writes goes through [`Storage`], with `/`-separated keys
//! relative to the lake root: [`LocalDir`] here, [`S3Storage`](crate::S3Storage) in `s3`.
//! The interface is whole-object: put, create-only put, put from a local file, get, head,
//! list under a prefix, delete. Parquet is always decoded from a local file ([`Storage::get_file`]): the
//! local backend hands out its own path, a remote one downloads to a temporary file.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use crate::{Error, Result, blocking};

/// An object's key and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// A readable local copy of an object: the object itself for a local directory, a temporary
/// download (deleted on drop) for a remote store.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    _temp: Option<tempfile::TempPath>,
}

impl LocalFile {
    /// The object's own file, not deleted on drop.
    pub fn in_place(path: PathBuf) -> Self {
        LocalFile { path, _temp: None }
    }

    /// A temporary copy, deleted when dropped.
    pub fn temporary(temp: tempfile::TempPath) -> Self {
        LocalFile {
            path: temp.to_path_buf(),
            _temp: Some(temp),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Object storage under a lake root. Keys are relative, `/`-separated, without `.`/`..`
/// segments; writes are atomic (a reader sees the old object, the new one, or nothing).
pub trait Storage: Send + Sync + fmt::Debug {
    /// Where `key` lives, for messages and logs (`/data/lake/runs/...`, `s3://bucket/...`).
    fn url(&self, key: &str) -> String;

    /// The local filesystem path of `key`, when the storage is a local directory.
    fn local_path(&self, key: &str) -> Option<PathBuf>;

    /// The S3 backend, for readers that reach the same bucket through another client.
    fn as_s3(&self) -> Option<&crate::S3Storage> {
        None
    }

    /// Writes `data` to `key`, replacing any existing object.
    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>>;

    /// Writes `data` to `key` only if no object is there yet ([`Error::AlreadyExists`] otherwise).
    fn put_new<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>>;

    /// Stores the local file `local` as `key`, replacing any existing object. The local file is
    /// consumed (it may be moved into place).
    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<()>>;

    /// Reads a whole object ([`Error::NotFound`] if absent).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>>>;

    /// A local file holding the object ([`Error::NotFound`] if absent).
    fn get_file<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<LocalFile>>;

    /// The object's size, `None` if absent.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>>;

    /// Every object whose key starts with the directory `prefix` (`""` for all), sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>>;

    /// Deletes `key`; deleting an absent object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Deletes every object under the directory `prefix` (never the whole root); returns how
    /// many objects were deleted.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<usize>>;
}

/// Checks that `key` is a relative `/`-separated object key; `allow_root` admits `""`.
pub(crate) fn check_key(key: &str, allow_root: bool) -> Result<&str> {
    let bad = |reason| Error::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    let trimmed = key.strip_suffix('/').unwrap_or(key);
    if trimmed.is_empty() {
        return if allow_root {
            Ok("")
        } else {
            Err(bad("empty key"))
        };
    }
    if trimmed.starts_with('/') {
        return Err(bad("keys are relative to the lake root"));
    }
    if trimmed.contains('\\') {
        return Err(bad("keys are '/'-separated"));
    }
    if trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(bad("empty, '.' or '..' segment"));
    }
    Ok(trimmed)
}

/// A lake rooted in a local directory.
#[derive(Clone, Debug)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// Opens the directory `root`, creating it if needed.
    pub fn create(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        fs::create_dir_all(root).map_err(Error::io(root.display().to_string()))?;
        Self::open(root)
    }

    /// Opens the existing directory `root` ([`Error::NotFound`] if it does not exist).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let shown = root.display().to_string();
        let root = fs::canonicalize(root).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                path: shown.clone(),
            },
            _ => Error::Io {
                path: shown.clone(),
                source: e,
            },
        })?;
        if !root.is_dir() {
            return Err(Error::Io {
                path: shown,
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        Ok(LocalDir { root })
    }

    /// The absolute root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    fn resolve(&self, key: &str, allow_root: bool) -> Result<(PathBuf, String)> {
        let key = check_key(key, allow_root)?;
        let path = self.path(key);
        let shown = path.display().to_string();
        Ok((path, shown))
    }
}

fn not_found_or_io(shown: String) -> impl FnOnce(io::Error) -> Error {
    move |e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { path: shown },
        _ => Error::Io {
            path: shown,
            source: e,
        },
    }
}

/// Writes `data` to `dest` through a temporary file in the same directory, fsyncs it and
/// renames it into place (or, with `create_new`, links it only if `dest` is absent).
fn write_atomic(dest: &Path, data: &[u8], create_new: bool) -> io::Result<()> {
    let dir = dest.parent().expect("object paths have a parent");
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    if create_new {
        tmp.persist_noclobber(dest).map_err(|e| e.error)?;
    } else {
        tmp.persist(dest).map_err(|e| e.error)?;
    }
    sync_dir(dir)
}

/// Makes a rename durable (on Unix; elsewhere directories cannot be synced).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Moves `local` to `dest`; across filesystems, copies through a temporary file instead.
fn move_atomic(local: &Path, dest: &Path) -> io::Result<()> {
    let dir = dest.parent().expect("object paths have a parent");
    fs::create_dir_all(dir)?;
    match fs::rename(local, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
            let mut reader = fs::File::open(local)?;
            let mut writer = tmp.as_file();
            io::copy(&mut reader, &mut writer)?;
            tmp.as_file().sync_all()?;
            tmp.persist(dest).map_err(|e| e.error)?;
            fs::remove_file(local)?;
        }
        Err(e) => return Err(e),
    }
    sync_dir(dir)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectMeta>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        // Temporary files of in-progress atomic writes are not objects.
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            walk(root, &path, out)?;
        } else if file_type.is_file() {
            let rel = path.strip_prefix(root).expect("walked under root");
            let key = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push(ObjectMeta {
                key,
                size: entry.metadata()?.len(),
            });
        }
    }
    Ok(())
}

impl Storage for LocalDir {
    fn url(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        check_key(key, true).ok().map(|k| self.path(k))
    }

    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            blocking(move || write_atomic(&path, &data, false).map_err(Error::io(shown))).await
        })
    }

    fn put_new<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            blocking(move || {
                write_atomic(&path, &data, true).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Error::AlreadyExists { path: shown },
                    _ => Error::Io {
                        path: shown,
                        source: e,
                    },
                })
            })
            .await
        })
    }

    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            let local = local.to_path_buf();
            blocking(move || move_atomic(&local, &path).map_err(Error::io(shown))).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            blocking(move || fs::read(&path).map_err(not_found_or_io(shown))).await
        })
    }

    fn get_file<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<LocalFile>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            blocking(move || {
                let meta = fs::metadata(&path).map_err(not_found_or_io(shown.clone()))?;
                if !meta.is_file() {
                    return Err(Error::NotFound { path: shown });
                }
                Ok(LocalFile::in_place(path))
            })
            .await
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            let key = key.to_owned();
            blocking(move || match fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(ObjectMeta { key, size: m.len() })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::Io {
                    path: shown,
                    source: e,
                }),
            })
            .await
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let (dir, shown) = self.resolve(prefix, true)?;
            let root = self.root.clone();
            blocking(move || {
                let mut out = Vec::new();
                walk(&root, &dir, &mut out).map_err(Error::io(shown))?;
                out.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(out)
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (path, shown) = self.resolve(key, false)?;
            blocking(move || match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::Io {
                    path: shown,
                    source: e,
                }),
            })
            .await
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let (dir, shown) = self.resolve(prefix, false)?;
            let root = self.root.clone();
            blocking(move || {
                let mut objects = Vec::new();
                walk(&root, &dir, &mut objects).map_err(Error::io(shown.clone()))?;
                match fs::remove_dir_all(&dir) {
                    Ok(()) => Ok(objects.len()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
                    Err(e) => Err(Error::Io {
                        path: shown,
                        source: e,
                    }),
                }
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_slash_paths() {
        assert_eq!(check_key("a/b.parquet", false).unwrap(), "a/b.parquet");
        assert_eq!(check_key("runs/", true).unwrap(), "runs");
        assert_eq!(check_key("", true).unwrap(), "");
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a\\b"] {
            let err = check_key(bad, false).unwrap_err();
            assert!(matches!(err, Error::InvalidKey { .. }), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn local_dir_round_trips_lists_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalDir::create(dir.path().join("lake")).unwrap();
        s.put("t/a/x.bin", b"hello".to_vec()).await.unwrap();
        s.put("t/b.bin", b"hi".to_vec()).await.unwrap();
        s.put("t/a/x.bin", b"replaced".to_vec()).await.unwrap();
        assert_eq!(s.get("t/a/x.bin").await.unwrap(), b"replaced");
        assert_eq!(s.head("t/b.bin").await.unwrap().unwrap().size, 2);
        assert!(s.head("t/nope").await.unwrap().is_none());
        let keys: Vec<_> = s
            .list("t")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(keys, ["t/a/x.bin", "t/b.bin"]);
        assert!(s.list("nothing/here").await.unwrap().is_empty());

        let err = s.put_new("t/b.bin", b"again".to_vec()).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(s.get("t/b.bin").await.unwrap(), b"hi");

        let err = s.get("t/missing").await.unwrap_err();
        assert!(
            err.is_not_found() && err.to_string().contains("t/missing"),
            "{err}"
        );

        let local = dir.path().join("outside.bin");
        fs::write(&local, b"moved").unwrap();
        s.put_file("u/moved.bin", &local).await.unwrap();
        assert!(!local.exists());
        assert_eq!(s.get("u/moved.bin").await.unwrap(), b"moved");

        // No temporary files are left behind or listed.
        let all: Vec<_> = s
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(all, ["t/a/x.bin", "t/b.bin", "u/moved.bin"]);

        s.delete("t/b.bin").await.unwrap();
        s.delete("t/b.bin").await.unwrap();
        assert_eq!(s.delete_prefix("t").await.unwrap(), 1);
        assert!(s.delete_prefix("").await.is_err());
        let all: Vec<_> = s
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(all, ["u/moved.bin"]);
    }
}
