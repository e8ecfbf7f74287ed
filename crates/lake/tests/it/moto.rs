//! moto's S3 server on loopback (the shared launcher of `patchlake-testkit`: started once
//! per test binary, reset between tests, one test at a time) and real aws-sdk-s3 clients for
//! it that check `ExpectedBucketOwner`. `PATCHLAKE_SKIP_S3_TESTS=1` skips the S3 tests;
//! otherwise a missing `moto_server` fails them.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

pub use patchlake_testkit::moto::{MOTO_ACCOUNT, skipped};

pub const BUCKET: &str = "patchlake-test";

/// Requests seen by a client: the operation and its `x-amz-expected-bucket-owner` header.
pub type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Exclusive use of the moto server with a fresh bucket.
pub struct Moto {
    pub endpoint: String,
    pub seen: Seen,
    _server: patchlake_testkit::moto::Moto,
}

impl Moto {
    /// Waits for the server, resets it and creates [`BUCKET`].
    pub async fn bucket() -> Moto {
        let server = patchlake_testkit::moto::Moto::start().await;
        let moto = Moto {
            endpoint: server.endpoint.clone(),
            seen: Seen::default(),
            _server: server,
        };
        moto.client()
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("creating the test bucket");
        moto.seen.lock().unwrap().clear();
        moto
    }

    /// A client as the client factory builds one, pointed at moto. It records every request
    /// and answers one whose `ExpectedBucketOwner` is not [`MOTO_ACCOUNT`] with S3's 403
    /// (moto does not check the header).
    pub fn client(&self) -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .interceptor(OwnerCheck {
                seen: self.seen.clone(),
            })
            .build();
        Client::from_conf(config)
    }

    /// Operations sent without `ExpectedBucketOwner`, or with another owner than `owner`.
    pub fn without_owner(&self, owner: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, o)| o.as_deref() != Some(owner))
            .map(|(op, _)| op.clone())
            .collect()
    }
}

#[derive(Debug)]
struct OwnerCheck {
    seen: Seen,
}

#[derive(Debug, Clone)]
struct WrongOwner {
    head: bool,
}

impl Storable for WrongOwner {
    type Storer = StoreReplace<Self>;
}

impl Intercept for OwnerCheck {
    fn name(&self) -> &'static str {
        "OwnerCheck"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let owner = request
            .headers()
            .get("x-amz-expected-bucket-owner")
            .map(str::to_owned);
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        if owner.as_deref().is_some_and(|o| o != MOTO_ACCOUNT) {
            let head = request.method() == "HEAD";
            cfg.interceptor_state().store_put(WrongOwner { head });
        } else {
            cfg.interceptor_state().unset::<WrongOwner>();
        }
        self.seen.lock().unwrap().push((op, owner));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(wrong) = cfg.load::<WrongOwner>() {
            let body = if wrong.head {
                SdkBody::empty()
            } else {
                SdkBody::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                     <Message>Access Denied</Message></Error>",
                )
            };
            *context.response_mut() =
                Response::new(StatusCode::try_from(403).expect("valid status"), body);
        }
        Ok(())
    }
}
