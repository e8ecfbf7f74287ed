//! The lake on S3: [`S3Storage`] implements [`Storage`] over `s3://bucket/prefix` with
//! aws-sdk-s3.
//!
//! It never builds its own client (the client factory owns endpoints, credentials, retries and
//! timeouts) and never sets ACLs. Every request carries `ExpectedBucketOwner` when one is
//! configured; uploads carry a checksum the server verifies and are encrypted with SSE-KMS
//! under the configured key (else the bucket default). Create-only writes use a conditional
//! put (`If-None-Match: *`), so a commit record is never overwritten.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier,
    ServerSideEncryption,
};
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::storage::{LocalFile, ObjectMeta, Storage, check_key};
use crate::{Error, Result};

/// S3's limit on keys per `DeleteObjects` request.
const DELETE_BATCH: usize = 1000;

/// How [`S3Storage`] writes.
#[derive(Clone, Debug)]
pub struct S3Options {
    /// Sent as `ExpectedBucketOwner` on every request: S3 refuses (403) if another account
    /// owns the bucket.
    pub expected_bucket_owner: Option<String>,
    /// KMS key (id, alias or ARN) for SSE-KMS; `None` leaves encryption to the bucket default.
    pub sse_kms_key_id: Option<String>,
    /// Objects larger than this are uploaded in parts.
    pub multipart_threshold: u64,
    /// Size of each part but the last (S3 requires at least 5 MiB).
    pub part_size: u64,
    /// Checksum the server verifies on every upload (CRC32C or SHA-256).
    pub checksum: ChecksumAlgorithm,
    /// The endpoint the client was built with (`lake.endpoint_url`), `None` for AWS. The
    /// writer's client already carries it; readers that open their own connection to the same
    /// bucket with the client's credentials (DataFusion's object store) need it spelled out,
    /// since an SDK client does not expose it.
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`lake.force_path_style`), for the same readers.
    pub force_path_style: bool,
    /// The credentials provider the client signs with, for the same readers (an SDK client
    /// does not hand out its provider). `None`: such readers cannot be built.
    pub credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            expected_bucket_owner: None,
            sse_kms_key_id: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            checksum: ChecksumAlgorithm::Crc32C,
            endpoint_url: None,
            force_path_style: false,
            credentials: None,
        }
    }
}

/// A lake rooted at `s3://bucket/prefix`.
pub struct S3Storage {
    client: Client,
    bucket: String,
    /// Without leading or trailing `/`; empty for the bucket root.
    prefix: String,
    options: S3Options,
    /// Cleared when the server rejects `If-None-Match` (older S3-compatible stores); create-only
    /// writes then check with a HEAD first, which is not atomic.
    conditional_writes: AtomicBool,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("root", &self.url(""))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Splits `s3://bucket/prefix` into bucket and prefix (without surrounding `/`).
pub fn parse_s3_url(url: &str) -> Result<(String, String)> {
    let bad = |reason: &str| Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket name"));
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(bad(
            "bucket names hold only lowercase letters, digits, '-' and '.'",
        ));
    }
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        check_key(prefix, false).map_err(|e| bad(&e.to_string()))?;
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// What an upload reads from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

impl Source<'_> {
    async fn part(&self, offset: u64, len: u64) -> std::result::Result<ByteStream, String> {
        match *self {
            Source::Bytes(data) => Ok(ByteStream::from(
                data[offset as usize..(offset + len) as usize].to_vec(),
            )),
            Source::File(path) => ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

impl S3Storage {
    /// Storage at `s3://bucket/prefix` through `client`. Makes no request; see [`Self::check`].
    pub fn new(client: Client, url: &str, options: S3Options) -> Result<Self> {
        let (bucket, prefix) = parse_s3_url(url)?;
        Ok(S3Storage {
            client,
            bucket,
            prefix,
            options,
            conditional_writes: AtomicBool::new(true),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn options(&self) -> &S3Options {
        &self.options
    }

    /// The client: readers take its credentials provider and region, so one credential source
    /// serves both the writer and the query layer.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The full object key of the lake key `key` (the prefix prepended).
    pub fn object_key(&self, key: &str) -> String {
        self.full_key(key)
    }

    /// Checks that the bucket exists, is reachable with these credentials and, if configured,
    /// is owned by the expected account ([`Error::NoSuchBucket`], [`Error::WrongBucketOwner`],
    /// [`Error::AccessDenied`]).
    pub async fn check(&self) -> Result<()> {
        let head = |owner: Option<String>| {
            self.client
                .head_bucket()
                .bucket(&self.bucket)
                .set_expected_bucket_owner(owner)
                .send()
        };
        let Err(err) = head(self.options.expected_bucket_owner.clone()).await else {
            return Ok(());
        };
        let status = err.raw_response().map(|r| r.status().as_u16());
        if let (Some(403), Some(expected)) = (status, &self.options.expected_bucket_owner) {
            // S3 answers a wrong owner with a bare 403; asking without the condition tells the
            // two causes apart.
            if head(None).await.is_ok() {
                return Err(Error::WrongBucketOwner {
                    bucket: self.bucket.clone(),
                    expected: expected.clone(),
                });
            }
        }
        if status == Some(404) {
            return Err(Error::NoSuchBucket {
                bucket: self.bucket.clone(),
                url: self.url(""),
            });
        }
        Err(self.classify("HeadBucket", "", err))
    }

    fn full_key(&self, key: &str) -> String {
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        }
    }

    /// The S3 prefix listing everything under the directory `key` (`""` for the root).
    fn dir_prefix(&self, key: &str) -> String {
        let full = self.full_key(key);
        if full.is_empty() { full } else { full + "/" }
    }

    fn owner(&self) -> Option<String> {
        self.options.expected_bucket_owner.clone()
    }

    fn kms(&self) -> (Option<ServerSideEncryption>, Option<String>) {
        match &self.options.sse_kms_key_id {
            Some(id) => (Some(ServerSideEncryption::AwsKms), Some(id.clone())),
            None => (None, None),
        }
    }

    /// Maps an SDK error of `op` on `key` to a lake error that names the object's URL.
    fn classify<E>(&self, op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let path = self.url(key);
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default().to_owned();
        let message = err.message().unwrap_or_default().to_owned();
        let detail = format!("{op}: {}", DisplayErrorContext(&err));
        if code == "NoSuchBucket" {
            return Error::NoSuchBucket {
                bucket: self.bucket.clone(),
                url: path,
            };
        }
        if code == "NoSuchKey" || code == "NotFound" || (code.is_empty() && status == Some(404)) {
            return Error::NotFound { path };
        }
        let kms = code.starts_with("KMS.")
            || message.contains("KMS")
            || message.contains("kms:")
            || code == "KMSAccessDenied";
        if kms && (code.starts_with("KMS") || code == "AccessDenied") {
            return Error::KmsDenied { path, detail };
        }
        if code == "AccessDenied"
            || code == "Forbidden"
            || code == "InvalidAccessKeyId"
            || (code.is_empty() && status == Some(403))
        {
            let hint = match &self.options.expected_bucket_owner {
                Some(owner) => format!(
                    " (or the bucket is not owned by the expected account {owner}, which S3 also answers with 403)"
                ),
                None => String::new(),
            };
            return Error::AccessDenied {
                path,
                detail: format!("{detail}{hint}"),
            };
        }
        Error::Remote { path, detail }
    }

    async fn put_small(&self, key: &str, body: ByteStream, create_only: bool) -> Result<()> {
        let (sse, kms_key) = self.kms();
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_expected_bucket_owner(self.owner())
            .checksum_algorithm(self.options.checksum.clone())
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .body(body);
        if create_only {
            request = request.if_none_match("*");
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify_write("PutObject", key, e, create_only))
    }

    /// Like [`Self::classify`], but a failed precondition of a create-only write is
    /// [`Error::AlreadyExists`], and a server without conditional writes is `Unsupported`.
    fn classify_write<E>(
        &self,
        op: &'static str,
        key: &str,
        err: SdkError<E, HttpResponse>,
        create_only: bool,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if create_only {
            match err.code() {
                // 409 ConditionalRequestConflict: another writer's create of the same key won.
                Some("PreconditionFailed") | Some("ConditionalRequestConflict") => {
                    return Error::AlreadyExists {
                        path: self.url(key),
                    };
                }
                Some("NotImplemented") => {
                    return Error::Unsupported {
                        path: self.url(key),
                        detail: format!("{op} with If-None-Match: {}", DisplayErrorContext(&err)),
                    };
                }
                _ => {}
            }
        }
        self.classify(op, key, err)
    }

    async fn upload(
        &self,
        key: &str,
        source: Source<'_>,
        size: u64,
        create_only: bool,
    ) -> Result<()> {
        if create_only && !self.conditional_writes.load(Ordering::Relaxed) {
            if self.head_object(key).await?.is_some() {
                return Err(Error::AlreadyExists {
                    path: self.url(key),
                });
            }
            return Box::pin(self.upload(key, source, size, false)).await;
        }
        let result = if size > self.options.multipart_threshold {
            self.multipart(key, source, size, create_only).await
        } else {
            let body = source.part(0, size).await.map_err(|detail| Error::Remote {
                path: self.url(key),
                detail,
            })?;
            self.put_small(key, body, create_only).await
        };
        match result {
            Err(Error::Unsupported { detail, .. }) if create_only => {
                tracing::warn!(bucket = %self.bucket, %detail, "the server rejects conditional writes; create-only writes fall back to HEAD then PUT");
                self.conditional_writes.store(false, Ordering::Relaxed);
                Box::pin(self.upload(key, source, size, true)).await
            }
            other => other,
        }
    }

    async fn multipart(
        &self,
        key: &str,
        source: Source<'_>,
        size: u64,
        create_only: bool,
    ) -> Result<()> {
        let full = self.full_key(key);
        let (sse, kms_key) = self.kms();
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .set_expected_bucket_owner(self.owner())
            .checksum_algorithm(self.options.checksum.clone())
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .send()
            .await
            .map_err(|e| self.classify("CreateMultipartUpload", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(key, &full, &upload_id, source, size, create_only)
            .await;
        if result.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&full)
                .upload_id(&upload_id)
                .set_expected_bucket_owner(self.owner())
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(url = %self.url(key), upload_id, error = %DisplayErrorContext(&e), "could not abort a failed multipart upload; a bucket lifecycle rule must clean it up");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        source: Source<'_>,
        size: u64,
        create_only: bool,
    ) -> Result<()> {
        let part_size = self.options.part_size.max(1);
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let len = part_size.min(size - offset);
            let body = source
                .part(offset, len)
                .await
                .map_err(|detail| Error::Remote {
                    path: self.url(key),
                    detail,
                })?;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .set_expected_bucket_owner(self.owner())
                .checksum_algorithm(self.options.checksum.clone())
                .body(body)
                .send()
                .await
                .map_err(|e| self.classify("UploadPart", key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_owned))
                    .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                    .build(),
            );
            offset += len;
            number += 1;
        }
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.owner())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if create_only {
            request = request.if_none_match("*");
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.classify_write("CompleteMultipartUpload", key, e, create_only))
    }

    async fn head_object(&self, key: &str) -> Result<Option<ObjectMeta>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_expected_bucket_owner(self.owner())
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(None),
            Err(e) => Err(self.classify("HeadObject", key, e)),
        }
    }

    async fn get_body(&self, key: &str) -> Result<ByteStream> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_expected_bucket_owner(self.owner())
            .send()
            .await
            .map(|out| out.body)
            .map_err(|e| self.classify("GetObject", key, e))
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let s3_prefix = self.dir_prefix(prefix);
        let root = self.dir_prefix("");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&s3_prefix)
            .set_expected_bucket_owner(self.owner())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.classify("ListObjectsV2", prefix, e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(root.as_str())) else {
                    continue;
                };
                // Console-made "folders" are zero-byte keys ending in '/', not objects.
                if key.is_empty() || key.ends_with('/') {
                    continue;
                }
                out.push(ObjectMeta {
                    key: key.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete_keys(&self, prefix: &str, keys: &[ObjectMeta]) -> Result<usize> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|m| {
                    ObjectIdentifier::builder()
                        .key(self.full_key(&m.key))
                        .build()
                        .expect("key is set")
                })
                .collect();
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .expect("objects are set");
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .set_expected_bucket_owner(self.owner())
                .checksum_algorithm(self.options.checksum.clone())
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.classify("DeleteObjects", prefix, e))?;
            if let Some(failed) = out.errors().first() {
                let key = failed.key().unwrap_or_default();
                return Err(Error::Remote {
                    path: format!("s3://{}/{key}", self.bucket),
                    detail: format!(
                        "DeleteObjects: {} of {} keys failed, first: {} {}",
                        out.errors().len(),
                        batch.len(),
                        failed.code().unwrap_or_default(),
                        failed.message().unwrap_or_default()
                    ),
                });
            }
        }
        Ok(keys.len())
    }
}

impl Storage for S3Storage {
    fn as_s3(&self) -> Option<&S3Storage> {
        Some(self)
    }

    fn url(&self, key: &str) -> String {
        let full = self.full_key(key);
        if full.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{full}", self.bucket)
        }
    }

    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn put<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            self.upload(key, Source::Bytes(&data), data.len() as u64, false)
                .await
        })
    }

    fn put_new<'a>(&'a self, key: &'a str, data: Vec<u8>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            self.upload(key, Source::Bytes(&data), data.len() as u64, true)
                .await
        })
    }

    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            let shown = local.display().to_string();
            let size = tokio::fs::metadata(local)
                .await
                .map_err(Error::io(shown.clone()))?
                .len();
            self.upload(key, Source::File(local), size, false).await?;
            tokio::fs::remove_file(local)
                .await
                .map_err(Error::io(shown))
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            let body = self.get_body(key).await?;
            let data = body.collect().await.map_err(|e| Error::Remote {
                path: self.url(key),
                detail: format!("GetObject: reading the body: {e}"),
            })?;
            Ok(data.into_bytes().to_vec())
        })
    }

    fn get_file<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<LocalFile>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            let body = self.get_body(key).await?;
            let shown = self.url(key);
            let temp = tempfile::NamedTempFile::new().map_err(Error::io("temporary file"))?;
            let (file, path) = temp.into_parts();
            let mut file = tokio::fs::File::from_std(file);
            let mut reader = body.into_async_read();
            tokio::io::copy(&mut reader, &mut file)
                .await
                .map_err(Error::io(shown.clone()))?;
            file.flush().await.map_err(Error::io(shown))?;
            Ok(LocalFile::temporary(path))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            self.head_object(key).await
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let prefix = check_key(prefix, true)?;
            self.list_keys(prefix).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let key = check_key(key, false)?;
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .set_expected_bucket_owner(self.owner())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.classify("DeleteObject", key, e))
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let prefix = check_key(prefix, false)?;
            let keys = self.list_keys(prefix).await?;
            self.delete_keys(prefix, &keys).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        let ok = |url: &str| parse_s3_url(url).unwrap();
        assert_eq!(ok("s3://lake"), ("lake".into(), "".into()));
        assert_eq!(ok("s3://lake/"), ("lake".into(), "".into()));
        assert_eq!(ok("s3://lake/a/b/"), ("lake".into(), "a/b".into()));
        for bad in [
            "s3://",
            "s3:///x",
            "s3://Lake/x",
            "s3://lake/a//b",
            "gs://lake",
        ] {
            let err = parse_s3_url(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidUrl { .. }) && err.to_string().contains(bad),
                "{bad}: {err}"
            );
        }
    }
}
