//! Where DataFusion reads a lake's files from: the local filesystem, or the lake's S3 bucket
//! through object_store with the lake writer's own credentials.
//!
//! An S3 lake's [`S3Storage`] holds the aws-sdk-s3 client the client factory built and, in its
//! options, that client's credentials provider (the starting identity: environment, profile,
//! SSO, web identity, ECS/Lambda or IMDS), which is bridged into object_store's [`CredentialProvider`], so both sides
//! sign with one credential source and refresh it the same way. Region, endpoint and
//! path-style addressing come from the same configuration the client was built from, and
//! `ExpectedBucketOwner` is sent on every read as a default header.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use datafusion::execution::context::SessionContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use object_store::ClientOptions;
use object_store::CredentialProvider;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use patchlake_lake::{Lake, ObjectMeta, S3Storage};
use patchlake_model::RunId;

use crate::{Error, Result};

/// How the query context names a lake's objects.
#[derive(Clone, Debug)]
pub(crate) struct LakeFiles {
    /// The store DataFusion reads through.
    pub store: ObjectStoreUrl,
    /// The lake root, for messages.
    pub root: PathBuf,
    kind: Kind,
    /// The current record object of every committed run.
    pub records: BTreeMap<RunId, ObjectMeta>,
}

#[derive(Clone, Debug)]
enum Kind {
    Local(PathBuf),
    S3 { prefix: String },
}

impl LakeFiles {
    /// The path DataFusion reads for the lake key `key`.
    pub fn path(&self, key: &str) -> String {
        match &self.kind {
            Kind::Local(root) => root.join(key).to_string_lossy().into_owned(),
            Kind::S3 { prefix } if prefix.is_empty() => key.to_owned(),
            Kind::S3 { prefix } => format!("{prefix}/{key}"),
        }
    }
}

/// Resolves the lake's files and, for an S3 lake, registers its bucket with `ctx`.
pub(crate) async fn register(ctx: &SessionContext, lake: &Lake) -> Result<LakeFiles> {
    let records = lake.committed_run_objects().await?;
    if let Some(root) = lake.local_root() {
        return Ok(LakeFiles {
            store: ObjectStoreUrl::local_filesystem(),
            root: root.clone(),
            kind: Kind::Local(root),
            records,
        });
    }
    let Some(s3) = lake.storage().as_s3() else {
        return Err(Error::NotLocal {
            root: lake.storage().url(""),
        });
    };
    let store = s3_object_store(s3)?;
    let url = ObjectStoreUrl::parse(format!("s3://{}", s3.bucket())).map_err(|e| Error::Setup {
        what: format!("object store for s3://{}", s3.bucket()),
        source: Box::new(e),
    })?;
    ctx.register_object_store(url.as_ref(), Arc::new(store));
    Ok(LakeFiles {
        store: url,
        root: PathBuf::from(lake.storage().url("")),
        kind: Kind::S3 {
            prefix: s3.prefix().to_owned(),
        },
        records,
    })
}

/// object_store's S3 client for the bucket of `s3`, signing with the SDK client's credentials.
fn s3_object_store(s3: &S3Storage) -> Result<object_store::aws::AmazonS3> {
    let bucket = s3.bucket();
    let what = || format!("object store for s3://{bucket}");
    let config = s3.client().config();
    let options = s3.options();
    let credentials = options.credentials.clone().ok_or_else(|| Error::Setup {
        what: what(),
        source: Box::new(datafusion::error::DataFusionError::Configuration(
            "the lake was opened without its credentials provider (S3Options::credentials)"
                .to_owned(),
        )),
    })?;
    let mut client = ClientOptions::new();
    if let Some(owner) = &options.expected_bucket_owner {
        let mut headers = http::HeaderMap::new();
        let value = http::HeaderValue::from_str(owner).map_err(|e| Error::Setup {
            what: what(),
            source: Box::new(datafusion::error::DataFusionError::Configuration(format!(
                "lake.expected_bucket_owner {owner:?}: {e}"
            ))),
        })?;
        headers.insert("x-amz-expected-bucket-owner", value);
        client = client.with_default_headers(headers);
    }
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_credentials(Arc::new(SdkCredentials::new(credentials)))
        .with_virtual_hosted_style_request(!options.force_path_style);
    if let Some(region) = config.region() {
        builder = builder.with_region(region.as_ref());
    }
    if let Some(endpoint) = &options.endpoint_url {
        client = client.with_allow_http(endpoint.starts_with("http://"));
        builder = builder.with_endpoint(endpoint);
    }
    builder
        .with_client_options(client)
        .build()
        .map_err(|e| Error::Setup {
            what: what(),
            source: Box::new(datafusion::error::DataFusionError::ObjectStore(Box::new(e))),
        })
}

/// The SDK's credentials provider as an object_store [`CredentialProvider`], with a cache:
/// object_store asks for credentials on every request, the SDK's chain may call STS or IMDS.
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

/// Credentials are refreshed this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials {
            provider,
            cached: Mutex::new(None),
        }
    }

    async fn get(&self) -> object_store::Result<Arc<AwsCredential>> {
        if let Some((credential, expiry)) = self.cached.lock().expect("not poisoned").clone() {
            let fresh = expiry.is_none_or(|at| {
                at.duration_since(SystemTime::now())
                    .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
            });
            if fresh {
                return Ok(credential);
            }
        }
        let credentials = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: format!("loading the lake's AWS credentials: {e}").into(),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *self.cached.lock().expect("not poisoned") =
            Some((credential.clone(), credentials.expiry()));
        Ok(credential)
    }
}

type CredentialFuture<'a> =
    Pin<Box<dyn Future<Output = object_store::Result<Arc<AwsCredential>>> + Send + 'a>>;

// `CredentialProvider` is an `#[async_trait]` trait, written out as in `table.rs`.
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    fn get_credential<'life0, 'async_trait>(&'life0 self) -> CredentialFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sdk_credentials_are_bridged_and_cached() {
        let provider = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            "AKID",
            "SECRET",
            Some("TOKEN".into()),
            None,
            "test",
        ));
        let bridge = SdkCredentials::new(provider);
        let first = bridge.get_credential().await.unwrap();
        assert_eq!(first.key_id, "AKID");
        assert_eq!(first.secret_key, "SECRET");
        assert_eq!(first.token.as_deref(), Some("TOKEN"));
        let second = bridge.get_credential().await.unwrap();
        assert!(Arc::ptr_eq(&first, &second), "served from the cache");
    }
}
