//! AES-256-GCM sealing under `UPSTREAM_TOKEN_KEY`: the provider's tokens at rest (associated
//! data: the family) and the login transaction cookie (associated data: its purpose).
//!
//! A sealed value is `base64url(nonce[12] || ciphertext || tag[16])`. Each purpose uses its own
//! key, derived from `UPSTREAM_TOKEN_KEY` with HMAC-SHA256 and a label, so a transaction cookie
//! can never be opened as a token record and the other way round.

use crate::core::b64;
use crate::core::server::secret::Secret;
use crate::core::server::token::fill_random;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// What a sealed value is for: selects the derived key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The provider's tokens of one family (associated data: the family id).
    UpstreamTokens,
    /// The login transaction cookie (associated data: fixed).
    Transaction,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::UpstreamTokens => b"silent-refresh upstream tokens v1",
            Purpose::Transaction => b"silent-refresh oidc transaction v1",
        }
    }
}

fn cipher(key: &Secret, purpose: Purpose) -> Aes256Gcm {
    let derived = hmac_sha256::HMAC::mac(purpose.label(), key.expose());
    Aes256Gcm::new(&derived.into())
}

/// Seals `plaintext` for `purpose` with associated data `aad`.
pub fn seal(key: &Secret, purpose: Purpose, aad: &[u8], plaintext: &[u8]) -> Option<String> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce).ok()?;
    let sealed = cipher(key, purpose)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(b64::encode(&out))
}

/// Opens what [`seal`] made with the same key, purpose and associated data; `None` for anything
/// else (another key, purpose or family, a changed byte, not base64url).
pub fn open(key: &Secret, purpose: Purpose, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
    if sealed.len() > 16 * 1024 {
        return None;
    }
    let bytes = b64::decode(sealed)?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    cipher(key, purpose)
        .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
        .ok()
}
