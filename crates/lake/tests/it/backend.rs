//! The same test body against both storage backends: a local directory and S3 (moto).

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use patchlake_lake::{Lake, LakeOptions, S3Options};

use crate::moto::{BUCKET, MOTO_ACCOUNT, Moto};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

/// A lake on a fresh root of one backend, with helpers that reach around the lake to inspect
/// or damage its objects.
pub struct TestLake {
    pub lake: Lake,
    pub moto: Option<Moto>,
    _dir: Option<tempfile::TempDir>,
}

/// The S3 options of the parametrized tests: owner check and SSE-KMS on.
pub fn s3_options() -> S3Options {
    S3Options {
        expected_bucket_owner: Some(MOTO_ACCOUNT.to_owned()),
        sse_kms_key_id: Some("alias/patchlake-test".to_owned()),
        ..S3Options::default()
    }
}

impl TestLake {
    pub async fn new(backend: Backend) -> TestLake {
        TestLake::with_s3_options(backend, s3_options()).await
    }

    pub async fn with_s3_options(backend: Backend, options: S3Options) -> TestLake {
        match backend {
            Backend::Local => {
                let dir = tempfile::tempdir().unwrap();
                let root = dir.path().join("lake");
                let lake = Lake::open_url(root.to_str().unwrap(), None, S3Options::default())
                    .await
                    .unwrap();
                TestLake {
                    lake,
                    moto: None,
                    _dir: Some(dir),
                }
            }
            Backend::S3 => {
                let moto = Moto::bucket().await;
                let lake =
                    Lake::open_url(&format!("s3://{BUCKET}/lake"), Some(moto.client()), options)
                        .await
                        .unwrap();
                TestLake {
                    lake,
                    moto: Some(moto),
                    _dir: None,
                }
            }
        }
    }

    pub fn with_options(mut self, options: LakeOptions) -> TestLake {
        self.lake = self.lake.with_options(options);
        self
    }

    /// Every row of the Parquet object `key`.
    pub async fn read(&self, key: &str) -> RecordBatch {
        let file = self.lake.storage().get_file(key).await.unwrap();
        let reader = std::fs::File::open(file.path()).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(reader).unwrap();
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
        arrow::compute::concat_batches(&schema, &batches).unwrap()
    }

    pub async fn size(&self, key: &str) -> Option<u64> {
        self.lake.storage().head(key).await.unwrap().map(|m| m.size)
    }

    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let list = self.lake.storage().list(prefix).await.unwrap();
        list.into_iter().map(|m| m.key).collect()
    }

    /// Flips one bit in the middle of `key`, keeping its size.
    pub async fn flip_byte(&self, key: &str) {
        let storage = self.lake.storage();
        let mut bytes = storage.get(key).await.unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        storage.put(key, bytes).await.unwrap();
    }

    /// Checks, at the end of an S3 test, that every request carried `ExpectedBucketOwner`.
    pub fn assert_owner_always_sent(&self) {
        if let Some(moto) = &self.moto {
            let missing = moto.without_owner(MOTO_ACCOUNT);
            assert!(
                missing.is_empty(),
                "requests without ExpectedBucketOwner: {missing:?}"
            );
        }
    }
}

/// Generates, for each `async fn name(backend: Backend)`, the tests `local::name` and
/// `s3::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::backend::Backend::Local).await
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::moto::skipped() {
                        return;
                    }
                    super::$name($crate::backend::Backend::S3).await
                }
            )*
        }
    };
}
