//! The lake's S3 client: the starting identity, in the lake bucket's region, at the lake's
//! own endpoint.

use aws_config::Region;
use aws_credential_types::provider::SharedCredentialsProvider;
use patchlake_config::LakeConfig;

use crate::ClientFactory;

impl ClientFactory {
    /// An S3 client for the lake, acting as the starting identity (the lake lives in a central
    /// account; it is never written through a member-account role). The region is
    /// `lake.region`, else `aws.home_region`; the endpoint is `lake.endpoint_url` only:
    /// `aws.endpoint_url` (the SSM/STS endpoint override) is deliberately not inherited, since
    /// the simulator behind it does not speak S3.
    pub fn s3(&self, lake: &LakeConfig) -> aws_sdk_s3::Client {
        let region = lake
            .region
            .clone()
            .unwrap_or_else(|| self.home_region().to_owned());
        let mut b = aws_sdk_s3::config::Builder::from(self.base())
            .region(Region::new(region))
            .force_path_style(lake.force_path_style);
        b.set_endpoint_url(lake.endpoint_url.clone());
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// The starting identity's credentials provider, which [`Self::s3`] clients sign with,
    /// for readers of the lake that are not SDK clients (DataFusion's object store): an SDK
    /// client does not hand its provider out.
    pub fn s3_credentials(&self) -> Option<SharedCredentialsProvider> {
        self.base().credentials_provider()
    }
}

#[cfg(test)]
mod tests {
    use patchlake_config::{AwsConfig, LakeConfig};

    use crate::ClientFactory;

    #[tokio::test]
    async fn the_lake_client_takes_its_region_and_endpoint_from_the_lake_section() {
        let aws = AwsConfig {
            home_region: "eu-west-1".into(),
            endpoint_url: Some("http://127.0.0.1:1".into()),
            ..AwsConfig::default()
        };
        let creds = aws_credential_types::Credentials::new("a", "b", None, None, "test");
        let factory = ClientFactory::new(&aws, Some(creds)).await;

        let lake = LakeConfig::default();
        let client = factory.s3(&lake);
        assert_eq!(client.config().region().unwrap().as_ref(), "eu-west-1");
        assert!(factory.s3_credentials().is_some());

        let lake = LakeConfig {
            region: Some("us-west-2".into()),
            endpoint_url: Some("http://127.0.0.1:2".into()),
            force_path_style: true,
            ..LakeConfig::default()
        };
        let client = factory.s3(&lake);
        assert_eq!(client.config().region().unwrap().as_ref(), "us-west-2");
    }
}
