//! The lake on S3 end to end: the simulator collected by `collect_run` into an `s3://` lake on
//! moto, read back by the query layer (DataFusion through object_store, with the writer's
//! credentials), equal to the same collection into a local lake; bad lake settings fail
//! naming the bucket and the configuration key.

use std::sync::Arc;

use arrow::array::RecordBatch;
use patchlake::demo::simulator_credentials;
use patchlake::pipeline::{collect_run, collect_run_as, explain, open_lake_with};
use patchlake_assume::ClientFactory;
use patchlake_config::Config;
use patchlake_model::RunId;
use patchlake_query::{AsOf, LakeQuery, ReportParams};

use crate::harness;
use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto, skipped};

fn s3_config(base: &Config, moto: &Moto, bucket: &str) -> Config {
    harness::with(
        base,
        &[
            &format!("lake.root=s3://{bucket}/lake"),
            &format!("lake.endpoint_url={}", moto.endpoint),
            "lake.force_path_style=true",
            &format!("lake.expected_bucket_owner={MOTO_ACCOUNT}"),
            "lake.kms_key_id=alias/patchlake-test",
        ],
    )
}

async fn factory(config: &Config) -> ClientFactory {
    ClientFactory::new(&config.aws, Some(simulator_credentials())).await
}

/// The first row's value of `column`, as an integer.
fn int(batches: &[RecordBatch], column: &str) -> i64 {
    let array = batches[0].column_by_name(column).unwrap();
    let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Int64).unwrap();
    array
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

fn pretty(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

const CHECKS: [&str; 3] = [
    "SELECT * FROM instance_compliance ORDER BY account_id, region, instance_id",
    "SELECT account_id, region, COUNT(*) AS n, SUM(array_length(cve_ids)) AS cves \
     FROM instance_patches GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT account_id, region, status, instances FROM coverage ORDER BY 1, 2",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_collected_into_s3_reads_back_equal_to_a_local_lake() {
    if skipped() {
        return;
    }
    let moto = Moto::start().await;
    let spec = harness::small_spec(21);
    let sim = harness::sim(&spec).await;
    let dir = tempfile::tempdir().unwrap();
    let local = harness::config(&sim, dir.path());
    let s3 = s3_config(&local, &moto, BUCKET);
    let f = factory(&s3).await;
    f.s3(&s3.lake)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("creating the test bucket");

    // One run id (and so one run start) for both lakes: staleness is judged against the run's
    // start, and on a loaded machine the two collections can be minutes apart.
    let run_id = RunId::new(chrono::Utc::now(), 0x53_0001);
    let on_s3 = collect_run_as(
        Arc::new(s3.clone()),
        Some(simulator_credentials()),
        run_id.clone(),
    )
    .await
    .unwrap();
    let on_disk = collect_run_as(
        Arc::new(local.clone()),
        Some(simulator_credentials()),
        run_id,
    )
    .await
    .unwrap();
    assert!(on_s3.is_complete(), "{:?}", on_s3.coverage);
    assert_eq!(on_s3.run.row_counts, on_disk.run.row_counts);
    assert!(on_s3.run.row_counts["instance_patches"] > 0);

    let lake = open_lake_with(&s3, Some(&f)).await.unwrap();
    let runs = lake.committed_runs().await.unwrap();
    assert_eq!(runs, vec![on_s3.run.clone()]);
    assert!(
        lake.staged_runs().await.unwrap().is_empty(),
        "staging removed"
    );
    assert!(lake.verify(&on_s3.run.run_id).await.unwrap().is_ok());

    // The report layer reads the S3 lake through object_store: the same answers.
    let remote = LakeQuery::from_lake(&lake, AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    let disk = LakeQuery::open(dir.path(), AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    assert_eq!(remote.run().run_id, on_s3.run.run_id);
    for sql in CHECKS {
        let (a, b) = (
            pretty(&remote.sql(sql).await.unwrap()),
            pretty(&disk.sql(sql).await.unwrap()),
        );
        assert_eq!(a, b, "{sql}");
    }
    for report in ["compliance_by_patch_group", "compliance_by_baseline"] {
        assert_eq!(
            pretty(&remote.report(report).await.unwrap()),
            pretty(&disk.report(report).await.unwrap()),
            "{report}"
        );
    }
    let history = remote
        .sql("SELECT COUNT(DISTINCT run_id) AS runs FROM history_instances")
        .await
        .unwrap();
    assert_eq!(int(&history, "runs"), 1);

    // A second run on S3: incremental against the first (read through DataFusion on S3);
    // as-of the first run still reads the first.
    let second = collect_run(Arc::new(s3.clone()), Some(simulator_credentials()))
        .await
        .unwrap();
    assert_eq!(second.run.row_counts, on_s3.run.row_counts);
    let first = LakeQuery::from_lake(
        &lake,
        AsOf::Run(on_s3.run.run_id.clone()),
        ReportParams::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.run().run_id, on_s3.run.run_id);
    let counted = first
        .sql("SELECT COUNT(DISTINCT run_id) AS runs, COUNT(*) AS n FROM history_instances")
        .await
        .unwrap();
    assert_eq!(int(&counted, "runs"), 2);
    assert_eq!(int(&counted, "n"), 2 * on_s3.run.row_counts["instances"]);

    // A corrupt Parquet file in the S3 lake: the query fails naming the object.
    let file = second
        .run
        .files
        .iter()
        .find(|f| f.table == "instances")
        .unwrap();
    lake.storage()
        .put(&file.path, corrupt_parquet(file.bytes as usize))
        .await
        .unwrap();
    let q = LakeQuery::from_lake(&lake, AsOf::Latest, ReportParams::default())
        .await
        .unwrap();
    // The query fails instead of answering from a damaged file, naming it. (parquet 59.3
    // panics inside its footer decoder on such bytes and DataFusion's error names no file:
    // the query layer checks the run's files against its runs record to name it.)
    let err = q
        .sql("SELECT COUNT(*) FROM instances WHERE instance_id <> ''")
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&file.path), "{err}");
    assert!(err.to_string().contains("lake verify"), "{err}");
    let verified = lake.verify(&second.run.run_id).await.unwrap();
    assert!(
        !verified.is_ok() && verified.to_string().contains(&file.path),
        "{verified}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_lake_settings_name_the_bucket_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let spec = harness::small_spec(3);
    let sim = harness::sim(&spec).await;
    let local = harness::config(&sim, dir.path());

    // An unknown scheme is refused when the configuration loads, naming the key.
    let err = patchlake_config::ConfigLoader::new()
        .toml(&local.to_toml(), "test")
        .unwrap()
        .set_arg("lake.root=gs://bucket/lake")
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lake.root") && err.contains("gs://") && err.contains("s3://"),
        "{err}"
    );

    // Classified errors carry the configuration key to check.
    let owner = harness::with(&local, &["lake.expected_bucket_owner=999999999999"]);
    let err = explain(
        patchlake_lake::Error::WrongBucketOwner {
            bucket: "lake-bucket".into(),
            expected: "999999999999".into(),
        },
        &owner,
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("lake.expected_bucket_owner") && msg.contains("s3://lake-bucket"),
        "{msg}"
    );
    let kms = harness::with(&local, &["lake.kms_key_id=alias/gone"]);
    let err = explain(
        patchlake_lake::Error::KmsDenied {
            path: "s3://lake-bucket/lake/runs/x".into(),
            detail: "PutObject: KMS.DisabledException".into(),
        },
        &kms,
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("lake.kms_key_id")
            && msg.contains("alias/gone")
            && msg.contains("s3://lake-bucket/lake/runs/x"),
        "{msg}"
    );

    if !skipped() {
        let moto = Moto::start().await;
        let missing = s3_config(&local, &moto, "no-such-bucket");
        let f = factory(&missing).await;
        let err = format!(
            "{:#}",
            open_lake_with(&missing, Some(&f)).await.unwrap_err()
        );
        assert!(
            err.contains("no-such-bucket") && err.contains("lake.root"),
            "{err}"
        );

        // A KMS key the writer may not use: S3 refuses the first write; the run fails naming
        // the key's configuration and the object, and nothing is committed.
        let proxy = patchlake_testkit::s3_proxy::S3Proxy::start(
            &moto.endpoint,
            patchlake_testkit::s3_proxy::S3Faults {
                deny_kms_key: Some("alias/not-ours".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let denied = harness::with(
            &s3_config(&local, &moto, BUCKET),
            &[
                &format!("lake.endpoint_url={}", proxy.endpoint()),
                "lake.kms_key_id=alias/not-ours",
            ],
        );
        let f = factory(&denied).await;
        f.s3(&denied.lake)
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("creating the test bucket");
        let err = collect_run(Arc::new(denied.clone()), Some(simulator_credentials()))
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("lake.kms_key_id")
                && msg.contains("alias/not-ours")
                && msg.contains("kms:GenerateDataKey")
                && msg.contains(&format!("s3://{BUCKET}/lake/")),
            "{msg}"
        );
        let lake = open_lake_with(&denied, Some(&f)).await.unwrap();
        assert!(lake.committed_runs().await.unwrap().is_empty());
    }
    sim.shutdown().await;
}

/// Garbage of the committed file's length, framed like Parquet (magic at both ends), so
/// the reader gets as far as decoding the footer. (A truncated object makes parquet 59.3
/// panic inside its reader instead of returning an error; see the issue notes.)
fn corrupt_parquet(len: usize) -> Vec<u8> {
    let mut bytes = vec![b'x'; len.max(12)];
    bytes[..4].copy_from_slice(b"PAR1");
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(b"PAR1");
    bytes
}
