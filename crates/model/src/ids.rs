//! Identifiers: account ids, regions and run ids.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A 12-digit AWS account id, kept as a string so that leading zeros survive every hop.
pub type AccountId = String;

/// Checks that `value` is a 12-digit account id.
pub fn validate_account_id(value: &str) -> Result<()> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::InvalidAccountId {
            value: value.to_owned(),
        })
    }
}

/// Checks that `value` looks like an AWS region name (`us-east-1`, `us-gov-west-1`, `eu-central-2`).
pub fn validate_region(value: &str) -> Result<()> {
    let parts: Vec<&str> = value.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRegion {
            value: value.to_owned(),
        })
    }
}

/// A run identifier, `YYYYMMDDTHHMMSSZ-<8 hex>`: sorts by time, and its UTC date is the run's `dt`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    /// A new run id for a run starting at `started_at`, with `suffix` as its random part.
    pub fn new(started_at: DateTime<Utc>, suffix: u32) -> Self {
        RunId(format!(
            "{}-{suffix:08x}",
            started_at.format("%Y%m%dT%H%M%SZ")
        ))
    }

    /// A new run id for now with a random suffix.
    pub fn generate() -> Self {
        Self::new(Utc::now(), rand::random())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UTC start time encoded in the id (second precision).
    pub fn started_at(&self) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(&self.0[..16], "%Y%m%dT%H%M%SZ")
            .expect("validated at construction");
        Utc.from_utc_datetime(&naive)
    }

    /// The run's date partition value, `YYYY-MM-DD`.
    pub fn dt(&self) -> String {
        self.date().format("%Y-%m-%d").to_string()
    }

    pub fn date(&self) -> NaiveDate {
        self.started_at().date_naive()
    }
}

impl FromStr for RunId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidRunId {
            value: s.to_owned(),
        };
        let (stamp, suffix) = s.split_once('-').ok_or_else(bad)?;
        if stamp.len() != 16
            || suffix.len() != 8
            || !suffix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").is_err()
        {
            return Err(bad());
        }
        Ok(RunId(s.to_owned()))
    }
}

impl TryFrom<String> for RunId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RunId> for String {
    fn from(r: RunId) -> String {
        r.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_keep_leading_zeros_and_reject_junk() {
        validate_account_id("012345678901").unwrap();
        for bad in ["12345678901", "0123456789012", "01234567890a", ""] {
            let err = validate_account_id(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-5",
        ] {
            validate_region(ok).unwrap();
        }
        for bad in ["us-east", "US-EAST-1", "useast1", "us--1", ""] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_id_round_trips_and_sorts_by_time() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 11, 12).unwrap();
        let id = RunId::new(t, 0xdead_beef);
        assert_eq!(id.as_str(), "20261125T101112Z-deadbeef");
        assert_eq!(id.dt(), "2026-11-25");
        assert_eq!(id.started_at(), t);
        assert_eq!(id.as_str().parse::<RunId>().unwrap(), id);
        let later = RunId::new(t + chrono::Duration::seconds(1), 0);
        assert!(later > id);
        for bad in [
            "20261125T101112Z-DEADBEEF",
            "20261125T101112Z",
            "20261325T101112Z-deadbeef",
            "x",
        ] {
            assert!(bad.parse::<RunId>().is_err(), "{bad}");
        }
    }
}
