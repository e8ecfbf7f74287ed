//! What only the S3 backend does: conditional and multipart uploads, checksums, encryption,
//! pagination, batch deletes, the bucket owner check and error classification.

use std::sync::Arc;

use aws_sdk_s3::types::{ChecksumMode, ServerSideEncryption};
use futures::StreamExt;
use patchlake_lake::{Error, Lake, RunMeta, S3Options, S3Storage, Storage};
use patchlake_model::CoverageStatus;

use crate::backend::{Backend, TestLake, s3_options};
use crate::fixtures::{run_id, task};
use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto, skipped};

/// Deterministic, incompressible-enough bytes.
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect()
}

fn ops(moto: &Moto) -> Vec<String> {
    moto.seen
        .lock()
        .unwrap()
        .iter()
        .map(|(op, _)| op.clone())
        .collect()
}

#[tokio::test]
async fn create_only_writes_never_overwrite() {
    if skipped() {
        return;
    }
    let t = TestLake::new(Backend::S3).await;
    let s = t.lake.storage();
    s.put_new("runs/x.parquet", b"first".to_vec())
        .await
        .unwrap();
    let err = s
        .put_new("runs/x.parquet", b"second".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("s3://patchlake-test/lake/runs/x.parquet"),
        "{err}"
    );
    assert_eq!(s.get("runs/x.parquet").await.unwrap(), b"first");
    t.assert_owner_always_sent();
}

#[tokio::test]
async fn large_objects_are_uploaded_in_parts_with_checksums() {
    if skipped() {
        return;
    }
    let options = S3Options {
        multipart_threshold: 64 * 1024,
        part_size: 16 * 1024,
        ..s3_options()
    };
    let t = TestLake::with_s3_options(Backend::S3, options.clone()).await;
    let moto = t.moto.as_ref().unwrap();
    let s = t.lake.storage();

    let data = payload(200 * 1024 + 7);
    s.put("big/a.bin", data.clone()).await.unwrap();
    assert_eq!(s.get("big/a.bin").await.unwrap(), data);
    let seen = ops(moto);
    assert!(
        seen.iter().any(|o| o == "CreateMultipartUpload"),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|o| *o == "UploadPart").count(),
        13,
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|o| o == "CompleteMultipartUpload"),
        "{seen:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("b.bin");
    std::fs::write(&local, &data[..100_000]).unwrap();
    s.put_file("big/b.bin", &local).await.unwrap();
    assert!(!local.exists(), "put_file consumes the local file");
    let file = s.get_file("big/b.bin").await.unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), &data[..100_000]);

    // A create-only multipart upload is conditional too.
    let err = s
        .put_new("big/a.bin", payload(70 * 1024))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(s.get("big/a.bin").await.unwrap(), data);

    let client = moto.client();
    let uploads = client
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the failed upload was aborted: {uploads:?}"
    );
    let head = client
        .head_object()
        .bucket(BUCKET)
        .key("lake/big/b.bin")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(head.checksum_crc32_c().is_some(), "{head:?}");
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert!(
        head.ssekms_key_id()
            .unwrap_or_default()
            .contains("patchlake-test"),
        "{head:?}"
    );

    // A whole run through multipart uploads, with SHA-256 checksums (a fresh bucket: the
    // first lake holds the server until dropped).
    drop(t);
    let t = TestLake::with_s3_options(
        Backend::S3,
        S3Options {
            multipart_threshold: 2048,
            part_size: 1024,
            checksum: aws_sdk_s3::types::ChecksumAlgorithm::Sha256,
            ..options
        },
    )
    .await;
    let run = run_id(8);
    t.lake
        .stage(
            &run,
            &task("000000000001", "us-east-1", 50, 20, CoverageStatus::Ok),
        )
        .await
        .unwrap();
    let record = t.lake.finalize(&RunMeta::new(run.clone())).await.unwrap();
    assert!(record.files.iter().any(|f| f.bytes > 2048));
    assert!(t.lake.verify(&run).await.unwrap().is_ok());
    t.assert_owner_always_sent();
}

#[tokio::test]
async fn listing_paginates_and_prefix_deletes_batch() {
    if skipped() {
        return;
    }
    let t = TestLake::new(Backend::S3).await;
    let s = t.lake.storage().clone();
    let keys: Vec<String> = (0..1005).map(|i| format!("many/k{i:05}")).collect();
    futures::stream::iter(keys.clone())
        .for_each_concurrent(16, |k| {
            let s = s.clone();
            async move { s.put(&k, b"x".to_vec()).await.unwrap() }
        })
        .await;
    s.put("manyother/k", b"y".to_vec()).await.unwrap();
    let listed: Vec<String> = s
        .list("many")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(
        listed, keys,
        "all pages, sorted, and not the sibling prefix"
    );
    let seen = ops(t.moto.as_ref().unwrap());
    assert!(seen.iter().filter(|o| *o == "ListObjectsV2").count() >= 2);
    assert_eq!(s.delete_prefix("many").await.unwrap(), 1005);
    assert!(s.list("many").await.unwrap().is_empty());
    assert_eq!(s.list("").await.unwrap().len(), 1);
    let seen = ops(t.moto.as_ref().unwrap());
    assert_eq!(
        seen.iter().filter(|o| *o == "DeleteObjects").count(),
        2,
        "1000 keys a batch"
    );
    assert!(s.delete_prefix("").await.is_err(), "never the whole root");
    t.assert_owner_always_sent();
}

#[tokio::test]
async fn a_bucket_of_another_owner_is_refused() {
    if skipped() {
        return;
    }
    let moto = Moto::bucket().await;
    let url = format!("s3://{BUCKET}/lake");
    let wrong = S3Options {
        expected_bucket_owner: Some("999999999999".into()),
        ..S3Options::default()
    };
    let err = Lake::open_url(&url, Some(moto.client()), wrong.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongBucketOwner { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("s3://patchlake-test") && msg.contains("999999999999"),
        "{msg}"
    );

    // Past the open check, every request is refused by S3 and says why it might be.
    let storage = S3Storage::new(moto.client(), &url, wrong).unwrap();
    let err = storage.get("runs/x").await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("s3://patchlake-test/lake/runs/x") && msg.contains("999999999999"),
        "{msg}"
    );
    let err = storage.put("runs/x", b"x".to_vec()).await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");

    // The right owner opens.
    let right = S3Options {
        expected_bucket_owner: Some(MOTO_ACCOUNT.into()),
        ..S3Options::default()
    };
    Lake::open_url(&url, Some(moto.client()), right)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_bucket_is_named() {
    if skipped() {
        return;
    }
    let moto = Moto::bucket().await;
    let err = Lake::open_url(
        "s3://no-such-bucket/lake",
        Some(moto.client()),
        s3_options(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NoSuchBucket { .. }), "{err}");
    assert!(
        err.to_string().contains("s3://no-such-bucket/lake"),
        "{err}"
    );

    let storage = S3Storage::new(moto.client(), "s3://no-such-bucket/lake", s3_options()).unwrap();
    let lake = Lake::with_storage(Arc::new(storage));
    let err = lake.committed_runs().await.unwrap_err();
    assert!(matches!(err, Error::NoSuchBucket { .. }), "{err}");
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
    let err = lake.storage().put("a/b", b"x".to_vec()).await.unwrap_err();
    assert!(matches!(err, Error::NoSuchBucket { .. }), "{err}");
}

#[tokio::test]
async fn open_url_picks_the_backend_by_scheme() {
    let err = Lake::open_url("gs://bucket/lake", None, S3Options::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    assert!(
        err.to_string().contains("\"gs\"") && err.to_string().contains("s3://"),
        "{err}"
    );
    let err = Lake::open_url("s3://bucket/lake", None, S3Options::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs an S3 client"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("l");
    let lake = Lake::open_url(
        &format!("file://{}", root.display()),
        None,
        S3Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(lake.local_root().unwrap(), root.canonicalize().unwrap());
}
