//! Property tests of `verify`: a real bundle (built from a small committed lake) is mutated
//! at random — bytes flipped, files truncated, deleted, added, renamed, the manifest's JSON
//! corrupted, garbage written into the zip — and `verify` must never panic, and must never
//! call a changed bundle ok while its manifest digest is the one recorded at build time.
//!
//! `PROPTEST_CASES=N` (or `PATCHLAKE_FUZZ_CASES=N`) sets the cases per property (default 64).
//! Failures are recorded under `proptest-regressions/` and replayed first.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use patchlake_evidence::{Bundle, BundleMeta, MANIFEST, Verification, verify};
use patchlake_lake::{Lake, RunMeta};
use patchlake_model::RunId;
use patchlake_model::records::{Coverage, CoverageStatus, Instance, PatchState, TaskOutput};
use patchlake_query::{AsOf, LakeQuery, ReportParams};
use proptest::prelude::*;

fn cases() -> u32 {
    ["PROPTEST_CASES", "PATCHLAKE_FUZZ_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(64)
}

/// The bundle of a small committed run, built once per test binary.
fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(build_bundle())
    })
}

async fn build_bundle() -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let run_id = RunId::new(at, 7);
    let mut task = TaskOutput::empty(Coverage {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        status: CoverageStatus::Ok,
        error_code: None,
        error_message: None,
        api_calls: 5,
        throttled_calls: 0,
        retries: 0,
        started_at: at,
        finished_at: at,
        instances: 3,
    });
    for (n, missing) in [0, 2, 5].into_iter().enumerate() {
        let id = format!("i-{n:02}");
        task.instances.push(Instance {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            instance_id: id.clone(),
            operating_system: Some("AMAZON_LINUX_2023".into()),
            ..Default::default()
        });
        task.patch_states.push(PatchState {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            instance_id: id,
            baseline_id: Some("pb-1".into()),
            operation: Some("Scan".into()),
            operation_end_at: Some(at),
            installed: 10,
            missing,
            ..Default::default()
        });
    }
    lake.stage(&run_id, &task).await.unwrap();
    lake.finalize(&RunMeta::new(run_id)).await.unwrap();
    let q = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    let meta = BundleMeta {
        as_of: "latest".into(),
        tool_version: "0-test".into(),
        lake_root: dir.path().display().to_string(),
        config_json: b"{\"lake\":{}}".to_vec(),
        controls: true,
    };
    patchlake_evidence::build(&q, &meta).await.unwrap()
}

/// Every file of the bundle as written, the manifest included.
fn contents(b: &Bundle) -> BTreeMap<String, Vec<u8>> {
    let mut files = b.files.clone();
    files.insert(MANIFEST.to_owned(), b.manifest_bytes());
    files
}

#[derive(Clone, Debug)]
enum Mutation {
    /// XOR a byte of the `file`-th file (modulo the count) at `at` (modulo its length).
    Flip {
        file: usize,
        at: usize,
        mask: u8,
    },
    Truncate {
        file: usize,
        keep: usize,
    },
    Append {
        file: usize,
        bytes: Vec<u8>,
    },
    Delete {
        file: usize,
    },
    Add {
        name: String,
        bytes: Vec<u8>,
    },
    Rename {
        file: usize,
        name: String,
    },
    /// Replace a slice of the manifest's JSON text with other text.
    Manifest {
        at: usize,
        len: usize,
        text: String,
    },
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(MANIFEST.to_owned()),
        Just("config.json".to_owned()),
        Just("reports.html".to_owned()),
        "(reports/|sql/|sql/views/|)[a-z_]{1,12}\\.(csv|sql|json|txt)",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 1..=255u8).prop_map(|(file, at, mask)| Mutation::Flip {
            file,
            at,
            mask
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, keep)| Mutation::Truncate { file, keep }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(file, bytes)| Mutation::Append { file, bytes }),
        any::<usize>().prop_map(|file| Mutation::Delete { file }),
        (name(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(name, bytes)| Mutation::Add { name, bytes }),
        (any::<usize>(), name()).prop_map(|(file, name)| Mutation::Rename { file, name }),
        (
            any::<usize>(),
            0..40usize,
            prop_oneof![
                Just(String::new()),
                Just("\"".to_owned()),
                Just("0".to_owned()),
                Just("null".to_owned()),
                Just("{}".to_owned()),
                "[ -~]{0,12}",
                any::<String>(),
            ]
        )
            .prop_map(|(at, len, text)| Mutation::Manifest { at, len, text }),
    ]
}

fn nth_key(files: &BTreeMap<String, Vec<u8>>, n: usize) -> Option<String> {
    (!files.is_empty()).then(|| files.keys().nth(n % files.len()).unwrap().clone())
}

fn apply(files: &mut BTreeMap<String, Vec<u8>>, m: &Mutation) {
    match m {
        Mutation::Flip { file, at, mask } => {
            if let Some(k) = nth_key(files, *file) {
                let bytes = files.get_mut(&k).unwrap();
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= mask;
                }
            }
        }
        Mutation::Truncate { file, keep } => {
            if let Some(k) = nth_key(files, *file) {
                let bytes = files.get_mut(&k).unwrap();
                let keep = keep % (bytes.len() + 1);
                bytes.truncate(keep);
            }
        }
        Mutation::Append { file, bytes } => {
            if let Some(k) = nth_key(files, *file) {
                files.get_mut(&k).unwrap().extend_from_slice(bytes);
            }
        }
        Mutation::Delete { file } => {
            if let Some(k) = nth_key(files, *file) {
                files.remove(&k);
            }
        }
        Mutation::Add { name, bytes } => {
            files.insert(name.clone(), bytes.clone());
        }
        Mutation::Rename { file, name } => {
            if let Some(k) = nth_key(files, *file) {
                let bytes = files.remove(&k).unwrap();
                files.insert(name.clone(), bytes);
            }
        }
        Mutation::Manifest { at, len, text } => {
            if let Some(bytes) = files.get_mut(MANIFEST) {
                let at = at % (bytes.len() + 1);
                let end = (at + len).min(bytes.len());
                bytes.splice(at..end, text.bytes());
            }
        }
    }
}

fn write_dir(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn zip_bytes(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The property every outcome must have: an ok verification whose manifest digest is the
/// one recorded when the bundle was built means the files are the bundle's, byte for byte.
fn check(outcome: &patchlake_evidence::Result<Verification>, unchanged: bool) {
    let original = bundle().manifest_sha256();
    match outcome {
        Ok(v) if v.is_ok() && v.manifest_sha256 == original => {
            assert!(
                unchanged,
                "a changed bundle verified ok with its original manifest digest"
            )
        }
        Ok(v) => assert!(
            !unchanged || v.manifest_sha256 != original || v.is_ok(),
            "an unchanged bundle failed: {:?}",
            v.problems
        ),
        Err(e) => {
            assert!(!unchanged, "an unchanged bundle failed: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_mutated_directory_bundle_is_never_ok(mutations in prop::collection::vec(mutation(), 1..4)) {
        let original = contents(bundle());
        let mut files = original.clone();
        for m in &mutations {
            apply(&mut files, m);
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        std::fs::create_dir(&dir).unwrap();
        write_dir(&dir, &files);
        check(&verify(&dir), files == original);
    }

    #[test]
    fn a_mutated_zip_bundle_is_never_ok(mutations in prop::collection::vec(mutation(), 1..4)) {
        let original = contents(bundle());
        let mut files = original.clone();
        for m in &mutations {
            apply(&mut files, m);
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bundle.zip");
        std::fs::write(&path, zip_bytes(&files)).unwrap();
        check(&verify(&path), files == original);
    }

    /// Garbage at the zip level: flipped, cut or inserted bytes anywhere in the archive.
    #[test]
    fn zip_level_garbage_never_panics_or_verifies_other_bytes(
        edits in prop::collection::vec((any::<usize>(), 0..3u8, any::<u8>()), 1..6),
    ) {
        let original = contents(bundle());
        let mut bytes = bundle().zip_bytes().unwrap();
        for (at, kind, b) in &edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] ^= b | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, *b),
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bundle.zip");
        std::fs::write(&path, &bytes).unwrap();
        let outcome = verify(&path);
        if let Ok(v) = &outcome
            && v.is_ok()
            && v.manifest_sha256 == bundle().manifest_sha256()
        {
            // The archive changed but still holds exactly the bundle's files (a header field
            // the reader ignores): that is the only way to be ok.
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
            let mut read = BTreeMap::new();
            for i in 0..archive.len() {
                let mut e = archive.by_index(i).unwrap();
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut buf).unwrap();
                prop_assert!(
                    read.insert(e.name().unwrap().into_owned(), buf).is_none(),
                    "a duplicated entry verified ok"
                );
            }
            prop_assert_eq!(read, original);
        }
    }
}

#[test]
fn the_unmutated_bundle_verifies_as_a_directory_and_a_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    let zip = tmp.path().join("bundle.zip");
    bundle().write(&dir).unwrap();
    bundle().write(&zip).unwrap();
    for path in [&dir, &zip] {
        let v = verify(path).unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
        assert_eq!(v.manifest_sha256, bundle().manifest_sha256());
        assert!(v.files_checked > 10);
    }
}

/// A zip holding one file twice — a tampered copy and the original — must not verify: which
/// copy a reader extracts depends on the tool.
#[test]
fn a_zip_with_a_duplicated_entry_is_not_ok() {
    let original = contents(bundle());
    let victim = "config.json";
    let twin = "config.jsoX";
    let mut files = original.clone();
    files.insert(
        twin.to_owned(),
        b"{\"lake\":{\"root\":\"elsewhere\"}}".to_vec(),
    );
    let mut bytes = zip_bytes(&files);
    // Rename the twin to the victim's name in its local and central headers.
    let mut i = 0;
    while let Some(p) = bytes[i..]
        .windows(twin.len())
        .position(|w| w == twin.as_bytes())
    {
        bytes[i + p..i + p + twin.len()].copy_from_slice(victim.as_bytes());
        i += p + twin.len();
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bundle.zip");
    std::fs::write(&path, &bytes).unwrap();
    match verify(&path) {
        Ok(v) => assert!(!v.is_ok(), "a zip with config.json twice verified ok"),
        Err(e) => assert!(e.to_string().contains("bundle.zip"), "{e}"),
    }
}
