//! PBKDF2-HMAC-SHA256 through the runtime's Web Crypto (`crypto.subtle.deriveBits`), which
//! runs natively in workerd: the core's [`PasswordHasher`] for the Worker.

use crate::core::server::error::AuthError;
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
