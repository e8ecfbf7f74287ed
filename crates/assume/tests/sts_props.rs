//! Property tests of STS AssumeRole answers through our own path: `RoleAssumer` with the real
//! SDK STS client built by `ClientFactory`, pointed at a loopback HTTP server that answers
//! whatever body the case chose. Credentials with members missing or empty, expirations in
//! the past, near, far in the future or garbled, arbitrary and mutated bodies, odd statuses:
//! never a panic; either credentials exactly as served with an expiry still ahead, or an
//! error naming the account and the role (and, for a defective answer, what is wrong). A
//! credential is never handed out past its expiry, also when a refresh brings an expired one.
//!
//! `PROPTEST_CASES=N` (or `PATCHLAKE_FUZZ_CASES=N`) sets the cases per property (default 256).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use patchlake_assume::{ClientFactory, RoleAssumer};
use patchlake_config::Config;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

fn cases() -> u32 {
    ["PROPTEST_CASES", "PATCHLAKE_FUZZ_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(256)
}

const ACCOUNT: &str = "123456789012";

/// An HTTP status and the body to answer with.
type Answer = (u16, Vec<u8>);

/// A loopback STS: answers each request with the next queued (status, body); the last one
/// repeats. Counts the requests. Written on a raw socket rather than axum/hyper because the
/// cases include statuses a conforming server library will not send as a final answer
/// (1xx), and the SDK must survive those too.
#[derive(Clone, Default)]
struct Sts {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<usize>>,
}

impl Sts {
    fn serve(&self, answers: Vec<Answer>) {
        *self.answers.lock().unwrap() = answers.into();
        *self.requests.lock().unwrap() = 0;
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    fn next(&self) -> Answer {
        *self.requests.lock().unwrap() += 1;
        let mut a = self.answers.lock().unwrap();
        if a.len() > 1 {
            a.pop_front().unwrap()
        } else {
            a.front().cloned().unwrap_or((500, Vec::new()))
        }
    }

    async fn start(&self, rt: &Runtime) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sts = self.clone();
        rt.spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    continue;
                };
                let sts = sts.clone();
                tokio::spawn(async move {
                    // Read the request head and its body (Content-Length), then answer once.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let body_at = loop {
                        let Ok(n) = conn.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..body_at]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < body_at + len {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let (status, body) = sts.next();
                    let mut answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    answer.extend_from_slice(&body);
                    let _ = conn.write_all(&answer).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        url
    }
}

struct World {
    rt: Runtime,
    sts: Sts,
    factory: ClientFactory,
    config: Arc<Config>,
}

fn world(duration_seconds: i32) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sts = Sts::default();
    let url = rt.block_on(sts.start(&rt));
    let mut config = Config::default();
    config.aws.endpoint_url = Some(url);
    // One attempt: the answer under test is the answer the caller sees.
    config.aws.max_attempts = 1;
    config.aws.attempt_timeout_seconds = 5;
    config.roles.duration_seconds = duration_seconds;
    let starting = Credentials::new("AKIDSTARTING", "starting-secret", None, None, "test");
    let factory = rt.block_on(ClientFactory::new(&config.aws, Some(starting)));
    World {
        rt,
        sts,
        factory,
        config: Arc::new(config),
    }
}

impl World {
    /// AssumeRole in [`ACCOUNT`] through a fresh `RoleAssumer`, then the provider's first
    /// credentials.
    fn assume(&self) -> Result<Credentials, String> {
        let assumer = RoleAssumer::new(self.factory.clone(), self.config.clone());
        self.rt.block_on(async {
            let provider = assumer
                .credentials_for(ACCOUNT)
                .await
                .map_err(|e| e.to_string())?;
            provider.provide_credentials().await.map_err(|e| {
                format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )
            })
        })
    }
}

/// One member of the served `<Credentials>`.
#[derive(Clone, Debug)]
enum Member {
    Absent,
    Empty,
    Value(String),
}

impl Member {
    fn xml(&self, name: &str) -> String {
        match self {
            Member::Absent => String::new(),
            Member::Empty => format!("<{name}></{name}>"),
            Member::Value(v) => format!("<{name}>{v}</{name}>"),
        }
    }

    fn usable(&self) -> Option<&str> {
        match self {
            Member::Value(v) => Some(v),
            _ => None,
        }
    }
}

fn member() -> impl Strategy<Value = Member> {
    prop_oneof![
        1 => Just(Member::Absent),
        1 => Just(Member::Empty),
        6 => "[A-Za-z0-9/+=]{1,40}".prop_map(Member::Value),
    ]
}

/// The served `<Expiration>`.
#[derive(Clone, Debug)]
enum Expiry {
    Absent,
    /// Seconds from now (negative: in the past).
    In(i64),
    /// An absolute date-time, `YYYY-MM-DDThh:mm:ssZ`, in any year the format can write.
    Year(u32),
    Garbled(String),
}

impl Expiry {
    fn xml(&self) -> String {
        let text = match self {
            Expiry::Absent => return String::new(),
            Expiry::In(s) => {
                let t = DateTime::from_secs(now_secs() + s);
                t.fmt(Format::DateTime).unwrap()
            }
            Expiry::Year(y) => format!("{y:04}-06-30T12:00:00Z"),
            Expiry::Garbled(g) => xml_escape(g),
        };
        format!("<Expiration>{text}</Expiration>")
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        1 => Just(Expiry::Absent),
        2 => (-10_000_000i64..=-5).prop_map(Expiry::In),
        3 => (120i64..=400_000_000).prop_map(Expiry::In),
        1 => (1u32..=9999).prop_map(Expiry::Year),
        1 => prop_oneof![
            ".{0,30}",
            "[0-9T:Z.+-]{0,30}",
            Just("2026-13-45T25:61:61Z".to_owned()),
            Just("tomorrow".to_owned()),
            Just("1.7e9".to_owned()),
        ]
        .prop_map(Expiry::Garbled),
    ]
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn answer(credentials: &str) -> String {
    format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::{ACCOUNT}:assumed-role/PatchlakeReadOnly/patchlake</Arn><AssumedRoleId>AROAEXAMPLE:patchlake</AssumedRoleId></AssumedRoleUser>{credentials}</AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>"#
    )
}

fn credentials_xml(key: &Member, secret: &Member, token: &Member, exp: &Expiry) -> String {
    format!(
        "<Credentials>{}{}{}{}</Credentials>",
        key.xml("AccessKeyId"),
        secret.xml("SecretAccessKey"),
        token.xml("SessionToken"),
        exp.xml()
    )
}

fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/PatchlakeReadOnly")
}

/// An error names the account and the role.
fn names_where(e: &str) -> Result<(), TestCaseError> {
    prop_assert!(e.contains(ACCOUNT), "the account is not named: {e}");
    prop_assert!(e.contains(&role_arn()), "the role is not named: {e}");
    Ok(())
}

/// Credentials handed out are whole and not expired.
fn usable(c: &Credentials) -> Result<(), TestCaseError> {
    prop_assert!(!c.access_key_id().is_empty());
    prop_assert!(!c.secret_access_key().is_empty());
    prop_assert!(c.session_token().is_some_and(|t| !t.is_empty()));
    let exp = c.expiry();
    prop_assert!(
        exp.is_some_and(|e| e > SystemTime::now()),
        "handed out with expiry {exp:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any combination of members present, empty or absent and any expiration: credentials
    /// exactly as served when all are usable, else an error naming the account, the role and
    /// the defect.
    #[test]
    fn credentials_are_used_only_when_whole_and_unexpired(
        key in member(), secret in member(), token in member(), exp in expiry(),
    ) {
        static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        let w = W.get_or_init(|| world(3600));
        w.sts.serve(vec![(200, answer(&credentials_xml(&key, &secret, &token, &exp)).into_bytes())]);
        let got = w.assume();
        let whole = key.usable().is_some() && secret.usable().is_some() && token.usable().is_some();
        let future = match &exp {
            Expiry::In(s) => Some(*s > 0),
            Expiry::Year(y) if *y <= 2025 => Some(false),
            Expiry::Year(y) if *y >= 2027 => Some(true),
            Expiry::Year(_) => None,
            Expiry::Absent => Some(false),
            Expiry::Garbled(_) => None,
        };
        match got {
            Ok(c) => {
                usable(&c)?;
                prop_assert!(whole, "credentials with a member missing were used: {key:?} {secret:?} {token:?}");
                prop_assert_ne!(future, Some(false), "expired credentials were used: {:?}", exp);
                prop_assert_eq!(Some(c.access_key_id()), key.usable());
                prop_assert_eq!(Some(c.secret_access_key()), secret.usable());
                prop_assert_eq!(c.session_token(), token.usable());
                if let Expiry::In(s) = exp {
                    let want = SystemTime::UNIX_EPOCH + Duration::from_secs((now_secs() + s) as u64);
                    let got = c.expiry().unwrap();
                    let skew = got.duration_since(want).unwrap_or_else(|e| e.duration());
                    prop_assert!(skew <= Duration::from_secs(5), "expiry {got:?}, served {want:?}");
                }
            }
            Err(e) => {
                names_where(&e)?;
                prop_assert!(e.contains("sts:AssumeRole"), "the call is not named: {e}");
                prop_assert!(!(whole && future == Some(true)), "usable credentials refused: {e}");
                if future.is_some() && !whole {
                    // A parsable answer missing a member names it.
                    let names = [("AccessKeyId", &key), ("SecretAccessKey", &secret), ("SessionToken", &token)];
                    for (name, m) in names {
                        if m.usable().is_none() {
                            prop_assert!(e.contains(name), "{name} is not named: {e}");
                        }
                    }
                } else if future == Some(false) && whole {
                    prop_assert!(e.contains("Expiration"), "the expiry is not named: {e}");
                }
            }
        }
    }

    /// Arbitrary bodies under arbitrary statuses: never a panic, never credentials, an error
    /// naming the account and the role.
    #[test]
    fn arbitrary_bodies_are_an_error_naming_account_and_role(
        status in prop_oneof![Just(200u16), Just(400), Just(403), Just(500), Just(503), 100u16..600],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            ".{0,300}".prop_map(String::into_bytes),
            "(<[A-Za-z]{1,12}>|</[A-Za-z]{1,12}>|[a-z0-9 ]{0,8}){0,30}".prop_map(String::into_bytes),
        ],
    ) {
        static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        let w = W.get_or_init(|| world(3600));
        w.sts.serve(vec![(status, body)]);
        match w.assume() {
            Ok(c) => usable(&c)?,
            Err(e) => names_where(&e)?,
        }
    }

    /// A whole, valid answer cut, spliced or with bytes replaced: never a panic; credentials
    /// handed out are whole and unexpired.
    #[test]
    fn mutated_answers_never_hand_out_broken_or_expired_credentials(
        cut in any::<prop::sample::Index>(),
        splice in any::<prop::sample::Index>(),
        insert in proptest::collection::vec(any::<u8>(), 0..16),
        truncate in any::<bool>(),
        exp_in in prop_oneof![-100_000i64..=-5, 120i64..=100_000],
    ) {
        static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        let w = W.get_or_init(|| world(3600));
        let valid = answer(&credentials_xml(
            &Member::Value("ASIAEXAMPLE".into()),
            &Member::Value("secret".into()),
            &Member::Value("token".into()),
            &Expiry::In(exp_in),
        ))
        .into_bytes();
        let mut body = valid.clone();
        let at = cut.index(body.len() + 1);
        if truncate {
            body.truncate(at);
        } else {
            let to = (at + splice.index(32)).min(body.len());
            body.splice(at..to, insert);
        }
        w.sts.serve(vec![(200, body)]);
        match w.assume() {
            Ok(c) => usable(&c)?,
            Err(e) => names_where(&e)?,
        }
    }
}

/// A session that is renewed, where the renewal answers with credentials already expired:
/// the expired renewal is never handed out. While the session in hand is still good (more
/// than half the renewal margin left) it is kept and the renewal retried after a back-off;
/// once it is not, the provider fails, naming the account and the role. A renewal that
/// succeeds later replaces it.
#[test]
fn a_failed_renewal_keeps_the_valid_session_and_never_hands_out_an_expired_one() {
    // 40 s sessions: renewed from 10 s before expiry, kept through failed renewals until 5 s
    // before expiry, renewal retried at most every second. The answers' expiry times are in
    // whole seconds, so `Expiry::In(9)` leaves 8-9 s.
    let w = world(40);
    let creds = |key: &str, exp: i64| {
        answer(&credentials_xml(
            &Member::Value(key.into()),
            &Member::Value("secret".into()),
            &Member::Value("token".into()),
            &Expiry::In(exp),
        ))
        .into_bytes()
    };
    let assumer = RoleAssumer::new(w.factory.clone(), w.config.clone());
    let error_text = |e: aws_credential_types::provider::error::CredentialsError| {
        format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        )
    };
    w.rt.block_on(async {
        // A session inside the renewal margin from the start, whose renewals answer expired
        // credentials.
        w.sts.serve(vec![
            (200, creds("ASIAFIRST", 9)),
            (200, creds("ASIAEXPIRED", -60)),
        ]);
        let provider = assumer.credentials_for(ACCOUNT).await.unwrap();
        assert_eq!(w.sts.requests(), 1);
        // Inside the renewal margin and still usable: the renewal fails, the session in hand
        // is handed out.
        let kept = provider.provide_credentials().await.unwrap();
        assert_eq!(kept.access_key_id(), "ASIAFIRST");
        assert_eq!(w.sts.requests(), 2, "one AssumeRole, one renewal");
        // Within the back-off: no second renewal.
        let kept = provider.provide_credentials().await.unwrap();
        assert_eq!(kept.access_key_id(), "ASIAFIRST");
        assert_eq!(w.sts.requests(), 2, "no renewal within the back-off");
        // Under 5 s left: no longer usable, and the renewal fails again: an error naming
        // where.
        tokio::time::sleep(Duration::from_millis(4100)).await;
        let e = error_text(provider.provide_credentials().await.unwrap_err());
        assert!(e.contains(ACCOUNT) && e.contains(&role_arn()), "{e}");
        assert!(e.contains("Expiration") && e.contains("passed"), "{e}");
        assert_eq!(w.sts.requests(), 3);

        // Another account's session, whose first renewal fails and second succeeds.
        let other = "210987654321";
        w.sts.serve(vec![
            (200, creds("ASIASECOND", 9)),
            (200, creds("ASIAEXPIRED", -60)),
            (200, creds("ASIARENEWED", 3600)),
        ]);
        let provider = assumer.credentials_for(other).await.unwrap();
        let kept = provider.provide_credentials().await.unwrap();
        assert_eq!(
            kept.access_key_id(),
            "ASIASECOND",
            "kept through the failed renewal"
        );
        assert_eq!(w.sts.requests(), 2);
        // After the back-off: renewed.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let renewed = provider.provide_credentials().await.unwrap();
        assert_eq!(
            renewed.access_key_id(),
            "ASIARENEWED",
            "renewed after the back-off"
        );
        assert_eq!(w.sts.requests(), 3);
    });
}
