//! A minimal HTTP/1.1 keep-alive client and AWS request helpers, so the wire format is
//! checked byte for byte without an SDK in between.

use std::sync::Arc;

use patchlake_sim::{Fleet, FleetSpec, SimHandle, SimOptions, SimServer};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const ROLE: &str = "PatchlakeReadOnly";
pub const EXTERNAL_ID: &str = "patchlake-demo";

pub fn spec() -> FleetSpec {
    FleetSpec {
        seed: 7,
        accounts: 3,
        instances_per_region: 120,
        anchor: chrono::DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
        ..FleetSpec::default()
    }
}

pub async fn start() -> SimHandle {
    start_with(spec(), SimOptions::default()).await
}

pub async fn start_with(spec: FleetSpec, options: SimOptions) -> SimHandle {
    SimServer::start(Arc::new(Fleet::generate(&spec)), options)
        .await
        .expect("simulator starts")
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Text of the first `<tag>` element.
    pub fn xml(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&close)? + start;
        Some(&self.body[start..end])
    }

    /// `__type` of a JSON error.
    pub fn error_type(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_string()
    }
}

pub struct Conn {
    stream: BufReader<TcpStream>,
    host: String,
}

impl Conn {
    pub async fn open(sim: &SimHandle) -> Conn {
        let stream = TcpStream::connect(sim.addr()).await.expect("connect");
        Conn {
            stream: BufReader::new(stream),
            host: sim.addr().to_string(),
        }
    }

    pub async fn post(&mut self, headers: &[(&str, String)], body: &str) -> Resp {
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .expect("write");

        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header colon");
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().expect("content-length");
            }
            headers.push((k, v));
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.expect("body");
        Resp {
            status,
            headers,
            body: String::from_utf8(body).expect("utf-8 body"),
        }
    }
}

pub fn authorization(access_key_id: &str, region: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/20261125/{region}/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000"
    )
}

pub const HUB_KEY: &str = "AKIAHUBEXAMPLE000001";

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends an STS awsQuery request signed (in name only) with `access_key_id`.
pub async fn sts(conn: &mut Conn, access_key_id: &str, params: &[(&str, &str)]) -> Resp {
    let mut body = String::from("Version=2011-06-15");
    for (k, v) in params {
        body.push_str(&format!("&{k}={}", form_encode(v)));
    }
    conn.post(
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            (
                "Authorization",
                authorization(access_key_id, "us-east-1", "sts"),
            ),
        ],
        &body,
    )
    .await
}

pub fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/{ROLE}")
}

/// AssumeRole into `account` with the hub credentials; returns the session's access key id.
pub async fn assume(conn: &mut Conn, account: &str) -> String {
    let resp = sts(
        conn,
        HUB_KEY,
        &[
            ("Action", "AssumeRole"),
            ("RoleArn", &role_arn(account)),
            ("RoleSessionName", "patchlake-test"),
            ("ExternalId", EXTERNAL_ID),
        ],
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.xml("AccessKeyId").expect("access key").to_string()
}

/// Sends an awsJson1_1 request with `X-Amz-Target: {prefix}.{op}`.
pub async fn json_call(
    conn: &mut Conn,
    target: &str,
    access_key_id: &str,
    region: &str,
    service: &str,
    body: &Value,
) -> Resp {
    conn.post(
        &[
            ("Content-Type", "application/x-amz-json-1.1".to_string()),
            ("X-Amz-Target", target.to_string()),
            (
                "Authorization",
                authorization(access_key_id, region, service),
            ),
        ],
        &body.to_string(),
    )
    .await
}

pub async fn ssm(conn: &mut Conn, key: &str, region: &str, op: &str, body: Value) -> Resp {
    json_call(conn, &format!("AmazonSSM.{op}"), key, region, "ssm", &body).await
}

pub async fn orgs(conn: &mut Conn, key: &str, op: &str, body: Value) -> Resp {
    json_call(
        conn,
        &format!("AWSOrganizationsV20161128.{op}"),
        key,
        "us-east-1",
        "organizations",
        &body,
    )
    .await
}

/// Walks every page of an SSM list operation, returning the items under `list_key`.
pub async fn walk(
    conn: &mut Conn,
    key: &str,
    region: &str,
    op: &str,
    mut body: Value,
    list_key: &str,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let resp = ssm(conn, key, region, op, body.clone()).await;
        assert_eq!(resp.status, 200, "{op}: {}", resp.body);
        let v = resp.json();
        pages += 1;
        items.extend(v[list_key].as_array().expect("list").iter().cloned());
        match v.get("NextToken").and_then(Value::as_str) {
            Some(t) => body["NextToken"] = Value::String(t.to_string()),
            None => return (items, pages),
        }
    }
}
