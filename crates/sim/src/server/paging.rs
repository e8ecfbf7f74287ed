//! Opaque pagination tokens.
//!
//! A token carries the offset of the next page and is bound to the operation and to the
//! request's context (caller account, region and the request parameters other than
//! NextToken/MaxResults) by a keyed SHA-256 tag: a token altered, reused for another
//! operation or replayed with different filters is rejected with InvalidNextToken, as AWS
//! does.

use sha2::{Digest, Sha256};

use super::wire::ApiError;

#[derive(Debug, Clone)]
pub(crate) struct Paginator {
    secret: [u8; 16],
}

impl Paginator {
    pub(crate) fn new(seed: u64) -> Self {
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..].copy_from_slice(&0x70a6_e5ec_4e70_u64.to_le_bytes());
        Paginator { secret }
    }

    fn tag(&self, payload: &[u8], context: &str) -> [u8; 12] {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update((context.len() as u64).to_le_bytes());
        h.update(context.as_bytes());
        h.update(payload);
        let digest = h.finalize();
        let mut tag = [0u8; 12];
        tag.copy_from_slice(&digest[..12]);
        tag
    }

    pub(crate) fn encode(&self, context: &str, offset: usize) -> String {
        let mut payload = vec![1u8];
        payload.extend_from_slice(&(offset as u64).to_be_bytes());
        let tag = self.tag(&payload, context);
        payload.extend_from_slice(&tag);
        hex::encode(payload)
    }

    /// The offset a token points at; `None` token means the first page.
    pub(crate) fn decode(&self, context: &str, token: Option<&str>) -> Result<usize, ApiError> {
        let Some(token) = token else { return Ok(0) };
        let bytes = hex::decode(token).map_err(|_| ApiError::invalid_next_token())?;
        if bytes.len() != 1 + 8 + 12 || bytes[0] != 1 {
            return Err(ApiError::invalid_next_token());
        }
        let (payload, tag) = bytes.split_at(9);
        if self.tag(payload, context) != tag {
            return Err(ApiError::invalid_next_token());
        }
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&payload[1..9]);
        usize::try_from(u64::from_be_bytes(offset)).map_err(|_| ApiError::invalid_next_token())
    }

    /// Slices one page out of `items` and the token for the next one, if any.
    pub(crate) fn page<'a, T>(
        &self,
        context: &str,
        items: &'a [T],
        token: Option<&str>,
        max: usize,
    ) -> Result<(&'a [T], Option<String>), ApiError> {
        let start = self.decode(context, token)?;
        if start > items.len() {
            return Err(ApiError::invalid_next_token());
        }
        let end = (start + max).min(items.len());
        let next = (end < items.len()).then(|| self.encode(context, end));
        Ok((&items[start..end], next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let p = Paginator::new(42);
        let t = p.encode("op|ctx", 150);
        assert_eq!(p.decode("op|ctx", Some(&t)).unwrap(), 150);
        assert!(p.decode("op|other", Some(&t)).is_err());
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert!(
            p.decode("op|ctx", Some(std::str::from_utf8(&bad).unwrap()))
                .is_err()
        );
        // Changing the offset bytes breaks the tag.
        let mut forged = t.into_bytes();
        forged[17] = if forged[17] == b'f' { b'e' } else { b'f' };
        assert!(
            p.decode("op|ctx", Some(std::str::from_utf8(&forged).unwrap()))
                .is_err()
        );
        assert!(p.decode("op|ctx", Some("not-hex")).is_err());
    }

    #[test]
    fn pages_cover_everything_once() {
        let p = Paginator::new(1);
        let items: Vec<u32> = (0..103).collect();
        let mut token = None;
        let mut seen = Vec::new();
        loop {
            let (page, next) = p.page("c", &items, token.as_deref(), 10).unwrap();
            seen.extend_from_slice(page);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
        let (page, next) = p.page("c", &items[..10], None, 10).unwrap();
        assert_eq!(page.len(), 10);
        assert!(next.is_none(), "no token on an exact last page");
    }
}
