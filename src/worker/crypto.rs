//! The runtime's Web Crypto, which runs natively in workerd: PBKDF2-HMAC-SHA256
//! (`crypto.subtle.deriveBits`), the core's [`PasswordHasher`] for the Worker, ES256
//! verification of DPoP proofs, and RS256/ES256/EdDSA verification of ID tokens.

use crate::core::b64;
use crate::core::server::dpop::{DpopError, Es256Verifier, SignedProof};
use crate::core::server::error::AuthError;
use crate::core::server::oidc::id_token::{JwsVerifier, KeyMaterial};
use crate::core::server::password::{PasswordHasher, HASH_LEN};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Web Crypto PBKDF2.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebCryptoPbkdf2;

const FAILED: AuthError = AuthError::ServerError("password hashing failed");

async fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Result<[u8; HASH_LEN], JsValue> {
    let crypto: web_sys::Crypto =
        Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?.dyn_into()?;
    let subtle = crypto.subtle();
    let usages = Array::of1(&JsValue::from_str("deriveBits"));
    let key = JsFuture::from(subtle.import_key_with_str(
        "raw",
        &Uint8Array::from(password),
        "PBKDF2",
        false,
        &usages,
    )?)
    .await?;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"PBKDF2".into())?;
    Reflect::set(&params, &"hash".into(), &"SHA-256".into())?;
    Reflect::set(&params, &"salt".into(), &Uint8Array::from(salt))?;
    Reflect::set(&params, &"iterations".into(), &JsValue::from(iterations))?;
    let bits = JsFuture::from(subtle.derive_bits_with_object(
        &params,
        &key.dyn_into()?,
        (HASH_LEN * 8) as u32,
    )?)
    .await?;
    let bytes = Uint8Array::new(&bits);
    let mut out = [0u8; HASH_LEN];
    if bytes.length() as usize != HASH_LEN {
        return Err(JsValue::from_str("unexpected PBKDF2 output length"));
    }
    bytes.copy_to(&mut out);
    Ok(out)
}

impl PasswordHasher for WebCryptoPbkdf2 {
    async fn derive(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; HASH_LEN], AuthError> {
        derive(password, salt, iterations).await.map_err(|e| {
            worker::console_error!("pbkdf2 failed: {:?}", e.as_string());
            FAILED
        })
    }
}

/// ES256 verification of DPoP proofs through the runtime's Web Crypto (`crypto.subtle`
/// `importKey("raw")` and `verify`), BoringSSL in workerd: the Worker's
/// [`Es256Verifier`](crate::core::server::dpop::Es256Verifier).
#[derive(Clone, Copy, Debug, Default)]
pub struct WebCryptoEs256;

/// `{name: "ECDSA", <member>: <value>}`: the algorithm argument of `importKey` and `verify`.
fn ecdsa(member: &str, value: &str) -> Result<Object, JsValue> {
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"ECDSA".into())?;
    Reflect::set(&params, &member.into(), &value.into())?;
    Ok(params)
}

fn subtle() -> Result<web_sys::SubtleCrypto, JsValue> {
    let crypto: web_sys::Crypto =
        Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?.dyn_into()?;
    Ok(crypto.subtle())
}

impl Es256Verifier for WebCryptoEs256 {
    async fn verify(&self, proof: &SignedProof<'_>) -> Result<(), DpopError> {
        let fail = |_| DpopError::Signature;
        let import = ecdsa("namedCurve", "P-256").map_err(fail)?;
        let verify = ecdsa("hash", "SHA-256").map_err(fail)?;
        let usages = Array::of1(&JsValue::from_str("verify"));
        let subtle = subtle().map_err(|_| DpopError::Signature)?;
        let point = Uint8Array::from(&proof.sec1_point()[..]);
        // A point not on the curve makes importKey reject: the key is not a P-256 public key.
        let key = subtle
            .import_key_with_object("raw", &point, &import, false, &usages)
            .map_err(|_| DpopError::Jwk)?;
        let key: web_sys::CryptoKey = JsFuture::from(key)
            .await
            .map_err(|_| DpopError::Jwk)?
            .dyn_into()
            .map_err(|_| DpopError::Jwk)?;
        let ok = subtle
            .verify_with_object_and_u8_array_and_u8_array(
                &verify,
                &key,
                proof.signature(),
                proof.signing_input(),
            )
            .map_err(|_| DpopError::Signature)?;
        match JsFuture::from(ok).await.map(|v| v.as_bool()) {
            Ok(Some(true)) => Ok(()),
            _ => Err(DpopError::Signature),
        }
    }
}

/// ID token signatures (RS256, ES256, EdDSA) through the runtime's Web Crypto: the Worker's
/// [`JwsVerifier`](crate::core::server::oidc::id_token::JwsVerifier). The core has already
/// chosen the key by `kid` and checked the algorithm against the allow-list and the key's type.
#[derive(Clone, Copy, Debug, Default)]
pub struct WebCryptoJws;

/// The algorithm argument of `importKey` and `verify` for a key, and the key's import format
/// and data: RSA as a JWK (`n`, `e`), P-256 and Ed25519 as raw public keys.
fn jws_import(key: &KeyMaterial) -> Result<(Object, Object, &'static str, JsValue), JsValue> {
    let (import, verify) = (Object::new(), Object::new());
    let set = |o: &Object, k: &str, v: &str| Reflect::set(o, &k.into(), &v.into());
    let (format, data): (&str, JsValue) = match key {
        KeyMaterial::Rsa { n, e } => {
            for o in [&import, &verify] {
                set(o, "name", "RSASSA-PKCS1-v1_5")?;
                set(o, "hash", "SHA-256")?;
            }
            let jwk = Object::new();
            set(&jwk, "kty", "RSA")?;
            set(&jwk, "n", &b64::encode(n))?;
            set(&jwk, "e", &b64::encode(e))?;
            ("jwk", jwk.into())
        }
        KeyMaterial::P256(point) => {
            set(&import, "name", "ECDSA")?;
            set(&import, "namedCurve", "P-256")?;
            set(&verify, "name", "ECDSA")?;
            set(&verify, "hash", "SHA-256")?;
            ("raw", Uint8Array::from(&point[..]).into())
        }
        KeyMaterial::Ed25519(x) => {
            set(&import, "name", "Ed25519")?;
            set(&verify, "name", "Ed25519")?;
            ("raw", Uint8Array::from(&x[..]).into())
        }
    };
    Ok((import, verify, format, data))
}

async fn jws_verify(key: &KeyMaterial, input: &[u8], sig: &[u8]) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let (import, verify, format, data) = jws_import(key)?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let imported =
        subtle.import_key_with_object(format, data.unchecked_ref(), &import, false, &usages)?;
    let imported: web_sys::CryptoKey = JsFuture::from(imported).await?.dyn_into()?;
    let ok = subtle.verify_with_object_and_u8_array_and_u8_array(&verify, &imported, sig, input)?;
    Ok(JsFuture::from(ok).await?.as_bool() == Some(true))
}

impl JwsVerifier for WebCryptoJws {
    async fn verify(&self, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool {
        // A key Web Crypto refuses to import (not on the curve, a bad modulus) verifies nothing.
        jws_verify(key, signing_input, signature)
            .await
            .unwrap_or(false)
    }
}
