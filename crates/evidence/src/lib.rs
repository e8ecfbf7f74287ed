//! Audit evidence bundles: what an auditor needs to re-check a compliance statement "as of"
//! a run, sealed with SHA-256 digests.
//!
//! This crate owns the bundle's layout ([`build`]): every named report as CSV, all of them
//! as one XLSX workbook and one HTML page, the exact SQL (view definitions, each report's
//! query, and the parameter rows it ran with), the run's coverage rows, its `runs` record,
//! the effective configuration with its SHA-256, and `manifest.json` listing the SHA-256 and
//! size of every other file plus an optional mapping of reports to controls
//! ([`controls`]). It writes a bundle as a directory or a zip file and [`verify`]s one:
//! every digest rechecked, missing, extra and altered files named.
//!
//! It must not define compliance or run its own SQL over the lake's data beyond `SELECT *`
//! of the tables it archives (reports come from `patchlake-query`, rendering from
//! `patchlake-report`), and it never writes into the lake.

pub mod controls;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use patchlake_query::{LakeQuery, reports::VIEWS};
use patchlake_report::{Format, HtmlMeta};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's name inside a bundle; every other file is listed in it.
pub const MANIFEST: &str = "manifest.json";
/// The `format` value of manifests this version writes and reads.
pub const FORMAT: &str = "patchlake-evidence/1";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("evidence: query {what}: {source}")]
    Query {
        what: String,
        #[source]
        source: patchlake_query::Error,
    },
    #[error("evidence: rendering {file}: {detail}")]
    Render { file: String, detail: String },
    #[error("evidence: {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("evidence: zip {path}: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("evidence: {path} already exists; choose a new --out")]
    Exists { path: PathBuf },
    #[error("evidence: {path}: {detail}")]
    BadManifest { path: PathBuf, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the bundle says about its making, beyond what the query knows.
#[derive(Clone, Debug, Default)]
pub struct BundleMeta {
    /// The `--as-of` the user asked for (`latest`, a date or a run id).
    pub as_of: String,
    /// patchlake's version.
    pub tool_version: String,
    /// Where the lake is (`lake.root`).
    pub lake_root: String,
    /// The effective configuration as the JSON whose SHA-256 is the config hash
    /// (`patchlake_config::Config::sha256` hashes exactly these bytes).
    pub config_json: Vec<u8>,
    /// Include the report → control mapping in the manifest.
    pub controls: bool,
}

/// One file of a bundle, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool: String,
    pub tool_version: String,
    pub as_of: String,
    pub run_id: String,
    pub run_started_at: String,
    pub lake_root: String,
    /// SHA-256 of `config.json`: the configuration the reports were computed with.
    pub config_sha256: String,
    /// The configuration hash the run itself was collected with (from its `runs` record).
    pub run_config_sha256: String,
    /// Report parameters and options, as `describe()` lists them.
    pub parameters: BTreeMap<String, String>,
    pub reports: Vec<ReportEntry>,
    pub files: Vec<FileEntry>,
}

/// A report in the manifest: its files and, optionally, the controls it evidences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    pub name: String,
    pub description: String,
    pub rows: u64,
    pub sql: String,
    pub csv: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<controls::Control>,
}

/// A bundle in memory: path inside the bundle → bytes, plus its manifest.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest: Manifest,
}

impl Bundle {
    /// The manifest as written (pretty JSON, trailing newline).
    pub fn manifest_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.manifest).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// SHA-256 of `manifest.json`: record it apart from the bundle to detect a bundle
    /// whose files and manifest were altered together.
    pub fn manifest_sha256(&self) -> String {
        sha256_hex(&self.manifest_bytes())
    }

    /// Writes the bundle to `out`: a zip file when it ends in `.zip`, else a new directory.
    pub fn write(&self, out: &Path) -> Result<()> {
        if out.exists() {
            return Err(Error::Exists {
                path: out.to_path_buf(),
            });
        }
        if is_zip(out) {
            self.write_zip(out)
        } else {
            self.write_dir(out)
        }
    }

    fn write_dir(&self, dir: &Path) -> Result<()> {
        for (name, bytes) in self
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .chain([(MANIFEST, self.manifest_bytes())])
        {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_at(parent))?;
            }
            fs::write(&path, bytes).map_err(io_at(&path))?;
        }
        Ok(())
    }

    fn write_zip(&self, path: &Path) -> Result<()> {
        let bytes = self.zip_bytes().map_err(|source| Error::Zip {
            path: path.to_path_buf(),
            source,
        })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".partial");
        let tmp = PathBuf::from(tmp);
        fs::write(&tmp, bytes).map_err(io_at(&tmp))?;
        fs::rename(&tmp, path).map_err(io_at(path))?;
        Ok(())
    }

    /// The bundle as a zip archive (what [`Bundle::write`] puts in a `.zip` file), for
    /// writers that store it elsewhere than a local file, such as an S3 object.
    pub fn zip_bytes(&self) -> Result<Vec<u8>, zip::result::ZipError> {
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        // A fixed timestamp: the same bundle gives the same zip bytes.
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        let manifest = self.manifest_bytes();
        for (name, bytes) in self
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .chain([(MANIFEST, manifest.as_slice())])
        {
            zip.start_file(name, options)?;
            zip.write_all(bytes)?;
        }
        Ok(zip.finish()?.into_inner())
    }
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn query_err(what: impl Into<String>) -> impl FnOnce(patchlake_query::Error) -> Error {
    let what = what.into();
    move |source| Error::Query { what, source }
}

fn render(file: &str, batches: &[RecordBatch], format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    patchlake_report::write(batches, format, &mut out).map_err(|e| Error::Render {
        file: file.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(out)
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Builds the bundle for the run `q` selected.
pub async fn build(q: &LakeQuery, meta: &BundleMeta) -> Result<Bundle> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let reports = q.all_reports().await.map_err(query_err("reports"))?;
    let mut entries = Vec::new();
    for (report, batches) in &reports {
        let csv = format!("reports/{}.csv", report.name);
        let sql = format!("sql/reports/{}.sql", report.name);
        files.insert(csv.clone(), render(&csv, batches, Format::Csv)?);
        files.insert(sql.clone(), report.sql.as_bytes().to_vec());
        entries.push(ReportEntry {
            name: report.name.to_owned(),
            description: report.description.to_owned(),
            rows: rows(batches),
            sql,
            csv,
            controls: if meta.controls {
                controls::for_report(report.name)
            } else {
                Vec::new()
            },
        });
    }
    let sections: Vec<_> = reports
        .iter()
        .map(|(r, b)| (r.name, r.description, b.as_slice()))
        .collect();
    let mut facts = q.describe();
    facts.push(("as of".to_owned(), meta.as_of.clone()));
    facts.push(("lake".to_owned(), meta.lake_root.clone()));
    facts.push(("patchlake".to_owned(), meta.tool_version.clone()));
    let html = patchlake_report::render_html(
        &sections,
        &HtmlMeta {
            title: "Patch compliance evidence".to_owned(),
            facts: facts.clone(),
        },
    )
    .map_err(|e| Error::Render {
        file: "reports.html".to_owned(),
        detail: e.to_string(),
    })?;
    files.insert("reports.html".to_owned(), html.into_bytes());
    let sheets: Vec<_> = reports
        .iter()
        .map(|(r, b)| (r.name, b.as_slice()))
        .collect();
    let xlsx = patchlake_report::render_xlsx(&sheets).map_err(|e| Error::Render {
        file: "reports.xlsx".to_owned(),
        detail: e.to_string(),
    })?;
    files.insert("reports.xlsx".to_owned(), xlsx);

    for view in VIEWS {
        files.insert(
            format!("sql/views/{}.sql", view.name),
            view.sql.as_bytes().to_vec(),
        );
    }
    // The parameter rows every report's SQL joined, and the lake rows the bundle archives.
    for (file, sql) in [
        ("sql/params.csv", "SELECT * FROM params"),
        (
            "sql/history_params.csv",
            "SELECT * FROM history_params ORDER BY run_id",
        ),
        (
            "coverage.csv",
            "SELECT * FROM coverage ORDER BY account_id, region",
        ),
        ("run.csv", "SELECT * FROM runs"),
    ] {
        let batches = q.sql(sql).await.map_err(query_err(file))?;
        files.insert(file.to_owned(), render(file, &batches, Format::Csv)?);
    }
    let mut run_json = serde_json::to_vec_pretty(q.run()).map_err(|e| Error::Render {
        file: "run.json".to_owned(),
        detail: e.to_string(),
    })?;
    run_json.push(b'\n');
    files.insert("run.json".to_owned(), run_json);
    files.insert("config.json".to_owned(), meta.config_json.clone());

    let manifest = Manifest {
        format: FORMAT.to_owned(),
        tool: "patchlake".to_owned(),
        tool_version: meta.tool_version.clone(),
        as_of: meta.as_of.clone(),
        run_id: q.run().run_id.to_string(),
        run_started_at: q.run().started_at.to_rfc3339(),
        lake_root: meta.lake_root.clone(),
        config_sha256: sha256_hex(&meta.config_json),
        run_config_sha256: q.run().config_sha256.clone(),
        parameters: q.describe().into_iter().collect(),
        reports: entries,
        files: files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.clone(),
                sha256: sha256_hex(bytes),
                bytes: bytes.len() as u64,
            })
            .collect(),
    };
    Ok(Bundle { files, manifest })
}

/// What is wrong with one file of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing {
        path: String,
    },
    Extra {
        path: String,
    },
    Altered {
        path: String,
        expected: String,
        actual: String,
    },
    /// A zip holding more than one entry of the same name: which one a reader extracts
    /// depends on the tool, so the bundle is ambiguous whatever the digests say.
    DuplicateNames,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { path } => write!(f, "{path}: missing (listed in the manifest)"),
            Problem::Extra { path } => write!(f, "{path}: extra file, not in the manifest"),
            Problem::Altered {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path}: altered (sha256 {actual}, manifest says {expected})"
            ),
            Problem::DuplicateNames => f.write_str("the zip holds more than one entry of a name"),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug)]
pub struct Verification {
    pub manifest: Manifest,
    /// SHA-256 of the bundle's `manifest.json`.
    pub manifest_sha256: String,
    pub files_checked: usize,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Rechecks the bundle at `path` (a directory or a `.zip`): every file the manifest lists
/// exists with its digest, and nothing else is there.
pub fn verify(path: &Path) -> Result<Verification> {
    let mut duplicates = false;
    let mut files = if path.is_dir() {
        read_dir_files(path)?
    } else {
        read_zip_files(path, &mut duplicates)?
    };
    let manifest_bytes = files.remove(MANIFEST).ok_or_else(|| Error::BadManifest {
        path: path.to_path_buf(),
        detail: format!("no {MANIFEST}: not an evidence bundle"),
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::BadManifest {
            path: path.join(MANIFEST),
            detail: format!("unreadable manifest: {e}"),
        })?;
    if manifest.format != FORMAT {
        return Err(Error::BadManifest {
            path: path.join(MANIFEST),
            detail: format!("format {:?}, expected {FORMAT:?}", manifest.format),
        });
    }
    let mut problems = Vec::new();
    if duplicates {
        problems.push(Problem::DuplicateNames);
    }
    for entry in &manifest.files {
        match files.remove(&entry.path) {
            None => problems.push(Problem::Missing {
                path: entry.path.clone(),
            }),
            Some(bytes) => {
                let actual = sha256_hex(&bytes);
                if actual != entry.sha256 {
                    problems.push(Problem::Altered {
                        path: entry.path.clone(),
                        expected: entry.sha256.clone(),
                        actual,
                    });
                }
            }
        }
    }
    problems.extend(files.into_keys().map(|path| Problem::Extra { path }));
    // The config hash is the digest of config.json; an altered config.json is reported above.
    if let Some(entry) = manifest.files.iter().find(|f| f.path == "config.json")
        && entry.sha256 != manifest.config_sha256
    {
        problems.push(Problem::Altered {
            path: "config.json".to_owned(),
            expected: manifest.config_sha256.clone(),
            actual: entry.sha256.clone(),
        });
    }
    Ok(Verification {
        files_checked: manifest.files.len(),
        manifest_sha256: sha256_hex(&manifest_bytes),
        manifest,
        problems,
    })
}

fn read_dir_files(root: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .expect("under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = fs::read(&path).map_err(io_at(&path))?;
            out.insert(rel, bytes);
        }
    }
    Ok(out)
}

/// The zip's files by name; `duplicates` is set when a name occurs more than once (the
/// reader then keeps one entry per name).
fn read_zip_files(path: &Path, duplicates: &mut bool) -> Result<BTreeMap<String, Vec<u8>>> {
    let zip_err = |source| Error::Zip {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(io_at(path))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_err)?;
    *duplicates = archive.has_duplicate_names();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zip_err)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(zip_err)?.into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|source| Error::Io {
            path: path.join(&name),
            source,
        })?;
        out.insert(name, bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        let mut files = BTreeMap::new();
        files.insert("reports/a.csv".to_owned(), b"x,y\n1,2\n".to_vec());
        files.insert("config.json".to_owned(), b"{}".to_vec());
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            tool: "patchlake".to_owned(),
            tool_version: "0".to_owned(),
            as_of: "latest".to_owned(),
            run_id: "r".to_owned(),
            run_started_at: String::new(),
            lake_root: String::new(),
            config_sha256: sha256_hex(b"{}"),
            run_config_sha256: String::new(),
            parameters: BTreeMap::new(),
            reports: Vec::new(),
            files: files
                .iter()
                .map(|(p, b)| FileEntry {
                    path: p.clone(),
                    sha256: sha256_hex(b),
                    bytes: b.len() as u64,
                })
                .collect(),
        };
        Bundle { files, manifest }
    }

    #[test]
    fn a_written_directory_verifies_and_tampering_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        bundle().write(&dir).unwrap();
        assert!(verify(&dir).unwrap().is_ok());
        assert!(matches!(bundle().write(&dir), Err(Error::Exists { .. })));

        let csv = dir.join("reports/a.csv");
        let mut bytes = fs::read(&csv).unwrap();
        bytes[0] ^= 1;
        fs::write(&csv, bytes).unwrap();
        fs::write(dir.join("reports/b.csv"), "extra").unwrap();
        fs::remove_file(dir.join("config.json")).unwrap();
        let v = verify(&dir).unwrap();
        let shown: Vec<String> = v.problems.iter().map(ToString::to_string).collect();
        assert_eq!(v.problems.len(), 3, "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|p| p.starts_with("reports/a.csv: altered"))
        );
        assert!(shown.iter().any(|p| p.starts_with("reports/b.csv: extra")));
        assert!(shown.iter().any(|p| p.starts_with("config.json: missing")));
    }

    #[test]
    fn a_written_zip_verifies_and_a_changed_byte_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let zip = tmp.path().join("bundle.zip");
        let b = bundle();
        b.write(&zip).unwrap();
        let v = verify(&zip).unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
        assert_eq!(v.manifest_sha256, b.manifest_sha256());

        // Re-zipped with one file edited and the original manifest, as a tamperer would.
        let mut files = read_zip_files(&zip, &mut false).unwrap();
        files.insert("reports/a.csv".to_owned(), b"x,y\n1,3\n".to_vec());
        let tampered = tmp.path().join("tampered.zip");
        let mut w = zip::ZipWriter::new(fs::File::create(&tampered).unwrap());
        for (name, bytes) in &files {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap();
        let v = verify(&tampered).unwrap();
        assert_eq!(
            v.problems,
            vec![Problem::Altered {
                path: "reports/a.csv".to_owned(),
                expected: sha256_hex(b"x,y\n1,2\n"),
                actual: sha256_hex(b"x,y\n1,3\n"),
            }]
        );
    }

    #[test]
    fn not_a_bundle_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = verify(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("no manifest.json"), "{err}");
    }
}
